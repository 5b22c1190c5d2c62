from __future__ import annotations

import hashlib
import json

import pytest
from airflow_dag_publisher.errors import ManifestError
from airflow_dag_publisher.manifest import FileEntry, ReleaseManifest, content_digest, parse_manifest


def _manifest(**changes: object) -> ReleaseManifest:
    data = b"print('hi')\n"
    entry = FileEntry("acme_a.py", hashlib.sha256(data).hexdigest(), len(data), "v1")
    base = ReleaseManifest(env="dev", package="acme", release_id="20261127T000000Z-abc",
                           created_at="2026-11-27T00:00:00Z", files=(entry,), dag_ids=("acme_a",))
    return base.with_changes(**changes) if changes else base


def test_manifest_round_trips_through_json() -> None:
    m = _manifest()
    assert parse_manifest(m.to_json(), source="t") == m


def test_content_digest_is_sha256sum_format_sorted_by_path() -> None:
    files = (FileEntry("b.py", "b" * 64, 1, "v"), FileEntry("a.py", "a" * 64, 1, "v"))
    text = f"{'a' * 64}  a.py\n{'b' * 64}  b.py\n".encode()
    assert content_digest(files) == "sha256:" + hashlib.sha256(text).hexdigest()


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(schema_version=2), "unknown schema_version 2"),
        (lambda d: d["files"][0].update(path="../../etc/passwd"), "not normalised"),
        (lambda d: d["files"][0].update(path="/abs.py"), "absolute path"),
        (lambda d: d["files"][0].update(sha256="zz"), "sha256"),
        (lambda d: d["files"][0].update(version_id=None), "version_id"),
        (lambda d: d["files"][0].update(size=-1), "size"),
        (lambda d: d.update(content_digest="sha256:" + "0" * 64), "content_digest"),
        (lambda d: d.pop("files"), "missing key 'files'"),
        (lambda d: d.update(package="other"), "does not match"),
        (lambda d: d["files"].append(dict(d["files"][0])), "duplicate path"),
    ],
)
def test_bad_manifests_are_refused_naming_the_field(mutate: object, match: str) -> None:
    doc = json.loads(_manifest().to_json())
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(ManifestError, match=match):
        parse_manifest(json.dumps(doc).encode(), source="s3://b/dev/acme/manifest.json", package="acme")


def test_invalid_json_is_refused() -> None:
    with pytest.raises(ManifestError, match="not valid UTF-8 JSON"):
        parse_manifest(b"{nope", source="x")


def test_too_many_files_is_refused_before_checking_each() -> None:
    doc = json.loads(_manifest().to_json())
    doc["files"] = [doc["files"][0]] * 100_001
    with pytest.raises(ManifestError, match="over the limit"):
        parse_manifest(json.dumps(doc).encode(), source="x")
