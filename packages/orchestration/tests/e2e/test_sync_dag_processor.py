"""End to end: the real `airflow-dag-sync` process feeds a real Airflow 3 `airflow dag-processor`
(the configuration we ship, devstack.airflow.SHIPPED_CONFIG) from SeaweedFS.

Shows: a published DAG is serialized with a stable fileloc `<dags>/<package>/<file>.py`; the
publish -> serialized latency over several publishes (p50/p95 printed); 20 releases that change a
DAG and the helper module it imports, swapped under the running dag-processor, give no import
error and no "recursive loop"."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from airflow_dag_publisher.storage import Storage

from devstack.airflow import AirflowStack
from devstack.demo_procs import stop_process
from devstack.seaweedfs import SeaweedFS
from packages.orchestration.tests.sync.support import DirectPublisher

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[4]


@dataclass
class Stack:
    airflow: AirflowStack
    publisher: DirectPublisher
    dags: Path
    bucket: str
    env: str
    s3_env: dict[str, str]


@pytest.fixture(scope="module")
def stack(seaweedfs: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("e2e")
    dags = root / "sync" / "dags"
    bucket = seaweedfs.create_bucket(f"e2e-{uuid.uuid4().hex[:12]}")
    env = "dev"
    s3 = seaweedfs.env()
    agent_log = open(root / "dagsync.log", "ab")  # noqa: SIM115 - closed in the finally below
    agent = subprocess.Popen(
        [str(BIN / "airflow-dag-sync"), "--bucket", bucket, "--env", env, "--dags-dir", str(dags),
         "--interval", "0.5", "--log-format", "json"],
        env={**os.environ, **s3}, stdout=agent_log, stderr=subprocess.STDOUT, start_new_session=True)
    airflow = AirflowStack(root / "airflow-home", dags)
    try:
        airflow.start()
        storage = Storage(bucket, seaweedfs.client())
        yield Stack(airflow, DirectPublisher(storage, env), dags, bucket, env, s3)
        assert "recursive loop" not in airflow.log_text().lower()
    finally:
        airflow.stop()
        stop_process(agent)
        agent_log.close()


def test_dag_published_with_the_cli_is_serialized_with_a_stable_fileloc(stack: Stack) -> None:
    source = REPO / "packages" / "pipeline_processing" / "airflow_dags"
    done = subprocess.run(
        [str(BIN / "airflow-dag-publisher"), "publish", "--env", stack.env, "--package", "pipeline_processing",
         "--bucket", stack.bucket, "--source", str(source), "--json", "--spec", str(source.parent / "jobs.yaml"),
         "--image", "registry.example.com/data/pipeline-processing:1.4.0"],
        env={**os.environ, **stack.s3_env}, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    release = json.loads(done.stdout)
    assert release["uploaded"] >= 1
    dag_id = "pipeline_processing_example_job"
    waited = stack.airflow.wait_for_dags({dag_id}, timeout=90)
    print(f"\nCLI publish -> serialized in {waited:.1f}s")
    fileloc = stack.airflow.dag_filelocs()[dag_id]
    assert fileloc == str(stack.dags / "pipeline_processing" / "pipeline_processing_example_job.py")
    assert stack.airflow.import_errors() == []


def test_publish_to_serialized_latency(stack: Stack) -> None:
    latencies: list[float] = []
    files: dict[str, bytes] = {}
    for n in range(6):
        dag_id = f"latency_dag{n}"
        files[f"{dag_id}.py"] = (
            "from airflow.sdk import DAG\n"
            "from airflow.providers.standard.operators.empty import EmptyOperator\n\n"
            f"with DAG({dag_id!r}, schedule=None):\n"
            "    EmptyOperator(task_id='noop')\n").encode()
        stack.publisher.publish("latency", dict(files))
        start = time.monotonic()
        stack.airflow.wait_for(lambda d=dag_id: d in stack.airflow.serialized_dag_ids(), timeout=60, interval=0.1)
        latencies.append(time.monotonic() - start)
    latencies.sort()
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(f"\npublish -> serialized over {len(latencies)} publishes: p50 {p50:.1f}s p95 {p95:.1f}s "
          f"(all: {', '.join(f'{x:.1f}' for x in latencies)})")
    assert p95 <= 15.0
    assert stack.airflow.import_errors() == []


def release_files(n: int) -> dict[str, bytes]:
    dag = (
        f"# release {n}\n"
        "from airflow.sdk import DAG\n"
        "from airflow.providers.standard.operators.empty import EmptyOperator\n\n"
        "from swapped.helpers import RELEASE, task_ids\n\n"
        f"with DAG('swapped_dag', schedule=None, description='release {n} of the DAG file'):\n"
        "    previous = None\n"
        "    for task_id in task_ids():\n"
        "        task = EmptyOperator(task_id=task_id, doc=f'helper release {RELEASE}')\n"
        "        if previous is not None:\n"
        "            previous >> task\n"
        "        previous = task\n").encode()
    helper = (f"RELEASE = {n}\n\n\ndef task_ids() -> list[str]:\n"
              f"    return [f'r{n}_{{i}}' for i in range({2 + n % 3})]\n").encode()
    return {"swapped_dag.py": dag, "helpers.py": helper}


def test_twenty_swaps_under_the_running_dag_processor_give_no_import_error(stack: Stack) -> None:
    stack.publisher.publish("swapped", release_files(0))
    stack.airflow.wait_for(lambda: "r0_0" in stack.airflow.task_ids("swapped_dag"), timeout=60)
    errors_seen: list[tuple[str, str]] = []
    for n in range(1, 21):
        stack.publisher.publish("swapped", release_files(n))
        time.sleep(0.7)
        errors_seen += stack.airflow.import_errors()
    want = {f"r20_{i}" for i in range(2 + 20 % 3)}
    waited = stack.airflow.wait_for(lambda: stack.airflow.task_ids("swapped_dag") == want, timeout=60)
    print(f"\n20 swaps done; last release serialized {waited:.1f}s after the last publish")
    assert errors_seen == [] and stack.airflow.import_errors() == []
    assert stack.airflow.dag_filelocs()["swapped_dag"] == str(stack.dags / "swapped" / "swapped_dag.py")
    log = stack.airflow.log_text()
    assert "recursive loop" not in log.lower() and "Traceback" not in log
