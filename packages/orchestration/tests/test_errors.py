"""Error kinds are a closed set, and one function gives every exception its exit code."""

from __future__ import annotations

import json

import pytest
from airflow_dag_publisher.errors import (
    EXIT_CODES,
    ConflictError,
    DagPublisherError,
    ErrorKind,
    LocalStorageError,
    ManifestError,
    NotFoundError,
    RefusedError,
    StorageError,
    UsageError,
    VerificationError,
    exit_code,
    kind_of,
)
from airflow_dag_publisher.sync.metrics import REFUSAL_REASONS, refusal_reason


def test_every_kind_has_exactly_one_exit_code() -> None:
    assert set(EXIT_CODES) == set(ErrorKind)
    assert set(EXIT_CODES.values()) == {1, 2, 3, 4, 130}


@pytest.mark.parametrize(("error", "code"), [
    (RefusedError("x"), 1), (ConflictError("x"), 1), (ManifestError("x"), 1), (VerificationError("x"), 1),
    (UsageError("x"), 2), (StorageError("x"), 3), (NotFoundError("x"), 3), (LocalStorageError("x"), 3),
    (RefusedError("x", kind=ErrorKind.NO_RELEASE), 1), (DagPublisherError("x", kind=ErrorKind.WAIT_TIMEOUT), 3),
    (KeyError("bug"), 4), (KeyboardInterrupt(), 130),
])
def test_the_exit_code_is_the_kinds(error: BaseException, code: int) -> None:
    assert exit_code(error) == code == exit_code(kind_of(error))


def test_a_kind_is_a_member_of_the_set_and_serialises_as_its_word() -> None:
    with pytest.raises(ValueError):
        RefusedError("x", kind="checksumm")  # type: ignore[arg-type]
    error = ManifestError("x", kind=ErrorKind.UNSAFE_PATH)
    assert error.kind == "unsafe_path" and f"{error.kind}" == "unsafe_path" and str(error.kind) == "unsafe_path"
    assert json.dumps({"kind": error.kind}) == '{"kind": "unsafe_path"}'


def test_refusal_reasons_are_kinds_and_nothing_else_is_one() -> None:
    assert all(refusal_reason(kind) == kind.value for kind in REFUSAL_REASONS)
    with pytest.raises(ValueError, match="not a refusal reason"):
        refusal_reason(ErrorKind.NETWORK)
