"""End to end: the real `airflow-dag-sync` process and a real Airflow 3 dag-processor with the shipped
configuration (the parse-requests process beside it, no periodic re-parse of the fleet, bundles looked
at only as a safety net), with the DAGs folder as one bundle and with one release bundle per package
(issue 25's, the shipped layout; there every DAG version must also record the release its bytes came
from). The dag-processor parses what changed and only that, and stays correct:

- a release that changes only a helper module re-parses every DAG file of the package (they import
  it), and no file of another package;
- a removed file's DAG is deactivated within seconds (not at the 60 s safety-net listing);
- an import error clears once a fixed release is published;
- a restarted dag-processor parses every file once, and a change published during that full parse
  is served before the rest of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from airflow_dag_publisher.bundle.config import BundleSettings, bundle_config_list, to_json
from airflow_dag_publisher.storage import Storage

from devstack.airflow import AirflowStack
from devstack.dagfiles import kpo_dag
from devstack.demo_procs import stop_process
from devstack.seaweedfs import SeaweedFS
from packages.orchestration.tests.sync.support import DirectPublisher

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
BIN = Path(sys.executable).parent
# 3 DAG files each: the restart's full parse takes a while; the last package is the last parsed (by name)
FLEET = [*(f"fleet{n:02d}" for n in range(10)), "zzz_last"]
OTHERS = ["helpy", "gone", "fixme"]  # the packages the tests publish
QUICK = 20.0  # a change shows well within this (the safety nets are 60 s, 300 s and 6 h)


@dataclass
class Stack:
    airflow: AirflowStack
    publisher: DirectPublisher
    dags: Path
    bundles: bool  # one release bundle per package (else the DAGs folder's bundle)

    def release_id(self, package: str) -> str:
        return os.readlink(self.dags / package).split("/")[-2]  # .../releases/<package>/<release id>/<package>


@pytest.fixture(scope="module", params=["folder", "bundles"])
def stack(request: pytest.FixtureRequest, seaweedfs: SeaweedFS, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp(f"parse-what-changed-{request.param}")
    dags, state = root / "sync" / "dags", root / "sync" / "dags-state"
    bucket = seaweedfs.create_bucket(f"e2e-{uuid.uuid4().hex[:12]}")
    publisher = DirectPublisher(Storage(bucket, seaweedfs.client()), "dev")
    for package in FLEET:
        publisher.publish(package, {f"{package}_job_{i}.py": kpo_dag(package, f"job_{i}").encode() for i in range(3)})
    agent_log = open(root / "dagsync.log", "ab")  # noqa: SIM115 - closed in the finally below
    agent = subprocess.Popen(
        [str(BIN / "airflow-dag-sync"), "--bucket", bucket, "--env", "dev", "--dags-dir", str(dags),
         "--state-dir", str(state), "--interval", "0.5", "--log-format", "json"],
        env={**os.environ, **seaweedfs.env()}, stdout=agent_log, stderr=subprocess.STDOUT, start_new_session=True)
    config: dict[str, str] = {}
    if request.param == "bundles":
        settings = BundleSettings(env="dev", bucket=bucket, dags_dir=str(dags), state_dir=str(state))
        bundles = to_json(bundle_config_list(FLEET + OTHERS, settings))
        config = {"AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": bundles, **seaweedfs.env()}
    airflow = AirflowStack(root / "airflow-home", dags, config=config)
    try:
        deadline = time.monotonic() + 60
        while not all((dags / p).exists() for p in FLEET):
            assert agent.poll() is None and time.monotonic() < deadline, (root / "dagsync.log").read_text()[-3000:]
            time.sleep(0.2)
        airflow.start()
        airflow.wait_for_dags({f"{p}_job_{i}" for p in FLEET for i in range(3)}, timeout=300)
        yield Stack(airflow, publisher, dags, request.param == "bundles")
        assert "Traceback" not in airflow.log_text()
    finally:
        airflow.stop()
        stop_process(agent)
        agent_log.close()


def helper_package(version: str) -> dict[str, bytes]:
    """Two DAG files whose tags come from the package's helper module."""
    files = {f"helpy_job_{i}.py": kpo_dag("helpy", f"job_{i}", preamble="from helpy.common import TAG",
                                          tags="[TAG]").encode() for i in range(2)}
    files["common.py"] = f"TAG = {version!r}\n".encode()
    return files


def tags(stack: Stack, dag_id: str) -> list[str]:
    found = stack.airflow.serialized_dag(dag_id) or {}
    return list(found.get("dag", {}).get("tags", []))


