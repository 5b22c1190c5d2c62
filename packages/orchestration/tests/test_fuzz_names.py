"""Property tests of the path checker: whatever `path_problem` accepts stays inside the package
folder, and it answers (never raises) for any string a manifest's JSON can carry."""

from __future__ import annotations

import os
import posixpath

import pytest
from airflow_dag_publisher.names import MAX_PATH_DEPTH, path_problem
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

EXAMPLES = 1500 if os.environ.get("RELIABILITY_SOAK") else 400
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ROOT = "/srv/airflow/dags/pkg"
component = st.text(st.characters(codec="utf-8", exclude_characters="/\\", exclude_categories=["Cc", "Cs"]),
                    min_size=1, max_size=20).filter(lambda c: c not in (".", ".."))
tricky = st.sampled_from(["..", ".", "", "/", "\\", "\x00", "\n", "\x7f", "~", "con", "nul", "dev", "zero",
                          "..\u2215", "\u2024\u2024", "%2e%2e", "a", "\udc80", "\ud800"])
any_path = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(component, tricky), min_size=1, max_size=12).map("/".join),
    st.lists(st.one_of(component, tricky), min_size=1, max_size=4).map(lambda p: "/" + "/".join(p)),
)


def resolves_inside(path: str) -> bool:
    joined = posixpath.normpath(posixpath.join(ROOT, path))
    return joined.startswith(ROOT + "/")


@FUZZ
@given(any_path)
@example("../etc/passwd")
@example("/dev/zero")
@example("a/../../b")
@example("a//b")
@example("./a")
@example("\udc80")
@example("dags/\ud800.py")
def test_an_accepted_path_stays_inside_the_package_folder(path: str) -> None:
    problem = path_problem(path)  # answers for every string, lone surrogates included: never raises
    if problem is None:
        assert path.encode("utf-8")  # an accepted path is valid Unicode: it can be written to S3 and disk
        parts = path.split("/")
        assert resolves_inside(path), path
        assert not path.startswith("/") and "\\" not in path
        assert all(p not in ("", ".", "..") for p in parts)
        assert len(parts) <= MAX_PATH_DEPTH
        assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in path)
        assert posixpath.normpath(path) == path
    else:
        assert isinstance(problem, str) and problem


@FUZZ
@given(st.lists(component, min_size=1, max_size=MAX_PATH_DEPTH))
def test_a_normal_relative_path_is_accepted(parts: list[str]) -> None:
    path = "/".join(parts)
    if len(path.encode()) <= 1024:
        assert path_problem(path) is None


@FUZZ
@given(st.lists(component, max_size=4), st.lists(component, max_size=4))
def test_a_dot_dot_component_is_always_refused(before: list[str], after: list[str]) -> None:
    assert path_problem("/".join([*before, "..", *after])) is not None


@FUZZ
@given(st.lists(component, min_size=MAX_PATH_DEPTH + 1, max_size=MAX_PATH_DEPTH + 4))
def test_a_path_deeper_than_the_limit_is_refused(parts: list[str]) -> None:
    assert path_problem("/".join(parts)) is not None


@pytest.mark.parametrize("path", ["\ud800", "dags/\udfff.py"])
def test_a_lone_surrogate_is_refused_not_raised(path: str) -> None:
    assert path_problem(path) is not None
