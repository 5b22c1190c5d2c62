"""End to end, versioned runs: the real `airflow-dag-sync` feeds a real Airflow 3 (api-server,
dag-processor, scheduler with LocalExecutor) configured with one `ReleaseBundle` per package
(`python -m airflow_dag_publisher.bundle config`'s list), from SeaweedFS.

A two-task DAG whose first task waits for a gate the test opens: a run starts on release A; release
B (its second task changed) is published and serialized while the run waits; the run's second task
executes A's code, a new run executes B's; a rollback to A is a new DAG version. Airflow's
`dag_version` rows carry the release ids as bundle versions. The agent keeps a superseded release
directory for one second only, so the waiting run's second task fetches A from S3 by its id (the
`_releases/` copy and its archive) through the agent's verified build, in the scheduler's task
process. Test DAGs use BashOperator; the cluster policy (KubernetesPodOperator only) is not
installed: there is no Kubernetes cluster here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow_dag_publisher.bundle.config import BundleSettings, bundle_config_list, to_json
from airflow_dag_publisher.publisher import Publisher, ReleaseMeta
from airflow_dag_publisher.storage import Storage

from devstack.airflow_demo import DemoAirflow
from devstack.demo_procs import stop_process
from devstack.seaweedfs import SeaweedFS, free_port
from packages.orchestration.tests.sync.support import DirectPublisher

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
BIN = Path(sys.executable).parent
PACKAGE, DAG_ID, ENV = "vr", "vr_two_step", "dev"


def dag_file(release: str, gate: Path, out: Path) -> bytes:
    """`first` waits (bounded) for the gate file; `second` writes which release's code ran."""
    return f'''\
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

from {PACKAGE}.helpers import MARK

with DAG({DAG_ID!r}, schedule=None, catchup=False):
    first = BashOperator(
        task_id="first",
        bash_command="for i in $(seq 1 600); do [ -f {gate} ] && exit 0; sleep 0.5; done; exit 1",
    )
    second = BashOperator(task_id="second", bash_command="echo {release} $MARK > {out}/{{{{ run_id }}}}",
                          env={{"MARK": MARK}})
    first >> second
'''.encode()


def release(name: str, gate: Path, out: Path) -> dict[str, bytes]:
    # the helper module is imported as `<package>.helpers`: from the same release as the DAG file
    return {f"{DAG_ID}.py": dag_file(name, gate, out), "helpers.py": f"MARK = 'helpers-{name}'\n".encode()}


@dataclass
class Stack:
    airflow: DemoAirflow
    publisher: DirectPublisher
    storage: Storage
    gate: Path
    out: Path

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return self.airflow._query(sql, args)

    def versions(self) -> list[tuple[int, str, str]]:
        return [(int(n), str(b), str(v)) for n, b, v in self.query(
            "SELECT version_number, bundle_name, bundle_version FROM dag_version WHERE dag_id = ? "
            "ORDER BY version_number", DAG_ID)]

    def wait_version(self, release_id: str, timeout: float = 90) -> float:
        return self.airflow.wait_for(lambda: release_id in {v for _, _, v in self.versions()}, timeout, 0.25)

    def trigger(self, run_id: str) -> None:
        self.airflow._request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"dag_run_id": run_id, "logical_date": None})

    def ti(self, run_id: str, task_id: str) -> tuple[str | None, str | None]:
        rows = self.query("SELECT state, dag_version_id FROM task_instance WHERE dag_id = ? AND run_id = ? "
                          "AND task_id = ?", DAG_ID, run_id, task_id)
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def run_state(self, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", DAG_ID, run_id)
        return rows[0][0] if rows else None

    def wait_run(self, run_id: str, timeout: float = 120) -> None:
        self.airflow.wait_for(lambda: self.run_state(run_id) in ("success", "failed"), timeout, 0.5)
        assert self.run_state(run_id) == "success", self.diagnose(run_id)

    def version_of(self, dag_version_id: str | None) -> str:
        rows = self.query("SELECT bundle_version FROM dag_version WHERE id = ?", dag_version_id)
        return str(rows[0][0]) if rows else "?"

    @property
    def versions_dir(self) -> Path:
        return self.airflow.home / "dag-bundles" / PACKAGE / "versions"

    def task_log(self, run_id: str, task_id: str) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.airflow.log_dir.rglob("*.log")
                         if f"run_id={run_id}" in str(p) and f"task_id={task_id}" in str(p))

    def diagnose(self, run_id: str) -> str:
        logs = sorted(self.airflow.log_dir.rglob(f"*{run_id}*/**/*.log"))
        tail = "\n".join(f"{p}:\n{p.read_text(errors='replace')[-3000:]}" for p in logs[-3:])
        return f"run {run_id}: {self.run_state(run_id)}\n{tail}\n{self.airflow.log_tail('scheduler', 40)}"


