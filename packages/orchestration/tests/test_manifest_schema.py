"""The manifest's schema compatibility rule (manifest.py): a reader of schema N (this tool: 1) reads N
and N+1, keeping N+1's unknown top-level keys so a signature made by a newer publisher verifies in an
older agent; N+2 is refused with kind `schema`. Publishers may so be upgraded one version ahead of the
agents, never two."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from airflow_dag_publisher.errors import ManifestError
from airflow_dag_publisher.manifest import (
    READABLE_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    FileEntry,
    ReleaseManifest,
    parse_manifest,
)
from airflow_dag_publisher.signing import PemSigner, TrustedKey, canonical_manifest, sign_manifest, signature_problem
from airflow_dag_publisher.sync import planner
from airflow_dag_publisher.sync.trust import Trust

from devstack.signing_keys import write_key


def _release(**changes: object) -> ReleaseManifest:
    data = b"print('hi')\n"
    entry = FileEntry("acme_a.py", hashlib.sha256(data).hexdigest(), len(data), "v1")
    base = ReleaseManifest(env="dev", package="acme", release_id="20261127T000000Z-abc",
                           created_at="2026-11-27T00:00:00Z", files=(entry,), dag_ids=("acme_a",))
    return base.with_changes(**changes)


def test_the_rule_is_n_and_n_plus_one() -> None:
    assert SCHEMA_VERSION == 1 and READABLE_SCHEMA_VERSIONS == (1, 2)
    assert json.loads(_release().to_json())["schema_version"] == SCHEMA_VERSION  # what a publisher writes


def test_a_newer_publishers_signed_release_verifies_and_applies_in_this_agent(tmp_path: Path) -> None:
    """What a publisher of schema 2 would write: an additive top-level key, signed over the whole document."""
    signer = PemSigner(write_key(tmp_path / "k.pem"))
    newer = sign_manifest(_release(schema_version=2, extra={"provenance": {"builder": "ci", "slsa": 3}}), signer)
    body = newer.to_json()
    assert json.loads(body)["provenance"] == {"builder": "ci", "slsa": 3}

    read = parse_manifest(body, source="s3://b/dev/acme/manifest.json", env="dev", package="acme")

    assert read.schema_version == 2 and read.extra == {"provenance": {"builder": "ci", "slsa": 3}}
    assert canonical_manifest(read) == canonical_manifest(newer)  # the bytes the signature covers
    keys = [TrustedKey.from_key(signer.public_key())]
    assert signature_problem(read, keys, require=True) is None
    trust = Trust(keys={"acme": tuple(keys)}, require=True)
    decision = planner.decide("acme", "dev", '"etag"', body, None, source="s3://b/dev/acme/manifest.json", trust=trust)
    assert decision.action is planner.Action.APPLY, decision.reason
    assert parse_manifest(read.to_json(), source="state") == read  # the agent's saved state keeps it whole


def test_a_key_slipped_into_a_signed_newer_release_breaks_its_signature(tmp_path: Path) -> None:
    signer = PemSigner(write_key(tmp_path / "k.pem"))
    doc = json.loads(sign_manifest(_release(schema_version=2), signer).to_json())
    doc["dags_folder_override"] = "/etc"
    read = parse_manifest(json.dumps(doc).encode(), source="t")
    problem = signature_problem(read, [TrustedKey.from_key(signer.public_key())], require=True)
    assert problem is not None and "does not verify" in problem


def test_two_versions_ahead_is_refused_naming_what_to_do() -> None:
    doc = json.loads(_release().to_json()) | {"schema_version": 3}
    with pytest.raises(ManifestError, match=r"unknown schema_version 3 \(this tool reads 1 and 2; upgrade it") as e:
        parse_manifest(json.dumps(doc).encode(), source="s3://b/dev/acme/manifest.json")
    assert e.value.kind == "schema"


def test_unknown_keys_of_the_current_version_are_still_ignored() -> None:
    """Schema 1 as every publisher so far wrote it: nothing changes for it (its signatures neither)."""
    doc = json.loads(_release().to_json()) | {"note": "x"}
    read = parse_manifest(json.dumps(doc).encode(), source="t")
    assert read.extra == {} and read == _release()
