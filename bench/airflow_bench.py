"""Publish -> visible in Airflow: the `airflow-dag-publisher publish` CLI (as CI's publish step runs
it, after its validate step: `--skip-dynamic-validation`), the `airflow-dag-sync` process at the
ConfigMap's interval, and a real Airflow 3 dag-processor with the Helm values' [core] and
[dag_processor] settings (devstack.demo_config, over devstack.airflow.SHIPPED_CONFIG).

Latency is from the release's commit (the publisher's journal entry, epoch milliseconds) to the
DAG being in Airflow's serialized_dag table: for a new DAG file, and for a changed DAG file (a new
description), reported separately. Both reach Airflow the same way: the parse-requests process sees
the agent's swap and asks the dag-processor to parse the package's DAG files first.

    .venv/bin/python -m bench.airflow_bench --publishes 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from airflow_dag_publisher.storage import Storage, journal_prefix, parse_journal_key

from bench import validate_bench
from bench.common import BIN, Row, log, start_seaweedfs, write_rows
from devstack.airflow import AirflowStack
from devstack.demo_config import load_settings
from devstack.demo_procs import stop_process
from devstack.local_env import local_env

ENV = "dev"
BUCKET = "bench-airflow"
NEW = "latnew"
CHANGED = "latchg"


def dag_source(package: str, n: int, revision: int) -> str:
    return validate_bench.dag_text(package, n, description=f"revision {revision}")


class Watcher(threading.Thread):
    """Polls a predicate every 50 ms from before the publish starts; records the first wall time it holds."""

    def __init__(self, predicate: Callable[[], bool], timeout: float) -> None:
        super().__init__(daemon=True)
        self.predicate = predicate
        self.timeout = timeout
        self.seen: float | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                if self.predicate():
                    self.seen = time.time()
                    return
            except Exception as exc:  # the sqlite file can be busy; keep polling, report the last error
                self.error = exc
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.airflow_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--publishes", type=int, default=5, help="publishes of each kind, new and changed (>= 1)")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on one publish after this (s)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    if not 1 <= args.publishes <= 100:
        parser.error("--publishes must be 1..100")
    settings = load_settings(ENV)
    interval = settings.sync_env.get("DAGSYNC_INTERVAL", "5")
    airflow_config = {k: v for k, v in settings.airflow_env().items() if k != "AIRFLOW__CORE__EXECUTOR"}
    with tempfile.TemporaryDirectory(prefix="airflow-bench-") as tmp:
        root = Path(tmp)
        s3 = start_seaweedfs(root / "seaweedfs")
        agent: subprocess.Popen[bytes] | None = None
        airflow: AirflowStack | None = None
        try:
            env = local_env(s3.env())
            s3.create_bucket(BUCKET, environments=(ENV,))
            dags = root / "sync" / "dags"
            with open(root / "dagsync.log", "ab") as out:
                agent = subprocess.Popen(
                    [str(BIN / "airflow-dag-sync"), "--bucket", BUCKET, "--env", ENV, "--dags-dir", str(dags),
                     "--interval", interval, "--log-format", "json"],
                    env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            airflow = AirflowStack(root / "airflow-home", dags, config=airflow_config)
            log("starting Airflow's dag-processor")
            airflow.start()
            rows, effective = run(airflow, Storage(BUCKET, s3.client()), root, env, args.publishes, args.timeout)
            effective["DAGSYNC_INTERVAL"] = interval
            if airflow.import_errors():
                raise RuntimeError(f"import errors in Airflow: {airflow.import_errors()}")
        finally:
            if airflow is not None:
                airflow.stop()
            if agent is not None:
                stop_process(agent)
            s3.close()
    for row in rows:
        print(f"{row.scenario:<44} {row.peer:<40} p50 {row.median:6.2f} s  all {row.values}")
    write_rows(args.json, rows, {"params": {"publishes": args.publishes, "config": effective}})
    return 0


def run(airflow: AirflowStack, storage: Storage, root: Path, env: dict[str, str], publishes: int,
        timeout: float) -> tuple[list[Row], dict[str, str]]:
    effective = {k: v for k, v in airflow.env().items()
                 if k.startswith("AIRFLOW__DAG_PROCESSOR__") or k.endswith("__MIN_SERIALIZED_DAG_UPDATE_INTERVAL")}
    new_src, changed_src = root / "src" / NEW, root / "src" / CHANGED
    new_src.mkdir(parents=True)
    changed_src.mkdir(parents=True)
    (changed_src / f"{CHANGED}_job_000.py").write_text(dag_source(CHANGED, 0, 0))
    publish(changed_src, CHANGED, env)
    airflow.wait_for(lambda: "revision 0" in _serialized(airflow, f"{CHANGED}_job_000"), timeout=180)
    log("first DAG serialized; timing publishes")
    scenario = "publish (commit) -> DAG serialized in Airflow"
    new = Row("airflow", scenario, "new DAG file", "s", note="")
    changed = Row("airflow", scenario, "changed DAG file", "s", note="")
    cli = Row("airflow", "publish CLI run (--skip-dynamic-validation)", "one DAG file added or changed", "s")
    for n in range(publishes):
        for kind in (("new", "changed") if n % 2 == 0 else ("changed", "new")):
            if kind == "new":
                dag_id = f"{NEW}_job_{n:03d}"
                (new_src / f"{dag_id}.py").write_text(dag_source(NEW, n, 0))
                predicate: Callable[[], bool] = lambda d=dag_id: d in airflow.serialized_dag_ids()  # noqa: E731
                package, source, row = NEW, new_src, new
            else:
                dag_id = f"{CHANGED}_job_000"
                (changed_src / f"{dag_id}.py").write_text(dag_source(CHANGED, 0, n + 1))
                predicate = lambda d=dag_id, r=n + 1: f"revision {r}\"" in _serialized(airflow, d)  # noqa: E731
                package, source, row = CHANGED, changed_src, changed
            watcher = Watcher(predicate, timeout)
            watcher.start()
            started = time.monotonic()
            publish(source, package, env)
            cli.values.append(time.monotonic() - started)
            committed = _commit_time(storage, package)
            watcher.join(timeout + 5)
            if watcher.seen is None:
                raise TimeoutError(f"{dag_id} not serialized within {timeout:g} s ({watcher.error}); "
                                   f"see {airflow.log_dir}")
            row.values.append(watcher.seen - committed)
            log(f"{kind} DAG {dag_id}: visible {row.values[-1]:.2f} s after the commit")
    for row in (new, changed):
        ordered = sorted(row.values)
        row.note = f"p95 {ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]:.2f} s"
    return [new, changed, cli], effective


def _serialized(airflow: AirflowStack, dag_id: str) -> str:
    return json.dumps(airflow.serialized_dag(dag_id) or {})


def publish(source: Path, package: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(BIN / "airflow-dag-publisher"), "publish", "--env", ENV, "--package", package, "--bucket", BUCKET,
         "--source", str(source), "--skip-dynamic-validation",
         "--json"], env=env, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"publish {package} exited {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}")


def _commit_time(storage: Storage, package: str) -> float:
    """Epoch seconds of the package's newest journal entry (written right after the manifest commit)."""
    stamps = [ms for ms, pkg in filter(None, (parse_journal_key(ENV, k) for k in storage.list_journal(ENV, None)))
              if pkg == package]
    if not stamps:
        raise RuntimeError(f"no journal entry for {package} under {journal_prefix(ENV)}")
    return max(stamps) / 1000.0


if __name__ == "__main__":
    sys.exit(main())
