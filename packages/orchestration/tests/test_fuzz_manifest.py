"""Property tests of the manifest parser: any bytes give a ReleaseManifest or a ManifestError
(never another exception), an accepted manifest is safe to apply, and valid manifests round-trip."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import pytest
from airflow_dag_publisher.errors import ManifestError
from airflow_dag_publisher.manifest import (
    MAX_FILE_SIZE,
    FileEntry,
    ReleaseManifest,
    content_digest,
    is_sha256_hex,
    parse_manifest,
)
from airflow_dag_publisher.names import path_conflicts, path_problem
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

EXAMPLES = 1500 if os.environ.get("RELIABILITY_SOAK") else 150
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

safe_component = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/\\"),
                         min_size=1, max_size=12).filter(lambda c: c not in (".", ".."))
safe_path = st.lists(safe_component, min_size=1, max_size=4).map("/".join)
sha = st.binary(min_size=1, max_size=8).map(lambda b: hashlib.sha256(b).hexdigest())
entry = st.builds(FileEntry, path=safe_path, sha256=sha, size=st.integers(0, MAX_FILE_SIZE),
                  version_id=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=32))


@st.composite
def valid_manifests(draw: st.DrawFn) -> ReleaseManifest:
    entries = draw(st.lists(entry, max_size=8, unique_by=lambda e: e.path)
                   .filter(lambda es: not path_conflicts([e.path for e in es])))  # "a" beside "a/b" is invalid
    retired = draw(st.booleans()) and not entries
    return ReleaseManifest(
        env=draw(st.from_regex(r"\A[a-z][a-z0-9-]{0,8}\Z")), package=draw(st.from_regex(r"\A[a-z][a-z0-9_]{0,8}\Z")),
        release_id=draw(st.from_regex(r"\A[0-9A-Za-z-]{1,40}\Z")), created_at="2026-11-27T10:15:00Z",
        files=tuple(sorted(entries, key=lambda e: e.path)), retired=retired,
        dag_ids=() if retired else tuple(draw(st.lists(st.from_regex(r"\Ap_[a-z]{1,8}\Z"), max_size=3))),
        previous_release_id=draw(st.none() | st.from_regex(r"\A[0-9a-z-]{1,20}\Z")),
    )


json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
hostile_path = st.sampled_from(["../x", "/etc/passwd", "/dev/zero", "a/../../b", "a\\b", "a\x00b", "", ".", "a//b",
                                "con", "nul", "a/" * 9 + "b", "x" * 2000, "\udc80", "~/.ssh/id_rsa"]) | st.text()
FIELDS = ("schema_version", "env", "package", "release_id", "content_digest", "created_at", "retired", "dag_ids",
          "files", "previous_release_id")
FILE_FIELDS = ("path", "sha256", "size", "version_id")


def check_accepted(m: ReleaseManifest, env: str, package: str) -> None:
    """What the agent relies on once parse_manifest accepted a manifest."""
    assert m.env == env and m.package == package
    paths = [f.path for f in m.files]
    assert len(paths) == len(set(paths))
    for f in m.files:
        assert path_problem(f.path) is None
        assert is_sha256_hex(f.sha256) and 0 <= f.size <= MAX_FILE_SIZE and f.version_id
    assert m.content_digest == content_digest(m.files)
    assert not (m.retired and m.files)


def parse_or_refuse(data: bytes, env: str, package: str) -> ReleaseManifest | None:
    try:
        m = parse_manifest(data, source="s3://b/k", env=env, package=package)
    except ManifestError as exc:
        assert str(exc).startswith("s3://b/k: ")
        return None
    check_accepted(m, env, package)
    return m


@FUZZ
@given(valid_manifests())
def test_a_valid_manifest_round_trips(m: ReleaseManifest) -> None:
    assert parse_manifest(m.to_json(), source="s", env=m.env, package=m.package) == m


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_parsed_or_refused(data: bytes) -> None:
    parse_or_refuse(data, "dev", "alpha")


@FUZZ
@given(json_value)
def test_arbitrary_json_is_parsed_or_refused(value: Any) -> None:
    parse_or_refuse(json.dumps(value).encode(), "dev", "alpha")


@FUZZ
@given(valid_manifests(), st.sampled_from(FIELDS), json_value | st.just(None), st.booleans())
def test_a_manifest_with_one_field_replaced_is_parsed_or_refused(m: ReleaseManifest, key: str, value: Any,
                                                                  drop: bool) -> None:
    raw = m.to_dict()
    if drop:
        raw.pop(key)
    else:
        raw[key] = value
    parse_or_refuse(json.dumps(raw).encode(), m.env, m.package)


ONE_FILE = ReleaseManifest(env="dev", package="alpha", release_id="r1", created_at="2026-11-27T10:15:00Z",
                           files=(FileEntry(path="a.py", sha256="a" * 64, size=1, version_id="v"),))


@FUZZ
@given(valid_manifests(), st.sampled_from(FILE_FIELDS), json_value | hostile_path, st.integers(0, 7), st.booleans())
@example(ONE_FILE, "path", "\udc80", 0, False)
@example(ONE_FILE, "path", "dags/\ud800.py", 0, True)
def test_a_hostile_file_entry_is_refused_or_safe(m: ReleaseManifest, key: str, value: Any, index: int,
                                                 redigest: bool) -> None:
    assume(m.files)
    raw = m.to_dict()
    raw["files"][index % len(raw["files"])][key] = value
    if redigest:  # a digest that matches the hostile entries, so the entry itself must be judged
        raw["content_digest"] = _digest_of(raw["files"])
    # json.dumps escapes every non-ASCII character (lone surrogates too): the body is always ASCII
    parse_or_refuse(json.dumps(raw).encode(), m.env, m.package)


@FUZZ
@given(valid_manifests(), st.integers(2, 9))
def test_a_manifest_for_another_package_or_env_is_refused(m: ReleaseManifest, n: int) -> None:
    with pytest.raises(ManifestError, match="does not match"):
        parse_manifest(m.to_json(), source="s", env=m.env, package=m.package + "x" * n)
    with pytest.raises(ManifestError, match="does not match"):
        parse_manifest(m.to_json(), source="s", env=m.env + "-x", package=m.package)


def _digest_of(files: list[Any]) -> str:
    h = hashlib.sha256()
    try:
        for f in sorted(files, key=lambda f: str(f.get("path"))):
            h.update(f"{f.get('sha256')}  {f.get('path')}\n".encode())
    except (UnicodeEncodeError, AttributeError):
        return "sha256:" + "0" * 64
    return "sha256:" + h.hexdigest()


def _manifest_with_path(path_json: str) -> bytes:
    digest = "sha256:" + "0" * 64
    return ('{"schema_version": 1, "env": "dev", "package": "alpha", "release_id": "r1", "created_at": "t", '
            f'"retired": false, "dag_ids": [], "content_digest": "{digest}", "files": [{{"path": {path_json}, '
            f'"sha256": "{"a" * 64}", "size": 1, "version_id": "v"}}]}}').encode()


def test_a_lone_surrogate_path_is_refused() -> None:
    with pytest.raises(ManifestError):
        parse_manifest(_manifest_with_path('"\\ud800.py"'), source="s3://b/k", env="dev", package="alpha")


def test_deeply_nested_json_is_refused() -> None:
    with pytest.raises(ManifestError):
        parse_manifest(b"[" * 100_000 + b"]" * 100_000, source="s3://b/k", env="dev", package="alpha")


def test_over_the_file_limit_is_refused_without_parsing_entries() -> None:
    files = [{"path": f"f{i}.py", "sha256": "a" * 64, "size": 1, "version_id": "v"} for i in range(100_000)]
    raw = {"schema_version": 1, "env": "dev", "package": "alpha", "release_id": "r", "created_at": "t",
           "retired": False, "dag_ids": [], "content_digest": "sha256:" + "0" * 64, "files": files}
    with pytest.raises(ManifestError, match="over the limit"):
        parse_manifest(json.dumps(raw).encode(), source="s3://b/k", env="dev", package="alpha")