def shows(stack: Stack, dag_id: str, tag: str, package: str) -> bool:
    """The DAG's newest serialized form has `tag`; with release bundles, its DAG version also records
    the release the agent holds now, the release those bytes came from."""
    found, version = stack.airflow.serialized_version(dag_id)
    if tag not in (found or {}).get("dag", {}).get("tags", []):
        return False
    if stack.bundles:
        assert version == stack.release_id(package), f"{dag_id}: tags {tag!r} recorded as release {version}"
    return True


def test_a_changed_helper_reparses_the_dag_files_that_import_it_and_nothing_else(stack: Stack) -> None:
    stack.publisher.publish("helpy", helper_package("v1"))
    stack.airflow.wait_for(lambda: all(tags(stack, f"helpy_job_{i}") == ["v1"] for i in range(2)), timeout=QUICK)
    time.sleep(12)  # the second parse request of each file (min_serialized_dag_update_interval + 2 s) is done
    before = stack.airflow.last_parsed()
    stack.publisher.publish("helpy", helper_package("v2"))  # the DAG files' bytes do not change
    waited = stack.airflow.wait_for(lambda: all(shows(stack, f"helpy_job_{i}", "v2", "helpy") for i in range(2)),
                                    timeout=QUICK)
    print(f"\nhelper changed -> both DAG files re-parsed in {waited:.1f}s")
    time.sleep(10)
    parsed = {d for d, when in stack.airflow.last_parsed().items() if when != before.get(d)}
    assert parsed == {"helpy_job_0", "helpy_job_1"}
    assert stack.airflow.import_errors() == []


def test_a_removed_file_deactivates_its_dag_within_seconds(stack: Stack) -> None:
    files = {f"gone_job_{i}.py": kpo_dag("gone", f"job_{i}").encode() for i in range(2)}
    stack.publisher.publish("gone", files)
    stack.airflow.wait_for_dags({"gone_job_0", "gone_job_1"}, timeout=QUICK)
    started = time.monotonic()
    stack.publisher.publish("gone", {"gone_job_0.py": files["gone_job_0.py"]})
    stack.airflow.wait_for(lambda: "gone_job_1" in stack.airflow.stale_dag_ids(), timeout=QUICK)
    print(f"\nremoved file -> its DAG deactivated in {time.monotonic() - started:.1f}s")
    assert "gone_job_0" not in stack.airflow.stale_dag_ids()


def test_an_import_error_clears_when_a_fixed_release_is_published(stack: Stack) -> None:
    broken = kpo_dag("fixme", "job", preamble="raise RuntimeError('broken on purpose')").encode()
    stack.publisher.publish("fixme", {"fixme_job.py": broken})
    stack.airflow.wait_for(lambda: any("broken on purpose" in trace for _, trace in stack.airflow.import_errors()),
                           timeout=QUICK)
    stack.publisher.publish("fixme", {"fixme_job.py": kpo_dag("fixme", "job").encode()})
    waited = stack.airflow.wait_for(lambda: "fixme_job" in stack.airflow.serialized_dag_ids()
                                    and not stack.airflow.import_errors(), timeout=QUICK)
    print(f"\nfixed release -> import error cleared in {waited:.1f}s")


def test_a_restarted_dag_processor_parses_everything_once_and_serves_a_change_first(stack: Stack) -> None:
    """The full parse goes in name order here (the shipped order is a seeded shuffle): the changed
    package is the one the round reaches last, so serving it first is the parse requests' doing."""
    airflow = stack.airflow
    airflow.stop()
    before = airflow.last_parsed()
    airflow.config["AIRFLOW__DAG_PROCESSOR__FILE_PARSING_SORT_MODE"] = "alphabetical"
    airflow.start()
    # the full parse is under way (the parse-requests bundle has had its first look): publish a change
    # to the package the alphabetical order parses last
    airflow.wait_for(lambda: sum(1 for d, w in airflow.last_parsed().items() if w != before.get(d)) >= 2,
                     timeout=120, interval=0.1)
    last = FLEET[-1]
    stack.publisher.publish(last, {f"{last}_job_{i}.py": kpo_dag(last, f"job_{i}", tags='["changed"]').encode()
                                   for i in range(3)})
    airflow.wait_for(lambda: shows(stack, f"{last}_job_0", "changed", last), timeout=QUICK, interval=0.1)
    served = time.monotonic()
    reparsed = {d for d, w in airflow.last_parsed().items() if w != before.get(d)}
    everything = set(before) - airflow.stale_dag_ids()
    assert everything - reparsed, "the change was not served before the rest of the full parse"
    airflow.wait_for(lambda: {d for d, w in airflow.last_parsed().items() if w != before.get(d)} >= everything,
                     timeout=300)
    time.sleep(max(0.0, served + 10 - time.monotonic()))  # the change's second parse request (5 s + 2 s) is done
    settled = airflow.last_parsed()
    time.sleep(12)
    assert airflow.last_parsed() == settled, "files were parsed again after the full parse"