@pytest.fixture(scope="module")
def stack(seaweedfs: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("versioned")
    bucket = seaweedfs.create_bucket(f"vr-{uuid.uuid4().hex[:12]}")
    s3 = seaweedfs.env()
    home = root / "airflow"
    dags, state = home / "dags", home / "dags-state"
    gate, out = root / "gate", root / "out"
    out.mkdir()
    agent_log = open(root / "dagsync.log", "ab")  # noqa: SIM115 - closed in the finally below
    # A superseded release directory is kept one second: a waiting run's later task must fetch its
    # release from S3 by id, as a KubernetesExecutor task pod always does.
    agent = subprocess.Popen(
        [str(BIN / "airflow-dag-sync"), "--bucket", bucket, "--env", ENV, "--dags-dir", str(dags),
         "--state-dir", str(state), "--interval", "0.5", "--reconcile-interval", "1", "--grace-period", "1"],
        env={**os.environ, **s3}, stdout=agent_log, stderr=subprocess.STDOUT, start_new_session=True)
    bundles = to_json(bundle_config_list([PACKAGE], BundleSettings(env=ENV, bucket=bucket, dags_dir=str(dags),
                                                                   state_dir=str(state))))
    config = {"AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": bundles,
              "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "dag-bundles"),
              "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **s3}
    from devstack.airflow import SHIPPED_CONFIG

    airflow = DemoAirflow(home, dags, port=free_port(), config_env={**SHIPPED_CONFIG, **config},
                          cache_dir=root / "cache")
    airflow.components = ("api-server", "dag-processor", "scheduler")
    airflow.local_settings = ""  # BashOperator test DAGs: no KubernetesPodOperator-only policy
    try:
        airflow.prepare("admin")
        airflow.start()
        airflow.wait_for(lambda: _healthy(airflow), timeout=240, interval=1)
        storage = Storage(bucket, seaweedfs.client())
        yield Stack(airflow, DirectPublisher(storage, ENV), storage, gate, out)
    finally:
        airflow.stop()
        stop_process(agent)
        agent_log.close()


def _healthy(airflow: DemoAirflow) -> bool:
    try:
        health = airflow._request("GET", "/api/v2/monitor/health", auth=False, timeout=5)
        airflow.token()
    except Exception:
        return False
    return all((health.get(c) or {}).get("status") == "healthy" for c in ("metadatabase", "scheduler"))


def test_a_run_keeps_its_release_while_newer_ones_are_published(stack: Stack) -> None:
    a = stack.publisher.publish(PACKAGE, release("A", stack.gate, stack.out), archive=True)
    waited = stack.wait_version(a.release_id)
    print(f"\nrelease A serialized as a DAG version {waited:.1f}s after its publish")
    stack.trigger("run1")
    stack.airflow.wait_for(lambda: stack.ti("run1", "first")[0] == "running", 90, 0.25)

    b = stack.publisher.publish(PACKAGE, release("B", stack.gate, stack.out), archive=True)
    waited = stack.wait_version(b.release_id)
    print(f"release B serialized while run1 waits, {waited:.1f}s after its publish")
    assert stack.ti("run1", "second")[0] in (None, "scheduled", "queued", "none")
    # The run's first task materialised A from the agent's copy on this node. Now the agent has removed
    # A's directory (grace period 1 s), and A's materialised folder goes too (as Airflow's stale-version
    # cleanup does; a KubernetesExecutor task pod starts empty): the second task must fetch A from S3.
    time.sleep(3)
    shutil.rmtree(stack.versions_dir / a.release_id)
    stack.gate.write_text("open")
    stack.wait_run("run1")
    assert (stack.out / "run1").read_text().split() == ["A", "helpers-A"]
    assert stack.version_of(stack.ti("run1", "second")[1]) == a.release_id

    stack.trigger("run2")
    stack.wait_run("run2")
    assert (stack.out / "run2").read_text().split() == ["B", "helpers-B"]
    assert stack.version_of(stack.ti("run2", "second")[1]) == b.release_id

    rolled = Publisher(stack.storage, ENV, PACKAGE).rollback(ReleaseMeta("tests", "0"), to=a.release_id)
    assert rolled.release_id is not None
    stack.wait_version(rolled.release_id)
    stack.trigger("run3")
    stack.wait_run("run3")
    assert (stack.out / "run3").read_text().split() == ["A", "helpers-A"]

    # Airflow's own records: one DAG version per release, the release id as its bundle version.
    assert stack.versions() == [(1, PACKAGE, a.release_id), (2, PACKAGE, b.release_id),
                                (3, PACKAGE, rolled.release_id)]
    first, second = stack.task_log("run1", "first"), stack.task_log("run1", "second")
    assert f"release {a.release_id} materialised in" in first and "from the sync agent's copy" in first
    assert f"release {a.release_id} materialised in" in second and "from s3://" in second, second[-3000:]
    assert "(2 S3 requests, 2 files downloaded)" in second  # its manifest by id, then its archive
    prepare = {name: re.search(r'"bundle_prepare_ms":(\d+)', text) for name, text in
               (("the agent's copy", first), ("S3", second))}
    print("bundle materialisation (Airflow's bundle_prepare_ms): "
          + ", ".join(f"from {name} {m.group(1) if m else '?'} ms" for name, m in prepare.items()))
