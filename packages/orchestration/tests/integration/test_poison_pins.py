"""Issue 26, attack 2: one package's pins must not fail every new pod. A package's own CI (holding its
signing key) commits a signed manifest whose pins S3 refuses to serve (`version_id` `a/b`: SeaweedFS
answers 400 InvalidRequest, as AWS does for a malformed version id), or pins that are not version ids
at all. The real `airflow-dag-sync --trust-file --require-signatures` on SeaweedFS: a `--once` (an
init container) writes every other package and exits 0; the long-running agent refuses those
packages only, its cycles succeed and /readyz stays 200."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow_dag_publisher.manifest import (
    ArchiveRef,
    FileEntry,
    ReleaseManifest,
    new_release_id,
    next_sequence,
    utc_now_iso,
)
from airflow_dag_publisher.signing import PemSigner, sign_manifest
from airflow_dag_publisher.storage import Storage, dag_key, journal_key, manifest_key

from devstack.signing_keys import public_pem, trust_yaml, write_key
from tests.reliability.support import Agent, wait_for

from .helpers import write_dag

pytestmark = pytest.mark.usefixtures("s3_env")
BIN = Path(sys.executable).parent
GOOD = ("alpha", "gamma")


def signed_release(storage: Storage, key: Path, package: str, files: dict[str, bytes], *, pin: str | None = None,
                   archive_pin: str | None = None) -> None:
    """What a package's CI can commit with its own key: real files, pins of its choosing."""
    entries = []
    for path, data in sorted(files.items()):
        stored = storage.put(dag_key("dev", package, path), data)
        entries.append(FileEntry(path, hashlib.sha256(data).hexdigest(), len(data), pin or stored.version_id))
    archive = ArchiveRef(archive_pin, "0" * 64, 100) if archive_pin else None
    manifest = ReleaseManifest(env="dev", package=package, release_id=new_release_id(), created_at=utc_now_iso(),
                               files=tuple(entries), dag_ids=(f"{package}_daily",), published_by="ci", archive=archive,
                               sequence=next_sequence(None))
    signed = sign_manifest(manifest, PemSigner(key))
    storage.put(manifest_key("dev", package), signed.to_json(), content_type="application/json")
    storage.put(journal_key("dev", package, int(time.time() * 1000)), b"")


POISON = {
    "poison_file": ({"poison_file_daily.py": b"X = 1\n"}, "a/b", None, "unreadable"),
    "poison_archive": ({f"poison_archive_{n}.py": b"X = 1\n" for n in range(3)}, None, "a/b", "unreadable"),
    "poison_space": ({"poison_space_daily.py": b"X = 1\n"}, "a b", None, "invalid"),
}


@pytest.fixture
def world(tmp_path: Path, bucket: str) -> tuple[Path, Path]:
    """Two good packages published by the CLI, three poisoned ones; returns (trust file, key)."""
    key = write_key(tmp_path / "keys" / "platform.pem")
    trust = tmp_path / "trust.yaml"
    trust.write_text(trust_yaml({"*": [public_pem(key)]}))
    for package in GOOD:
        source = tmp_path / "src" / package
        write_dag(source, package, "daily", 1)
        done = subprocess.run([str(BIN / "airflow-dag-publisher"), "publish", "--env", "dev", "--bucket", bucket,
                               "--package", package, "--source", str(source), "--skip-dynamic-validation",
                               "--signing-key", f"file:{key}"], capture_output=True, text=True, timeout=300,
                              check=False, env=dict(os.environ))
        assert done.returncode == 0, done.stderr
    storage = Storage(bucket)
    for package, (files, pin, archive_pin, _reason) in POISON.items():
        signed_release(storage, key, package, files, pin=pin, archive_pin=archive_pin)
    return trust, key


def test_a_new_pod_starts_with_every_other_package(tmp_path: Path, bucket: str, world: tuple[Path, Path]) -> None:
    trust, _ = world
    dags = tmp_path / "dags"
    done = subprocess.run([str(BIN / "airflow-dag-sync"), "--once", "--bucket", bucket, "--env", "dev",
                           "--dags-dir", str(dags), "--trust-file", str(trust), "--require-signatures"],
                          capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert all((dags / p).is_symlink() for p in GOOD), sorted(os.listdir(dags))
    assert not any((dags / p).exists() for p in POISON)
    for package in POISON:
        assert f"package {package} was not synced" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_the_long_running_agent_refuses_those_packages_only_and_stays_ready(tmp_path: Path, bucket: str,
                                                                             world: tuple[Path, Path]) -> None:
    trust, key = world
    dags = tmp_path / "dags"
    with Agent(bucket, "dev", dags, tmp_path / "agent.log", interval=0.2,
               extra=("--reconcile-interval", "1", "--trust-file", str(trust), "--require-signatures")) as agent:
        assert wait_for(lambda: agent.get("/readyz")[0] == 200, timeout=60), agent.log_text()[-3000:]
        assert all((dags / p).is_symlink() for p in GOOD)

        def refused() -> bool:
            return all(agent.metric("dagsync_refused_manifests_total", package=p, reason=reason) >= 1
                       for p, (*_, reason) in POISON.items())

        assert wait_for(refused, timeout=60), agent.log_text()[-3000:]
        signed_release(Storage(bucket), key, "gamma", {"gamma_daily.py": b"Y = 2\n"})  # the others keep syncing
        assert wait_for(lambda: (dags / "gamma" / "gamma_daily.py").read_bytes() == b"Y = 2\n", timeout=60)
        errors = agent.metric("dagsync_cycles_total", outcome="error")
        ready = agent.get("/readyz")[0]
        log = agent.log_text()
    assert errors == 0 and ready == 200, log[-3000:]
    assert "Traceback" not in log
