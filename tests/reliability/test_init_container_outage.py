"""What an Airflow pod's init container does when S3 (or STS, IRSA: the same failure to the agent) is down
as the pod starts: `airflow-dag-sync --once --retry-for N` keeps trying, probing S3 every interval, and
exits 0 within about an interval of S3's return with every package in place; after N seconds it exits 3
(Kubernetes then restarts it). It never exits 0 with an empty DAGs folder: the dag-processor would mark
every DAG of a missing file stale. The sidecar's /readyz with --ready-max-age 0 stays ready through an
outage once the pod holds the releases."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from airflow_dag_publisher.storage import Storage
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.releases import Layout

from devstack.seaweedfs import SeaweedFS
from tests.reliability.support import BucketWriter, SwitchableProxy, release_files

SYNC = str(Path(sys.executable).parent / "airflow-dag-sync")
INTERVAL = 0.5


def once(bucket: str, dags: Path, endpoint: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
    return subprocess.Popen([SYNC, "--once", "--bucket", bucket, "--env", "dev", "--dags-dir", str(dags),
                             "--s3-timeout", "1", "--interval", str(INTERVAL), "--max-backoff", "5", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_init_container_waits_out_an_outage_and_starts_within_an_interval_of_s3s_return(
        seaweedfs: SeaweedFS, bucket: str, tmp_path: Path) -> None:
    BucketWriter(Storage(bucket), "dev").release("alpha", release_files("alpha", 1, 0b11, pad=100))
    proxy = SwitchableProxy(seaweedfs.s3_port)  # not started: S3 is unreachable as the pod starts
    dags = tmp_path / "dags"
    proc = once(bucket, dags, proxy.endpoint, "--retry-for", "60")
    try:
        time.sleep(4)
        assert proc.poll() is None, proc.communicate()[0]  # still trying, not failed at once
        assert not (dags / "alpha").exists()
        proxy.start()
        back = time.monotonic()
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - back
    finally:
        proxy.stop()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "trying again within" in out and "--retry-for" in out
    assert sorted(p.name for p in (dags / "alpha").iterdir())  # the package is in place
    print(f"init container: started {took:.1f} s after S3's return (interval {INTERVAL} s)")
    assert took <= 5 + 2 * INTERVAL  # at most the capped backoff; usually one probe interval


def test_init_container_gives_up_after_retry_for_with_exit_3_and_an_empty_folder(
        bucket: str, tmp_path: Path) -> None:
    proxy = SwitchableProxy(1)  # never started
    dags = tmp_path / "dags"
    started = time.monotonic()
    proc = once(bucket, dags, proxy.endpoint, "--retry-for", "3")
    out, _ = proc.communicate(timeout=60)
    took = time.monotonic() - started
    assert proc.returncode == 3, out
    assert 3 <= took < 20, took
    assert "sync did not complete" in out
    assert not [p for p in dags.iterdir() if not p.name.startswith(".")] if dags.exists() else True


def test_retry_for_needs_once(bucket: str, tmp_path: Path) -> None:
    proc = subprocess.run([SYNC, "--bucket", bucket, "--env", "dev", "--dags-dir", str(tmp_path), "--retry-for", "5"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "--retry-for (DAGSYNC_RETRY_FOR) needs --once" in proc.stderr


def test_readyz_with_ready_max_age_0_stays_ready_through_an_outage(bucket: str, tmp_path: Path) -> None:
    BucketWriter(Storage(bucket), "dev").release("alpha", release_files("alpha", 1, 0b1, pad=100))
    now = [time.time()]
    agents = {age: SyncAgent(AgentConfig(bucket=bucket, env="dev", ready_max_age=age), Storage(bucket),
                             Layout(tmp_path / str(age) / "dags"), clock=lambda: now[0]) for age in (0.0, 180.0)}
    for agent in agents.values():
        agent.open()
        assert not agent.ready()  # nothing applied yet
        assert agent.run_cycle(reconcile=True).outcome == "success"
        assert agent.ready()
    now[0] += 3600  # an hour without a successful cycle
    assert agents[0.0].ready() and not agents[180.0].ready()
    for agent in agents.values():
        agent.close()
