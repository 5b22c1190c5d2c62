"""Issue 26, attack 1: replaying an older signed release. A principal that can write the bucket but holds
no signing key copies an older version of `<env>/<pkg>/manifest.json` (its bytes and signature intact)
back as the live one and writes a journal entry. The real publisher (signing with a PEM key) and the
real `airflow-dag-sync --trust-file --require-signatures` on SeaweedFS:

- an agent that applied a release never applies an older one (each release's `sequence` is signed;
  `previous_release_id` must name the release it follows), nor an older retirement;
- a cold agent refuses a manifest that S3 wrote long after the release was signed (its `Last-Modified`
  against the signed `created_at`, `--commit-window`), which costs no request;
- the next publish is newer than every release the agents applied (its sequence is at least the
  publisher's clock in milliseconds), though it follows the replayed copy, and applies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow_dag_publisher.storage import Storage, journal_key, manifest_key

from devstack.signing_keys import public_pem, trust_yaml, write_key
from tests.reliability.support import Agent, read_tree, wait_for

from .helpers import write_dag

pytestmark = pytest.mark.usefixtures("s3_env")
BIN = Path(sys.executable).parent


def publish(bucket: str, source: Path, key: Path, *command: str) -> dict[str, object]:
    args = list(command) or ["publish", "--source", str(source), "--skip-dynamic-validation"]
    done = subprocess.run([str(BIN / "airflow-dag-publisher"), *args, "--env", "dev", "--package", "alpha",
                           "--bucket", bucket, "--signing-key", f"file:{key}", "--json"],
                          capture_output=True, text=True, timeout=300, check=False, env=dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr
    doc: dict[str, object] = json.loads(done.stdout)
    doc["stderr"] = done.stderr
    return doc


def replay(bucket: str, release_id: str) -> None:
    """What a bucket writer without the key does: the old manifest version copied back over the live key,
    and a journal entry so that every agent looks at once."""
    storage = Storage(bucket)
    key = manifest_key("dev", "alpha")
    for version in storage.list_versions(key):
        obj = storage.get(key, version_id=version.version_id).obj
        if obj is not None and json.loads(obj.body)["release_id"] == release_id:
            storage.copy_version(key, version.version_id)
            storage.put(journal_key("dev", "alpha", int(time.time() * 1000)), b"")
            return
    raise AssertionError(f"no version of {key} holds release {release_id}")


def live_release(bucket: str) -> str:
    obj = Storage(bucket).get(manifest_key("dev", "alpha")).obj
    assert obj is not None
    return str(json.loads(obj.body)["release_id"])


@pytest.fixture
def signing(tmp_path: Path) -> tuple[Path, Path]:
    key = write_key(tmp_path / "keys" / "alpha.pem")
    trust = tmp_path / "trust.yaml"
    trust.write_text(trust_yaml({"alpha": [public_pem(key)]}))
    return key, trust


def sync_once(bucket: str, dags: Path, trust: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "airflow-dag-sync"), "--once", "--bucket", bucket, "--env", "dev", "--dags-dir",
                           str(dags), "--trust-file", str(trust), "--require-signatures", *extra],
                          capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ))


def test_a_warm_agent_never_goes_back_and_the_next_publish_applies(tmp_path: Path, bucket: str,
                                                                   signing: tuple[Path, Path]) -> None:
    key, trust = signing
    source, dags = tmp_path / "src", tmp_path / "dags"
    write_dag(source, "alpha", "daily", 1)
    r1 = publish(bucket, source, key)["release_id"]
    with Agent(bucket, "dev", dags, tmp_path / "agent.log", interval=0.2,
               extra=("--reconcile-interval", "1", "--trust-file", str(trust), "--require-signatures")) as agent:
        assert wait_for(lambda: (dags / "alpha").is_symlink(), timeout=60), agent.log_text()[-3000:]
        v1 = read_tree(dags / "alpha")
        write_dag(source, "alpha", "daily", 2)
        publish(bucket, source, key)
        assert wait_for(lambda: read_tree(dags / "alpha") != v1, timeout=60), agent.log_text()[-3000:]
        v2 = read_tree(dags / "alpha")

        replay(bucket, str(r1))  # release 1's bytes and signature, live again
        assert live_release(bucket) == r1
        assert wait_for(lambda: agent.metric("dagsync_refused_manifests_total", package="alpha",
                                             reason="replay") >= 1, timeout=60), agent.log_text()[-3000:]
        time.sleep(1.5)  # more reconciliations: still refused, still release 2
        assert read_tree(dags / "alpha") == v2

        # The package's CI publishes again: the release follows release 2 (the highest), not the copy.
        write_dag(source, "alpha", "daily", 3)
        publish(bucket, source, key)
        assert wait_for(lambda: read_tree(dags / "alpha") not in (v1, v2), timeout=60), agent.log_text()[-3000:]
        log = agent.log_text()
    assert f"release {r1}" in log and "Traceback" not in log


def test_a_replayed_retirement_does_not_remove_a_package_published_again(tmp_path: Path, bucket: str,
                                                                         signing: tuple[Path, Path]) -> None:
    key, trust = signing
    source, dags = tmp_path / "src", tmp_path / "dags"
    write_dag(source, "alpha", "daily", 1)
    publish(bucket, source, key)
    with Agent(bucket, "dev", dags, tmp_path / "agent.log", interval=0.2,
               extra=("--reconcile-interval", "1", "--trust-file", str(trust), "--require-signatures")) as agent:
        assert wait_for(lambda: (dags / "alpha").is_symlink(), timeout=60), agent.log_text()[-3000:]
        tombstone = publish(bucket, source, key, "retire", "--yes")["release_id"]
        assert wait_for(lambda: not (dags / "alpha").exists(), timeout=60), agent.log_text()[-3000:]
        write_dag(source, "alpha", "daily", 2)
        publish(bucket, source, key)
        assert wait_for(lambda: (dags / "alpha").is_symlink(), timeout=60), agent.log_text()[-3000:]
        back = read_tree(dags / "alpha")

        replay(bucket, str(tombstone))
        assert wait_for(lambda: agent.metric("dagsync_refused_manifests_total", package="alpha",
                                             reason="replay") >= 1, timeout=60), agent.log_text()[-3000:]
        time.sleep(1.5)
        assert (dags / "alpha").is_symlink() and read_tree(dags / "alpha") == back


def test_a_cold_agent_refuses_a_release_s3_wrote_long_after_it_was_signed(tmp_path: Path, bucket: str,
                                                                          signing: tuple[Path, Path]) -> None:
    key, trust = signing
    source = tmp_path / "src"
    write_dag(source, "alpha", "daily", 1)
    r1 = publish(bucket, source, key)["release_id"]
    write_dag(source, "alpha", "daily", 2)
    publish(bucket, source, key)
    fresh = sync_once(bucket, tmp_path / "fresh", trust, "--commit-window", "2")
    assert fresh.returncode == 0 and (tmp_path / "fresh" / "alpha").is_symlink(), fresh.stderr  # the real release

    time.sleep(4)  # release 1 was signed at least 4 s ago
    replay(bucket, str(r1))
    cold = sync_once(bucket, tmp_path / "cold", trust, "--commit-window", "2")
    assert not (tmp_path / "cold" / "alpha").exists(), cold.stderr
    assert "package alpha was not synced" in cold.stderr and "replay" in cold.stderr, cold.stderr
    # Within the window (the default is 15 minutes) a cold agent cannot tell a replay of a release signed
    # moments ago from the release itself: the documented residual (docs/airflow/SECURITY.md).
    within = sync_once(bucket, tmp_path / "within", trust, "--commit-window", "900")
    assert within.returncode == 0 and (tmp_path / "within" / "alpha").is_symlink(), within.stderr
