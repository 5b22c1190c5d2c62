from __future__ import annotations

import hashlib
import json

import pytest
from airflow_dag_publisher.errors import ManifestError
from airflow_dag_publisher.manifest import (
    ArchiveRef,
    FileEntry,
    PromotedFrom,
    ReleaseManifest,
    Signature,
    content_digest,
    parse_manifest,
)


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
        (lambda d: d.update(schema_version=3), "unknown schema_version 3"),
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


def _with(extra: dict[str, object]) -> bytes:
    raw = ReleaseManifest(env="dev", package="acme", release_id="r1", created_at="t",
                          files=(FileEntry("a.py", "0" * 64, 1, "v1"),)).to_dict()
    raw.update(extra)
    return json.dumps(raw).encode()


def test_archive_promotion_and_signature_round_trip_and_stay_out_when_absent() -> None:
    plain = parse_manifest(_with({}), source="s")
    assert "archive" not in plain.to_dict() and "signature" not in plain.to_dict()
    extra = {"archive": {"format": "tar.gz", "sha256": "1" * 64, "size": 10, "version_id": "va"},
             "promoted_from": {"env": "staging", "release_id": "r0"},
             "signature": {"key_id": "alias/acme", "algorithm": "ECDSA_SHA_256", "value": "c2ln"}}
    m = parse_manifest(_with(extra), source="s")
    assert m.archive == ArchiveRef("va", "1" * 64, 10) and m.promoted_from == PromotedFrom("staging", "r0")
    assert m.signature == Signature("alias/acme", "ECDSA_SHA_256", "c2ln")
    assert parse_manifest(m.to_json(), source="s") == m


@pytest.mark.parametrize(("extra", "kind"), [
    ({"signature": {"key_id": "k", "algorithm": "ECDSA_SHA_256"}}, "signature"),
    ({"signature": "c2ln"}, "signature"),
    ({"archive": {"format": "zip", "sha256": "1" * 64, "size": 10, "version_id": "va"}}, "invalid"),
    ({"archive": {"format": "tar.gz", "sha256": "x", "size": 10, "version_id": "va"}}, "invalid"),
    ({"archive": {"format": "tar.gz", "sha256": "1" * 64, "size": -1, "version_id": "va"}}, "invalid"),
    ({"promoted_from": {"env": "Prod!", "release_id": "r0"}}, "invalid"),
])
def test_a_malformed_optional_part_is_refused_with_its_kind(extra: dict[str, object], kind: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(_with(extra), source="s")
    assert caught.value.kind == kind


def test_the_sequence_is_optional_a_whole_number_and_grows() -> None:
    """Issue 26: `sequence` (signed with the rest of the manifest) orders a package's releases."""
    from datetime import datetime, timezone

    from airflow_dag_publisher.manifest import next_sequence

    base = ReleaseManifest(env="dev", package="alpha", release_id="r1", created_at="2026-12-01T10:00:00Z")
    assert "sequence" not in base.to_dict()  # a manifest without one keeps its bytes
    numbered = base.with_changes(sequence=7)
    assert parse_manifest(numbered.to_json(), source="m").sequence == 7
    for bad in (0, -1, True, 1.5, "3", 2**53):
        raw = json.loads(numbered.to_json())
        raw["sequence"] = bad
        with pytest.raises(ManifestError, match="sequence"):
            parse_manifest(json.dumps(raw).encode(), source="m")
    now = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    assert next_sequence(None, now) == int(now.timestamp() * 1000)
    assert next_sequence(numbered, now) == int(now.timestamp() * 1000)
    ahead = base.with_changes(sequence=int(now.timestamp() * 1000) + 5)  # a publisher whose clock ran ahead
    assert next_sequence(ahead, now) == int(now.timestamp() * 1000) + 6


@pytest.mark.parametrize(("pin", "ok"), [
    ("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo", True), ("null", True),
    ("67114c8c608018d8b9d0d3cec6567f85", True), ("a/b", True),  # S3 refuses that one: the agent, per package
    ("a b", False), ("a\nb", False), ("é", False), ("x" * 1025, False), ("\x00", False),
])
def test_a_pin_must_look_like_an_s3_version_id(pin: str, ok: bool) -> None:
    """Issue 26: a version_id S3 could never have given is refused when the manifest is read."""
    from airflow_dag_publisher.manifest import is_version_id

    assert is_version_id(pin) is ok
