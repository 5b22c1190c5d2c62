"""Airflow at fleet scale: N packages x K KubernetesPodOperator DAG files in one bucket, mirrored by
the `airflow-dag-sync` process at the ConfigMap's interval, parsed by a real Airflow 3 dag-processor
(LocalExecutor, sqlite) with the shipped configuration (the Helm values, devstack.demo_config: one
release bundle per package, the parse-requests process beside the dag-processor), and beside it the
same settings over the DAGs folder as one bundle, and Airflow's stock configuration, the peer.

At each fleet size and configuration, with a fresh metadata database:
- first full parse: from starting the dag-processor until every DAG of the fleet is serialized;
- CPU of the dag-processor's whole process tree (the manager and its parse processes) while nothing
  is published, and how many DAG files it parsed meanwhile;
- publish -> serialized: a changed DAG (a new description) and a new DAG file, alternating, each in
  another package spread over the fleet, each published with the CLI (`publish
  --skip-dynamic-validation`, as CI's publish step runs it); from the publisher's journal entry
  (written right after the manifest commit) to the DAG's new form in `serialized_dag`.
The growth series (--series) measures the shipped configuration at smaller fleets of the same bucket;
the other peers are measured at the largest only, the stock one with its waits cut at --stock-wait
seconds (its defaults can take minutes per change). The fleet itself is published with the same publisher the CLI
runs, in-process (500 CLI processes, each reading every other manifest, would take most of the run).

    .venv/bin/python -m bench.fleet_bench                                   # 500 x 4, series 100, 300
    .venv/bin/python -m bench.fleet_bench --packages 30 --series 10 --idle 20 --changes 2 --stock-changes 1
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from airflow_dag_publisher.bundle.config import BundleSettings, bundle_config_list, to_json
from airflow_dag_publisher.publisher import Publisher, PublishOptions, ReleaseMeta, Validation
from airflow_dag_publisher.release_reader import Environment
from airflow_dag_publisher.sources import LocalFile
from airflow_dag_publisher.storage import Storage, make_client

from bench import validate_bench
from bench.airflow_bench import Watcher, _commit_time
from bench.common import BIN, Row, log, start_seaweedfs, write_rows
from devstack.airflow import AirflowStack
from devstack.demo_config import load_settings
from devstack.demo_procs import stop_process
from devstack.local_env import local_env

ENV = "dev"  # bench.airflow_bench's: its commit-time reader lists this environment's journal
BUCKET = "bench-fleet"
SHIPPED = "shipped configuration"      # one release bundle per package, as the Helm values run it
FOLDER = "shipped, DAGs folder bundle"  # the same settings, the DAGs folder as one bundle (no release bundles)
STOCK = "Airflow's stock configuration"
PEERS = (SHIPPED, FOLDER, STOCK)
FIRST_PARSE = "first full parse"
FIRST_PARSE_CPU = "first full parse: CPU of the dag-processor"
IDLE_CPU = "dag-processor CPU while nothing is published"
IDLE_PARSES = "DAG files parsed while nothing is published"
CHANGED = "publish -> serialized: changed DAG"
NEW = "publish -> serialized: new DAG"
# Airflow's own default for the number of parse processes (the Helm values keep it): AirflowStack
# runs one unless told, which suits the tests, not a fleet.
PARSING_PROCESSES = {"AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "2"}


def package_name(n: int) -> str:
    return f"fleet{n:04d}"


def dag_file(package: str, n: int) -> str:
    return f"{package}_job_{n:03d}.py"


def dag_id(package: str, n: int) -> str:
    return f"{package}_job_{n:03d}"


def dag_source(package: str, n: int, revision: int) -> bytes:
    return validate_bench.dag_text(package, n, description=f"revision {revision}").encode()


def local_files(files: Mapping[str, bytes]) -> list[LocalFile]:
    import hashlib

    return [LocalFile(p, hashlib.sha256(d).hexdigest(), len(d), d) for p, d in sorted(files.items())]


class Fleet:
    """The bucket's packages and the files of their current releases, as the bench published them."""

    def __init__(self, root: Path, storage: Storage, env: dict[str, str], files: int) -> None:
        self.root = root
        self.storage = storage
        self.env = env
        self.files = files
        self.contents: dict[str, dict[str, bytes]] = {}
        self.revision = 0

    def dag_ids(self) -> set[str]:
        return {f"{package}_{path[len(package) + 1:-3]}" for package, files in self.contents.items() for path in files}

    def grow(self, packages: int) -> None:
        """Publish packages len(contents)..packages-1 with the CLI's publisher, in-process. The packages
        are new and distinct, so each publish is told the environment holds no other package."""
        new = {package_name(n): {dag_file(package_name(n), i): dag_source(package_name(n), i, 0)
                                 for i in range(self.files)} for n in range(len(self.contents), packages)}
        options = PublishOptions(validation=Validation.STATIC)
        meta = ReleaseMeta(published_by="bench", tool_version="bench")

        def publish(package: str) -> None:
            Publisher(self.storage, ENV, package).publish_files(local_files(new[package]), meta, options,
                                                                environment=Environment())

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(publish, new))
        self.contents.update(new)

    def change(self, package: str) -> tuple[str, str]:
        """Publish (CLI) a release whose first DAG file has a new description: (dag_id, its marker)."""
        self.revision += 1
        path = dag_file(package, 0)
        self.contents[package][path] = dag_source(package, 0, self.revision)
        self.publish(package)
        return dag_id(package, 0), f'"revision {self.revision}"'

    def add(self, package: str) -> str:
        """Publish (CLI) a release with one more DAG file: its dag_id."""
        n = len(self.contents[package])
        self.contents[package][dag_file(package, n)] = dag_source(package, n, 0)
        self.publish(package)
        return dag_id(package, n)

    def publish(self, package: str) -> None:
        source = self.root / "src" / package
        shutil.rmtree(source, ignore_errors=True)
        source.mkdir(parents=True)
        for path, data in self.contents[package].items():
            (source / path).write_bytes(data)
        done = subprocess.run(
            [str(BIN / "airflow-dag-publisher"), "publish", "--env", ENV, "--package", package, "--bucket", BUCKET,
             "--source", str(source), "--skip-dynamic-validation", "--json"],
            env=self.env, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"publish {package} exited {done.returncode}: "
                               f"{done.stdout[-2000:]}{done.stderr[-2000:]}")

    def on_disk(self, dags: Path) -> bool:
        """Every package of the fleet is in the agent's folder with every file of its current release."""
        for package, files in self.contents.items():
            for path, data in files.items():
                try:
                    if (dags / package / path).read_bytes() != data:
                        return False
                except OSError:
                    return False
        return True


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds of processes, their reaped children (Airflow's parse processes) and their live ones."""
    total = 0.0
    for pid in pids:
        proc = psutil.Process(pid)
        t = proc.cpu_times()
        total += t.user + t.system + t.children_user + t.children_system
        for child in proc.children(recursive=True):
            try:
                c = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += c.user + c.system
    return total


def configuration(peer: str, bundles: str = "") -> dict[str, str]:
    """The AIRFLOW__* settings of a peer (the infrastructure's own settings come from AirflowStack);
    `bundles`: the release bundles' dag_bundle_config_list (the shipped configuration's)."""
    if peer in (SHIPPED, FOLDER):
        shipped = {k: v for k, v in load_settings(ENV).airflow_env().items() if k != "AIRFLOW__CORE__EXECUTOR"}
        if peer == SHIPPED and bundles:
            shipped["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = bundles
        return {**PARSING_PROCESSES, **shipped}
    # Stock: only what every deployment sets (no examples, new DAGs active as the tests expect)
    return {**PARSING_PROCESSES, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}


def release_bundles(packages: list[str], dags: Path, state: Path) -> str:
    """dag_bundle_config_list: one release bundle per package (`python -m airflow_dag_publisher.bundle config`)."""
    settings = BundleSettings(env=ENV, bucket=BUCKET, dags_dir=str(dags), state_dir=str(state))
    return to_json(bundle_config_list(packages, settings))


def measure(fleet: Fleet, dags: Path, home: Path, template: Path, peer: str, *, idle: float, changes: int,
            wait: float, strict: bool, spread: random.Random) -> list[Row]:
    """One configuration at the fleet's current size: first parse, idle CPU, change latency."""
    config = configuration(peer, release_bundles(sorted(fleet.contents), dags, dags.parent / "dags-state"))
    # the shipped settings' dag-processor (Airflow's, with the fleet manager) comes with its parse-requests
    # process; the stock one is `airflow dag-processor`, alone
    stack = AirflowStack(home, dags, config=config, parse_requests=peer != STOCK, fleet_manager=peer != STOCK)
    stack.config = config  # exactly these: without the shipped settings AirflowStack adds by default
    home.mkdir(parents=True)
    shutil.copy(template, stack.db_path)
    packages = len(fleet.contents)
    want = fleet.dag_ids()
    log(f"{peer}: {packages} packages, {len(want)} DAG files; starting the dag-processor")
    started = time.monotonic()
    stack.start()
    try:
        pids = [proc.pid for proc in stack.procs.values()]  # the dag-processor (and its parse-requests process)
        stack.wait_for(lambda: want <= stack.serialized_dag_ids(), timeout=max(600.0, 2.0 * len(want)), interval=1.0)
        first, first_cpu = time.monotonic() - started, tree_cpu(pids)
        log(f"{peer}: first full parse {first:.1f} s ({len(want) / first:.1f} files/s, {first_cpu:.0f} CPU-s)")
        time.sleep(10)  # the round's last results are persisted
        before, cpu0, t0 = stack.last_parsed(), tree_cpu(pids), time.monotonic()
        time.sleep(idle)
        cpu1, t1 = tree_cpu(pids), time.monotonic()
        stack.check_running()
        parsed = sum(1 for d, when in stack.last_parsed().items() if when != before.get(d))
        idle_pct = 100 * (cpu1 - cpu0) / (t1 - t0)
        log(f"{peer}: idle CPU {idle_pct:.1f}% of a core over {t1 - t0:.0f} s, {parsed} DAG files parsed")
        rows = [Row("fleet", FIRST_PARSE, peer, "s", [first], packages=packages, note=f"{len(want)} files"),
                Row("fleet", FIRST_PARSE_CPU, peer, "cpu-s", [first_cpu], packages=packages,
                    note=f"every file again every {_reparse_interval(config):g} s"),
                Row("fleet", IDLE_CPU, peer, "%", [idle_pct], packages=packages, note=f"over {t1 - t0:.0f} s"),
                Row("fleet", IDLE_PARSES, peer, "files", [float(parsed)], packages=packages)]
        rows += latencies(fleet, stack, peer, changes=changes, wait=wait, strict=strict, spread=spread)
        if stack.import_errors():
            raise RuntimeError(f"import errors in Airflow: {stack.import_errors()[:3]}")
        return rows
    finally:
        stack.stop()


def _reparse_interval(config: Mapping[str, str]) -> float:
    """[dag_processor] min_file_process_interval of a configuration (Airflow's default: 30 s)."""
    return float(config.get("AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL", "30"))


def latencies(fleet: Fleet, stack: AirflowStack, peer: str, *, changes: int, wait: float, strict: bool,
              spread: random.Random) -> list[Row]:
    """`changes` changed and `changes` new DAGs, alternating (ABAB, BABA), each in another package."""
    packages = sorted(fleet.contents)
    picks = spread.sample(packages, min(len(packages), 2 * changes)) * 2
    changed = Row("fleet", CHANGED, peer, "s", packages=len(packages))
    new = Row("fleet", NEW, peer, "s", packages=len(packages))
    cut = {CHANGED: 0, NEW: 0}
    for n in range(changes):
        for kind in ((CHANGED, NEW) if n % 2 == 0 else (NEW, CHANGED)):
            package = picks.pop()
            time.sleep(spread.uniform(0, 2))  # a random moment of the agent's cycle and Airflow's loop
            if kind == CHANGED:
                watcher = Watcher(_changed_probe(stack, dag_id(package, 0), f'"revision {fleet.revision + 1}"'), wait)
                watcher.start()
                fleet.change(package)
                row = changed
            else:
                target = dag_id(package, len(fleet.contents[package]))
                watcher = Watcher(lambda d=target: d in stack.serialized_dag_ids(), wait)  # type: ignore[misc]
                watcher.start()
                fleet.add(package)
                row = new
            committed = _commit_time(fleet.storage, package)
            watcher.join(wait + 5)
            if watcher.seen is None:
                if strict:
                    raise TimeoutError(f"{peer}: {kind} in {package} not serialized within {wait:g} s "
                                       f"({watcher.error}); see {stack.log_dir}")
                cut[kind] += 1
                row.values.append(wait)
                log(f"{peer}: {kind} in {package}: not serialized within {wait:g} s (counted as {wait:g} s)")
                continue
            row.values.append(watcher.seen - committed)
            log(f"{peer}: {kind} in {package}: {row.values[-1]:.2f} s")
    for row in (changed, new):
        if cut[row.scenario]:
            row.note = f"{cut[row.scenario]} of {len(row.values)} waits cut at {wait:g} s"
    return [changed, new]


def _changed_probe(stack: AirflowStack, dag: str, marker: str) -> Callable[[], bool]:
    return lambda: marker in json.dumps(stack.serialized_dag(dag) or {})


def migrated_template(root: Path, dags: Path) -> Path:
    """One migrated sqlite database, copied for every measurement (a migration takes ~20 s)."""
    stack = AirflowStack(root / "airflow-template", dags)
    stack.migrate()
    return stack.db_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=500, help="packages of the main measurement (default 500)")
    parser.add_argument("--files", type=int, default=4, help="DAG files per package (default 4)")
    parser.add_argument("--series", default="100,300", help="smaller fleets measured first, shipped configuration "
                        "only, comma-separated (default 100,300; '' for none)")
    parser.add_argument("--idle", type=float, default=150.0, help="seconds of idle CPU at the main size (default 150)")
    parser.add_argument("--series-idle", type=float, default=60.0, help="... at the series' sizes (default 60)")
    parser.add_argument("--changes", type=int, default=10, help="changed and new DAGs each, shipped (default 10)")
    parser.add_argument("--series-changes", type=int, default=10, help="... at the series' sizes (default 10)")
    parser.add_argument("--folder-idle", type=float, default=120.0, help="seconds of idle CPU of the DAGs folder "
                        "bundle and of the stock peer (default 120)")
    parser.add_argument("--folder-changes", type=int, default=5, help="changed and new DAGs each, the DAGs folder "
                        "bundle (default 5)")
    parser.add_argument("--stock-changes", type=int, default=3, help="changed and new DAGs each, stock (default 3)")
    parser.add_argument("--stock-wait", type=float, default=60.0,
                        help="the stock peer's waits are cut here, in seconds (default 60)")
    parser.add_argument("--wait", type=float, default=120.0, help="the shipped configuration fails beyond this (s)")
    parser.add_argument("--seed", type=int, default=24, help="which packages change (default 24)")
    parser.add_argument("--dagsync-interval", help="the agent's --interval (default: the ConfigMap's)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    try:
        series = sorted({int(n) for n in args.series.split(",") if n.strip()} - {args.packages})
    except ValueError:
        parser.error(f"--series {args.series!r}: package counts, comma-separated")
    if not (1 <= args.packages <= 3000 and 1 <= args.files <= 50 and all(1 <= n < args.packages for n in series)):
        parser.error("--packages 1..3000, --files 1..50, --series counts below --packages")
    if min(args.changes, args.series_changes, args.folder_changes, args.stock_changes) < 1 or \
            min(args.idle, args.series_idle, args.folder_idle) < 5:
        parser.error("--changes, --series-changes, --folder-changes, --stock-changes >= 1; --idle, --series-idle, "
                     "--folder-idle >= 5 s")
    interval = args.dagsync_interval or load_settings(ENV).sync_env.get("DAGSYNC_INTERVAL", "5")
    spread = random.Random(args.seed)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        root = Path(tmp)
        s3 = start_seaweedfs(root / "seaweedfs")
        agent: subprocess.Popen[bytes] | None = None
        try:
            env = local_env(s3.env())
            s3.create_bucket(BUCKET)
            fleet = Fleet(root, Storage(BUCKET, make_client(max_pool=16)), env, args.files)
            dags = root / "sync" / "dags"
            with open(root / "dagsync.log", "ab") as out:
                agent = subprocess.Popen(
                    [str(BIN / "airflow-dag-sync"), "--bucket", BUCKET, "--env", ENV, "--dags-dir", str(dags),
                     "--state-dir", str(dags.parent / "dags-state"), "--interval", interval, "--log-format", "json"],
                    env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            template = migrated_template(root, dags)
            runs = [(n, [SHIPPED]) for n in series] + [(args.packages, list(PEERS))]
            for size, peers in runs:
                log(f"publishing packages {len(fleet.contents)}..{size - 1} x {args.files} DAG files")
                fleet.grow(size)
                deadline = time.monotonic() + 600
                while not fleet.on_disk(dags):
                    if agent.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the agent did not mirror {size} packages; see {root / 'dagsync.log'}")
                    time.sleep(1)
                main_size = size == args.packages
                for peer in peers:
                    stock = peer == STOCK
                    idle = args.idle if peer == SHIPPED else args.folder_idle
                    changes = {SHIPPED: args.changes, FOLDER: args.folder_changes, STOCK: args.stock_changes}[peer]
                    rows += measure(fleet, dags, root / "airflow" / f"{size}-{len(rows)}", template, peer,
                                    idle=idle if main_size else args.series_idle,
                                    changes=changes if main_size else args.series_changes,
                                    wait=args.stock_wait if stock else args.wait, strict=not stock, spread=spread)
        finally:
            if agent is not None:
                stop_process(agent)
            s3.close()
    for row in rows:
        print(f"{row.packages:>5} {row.scenario:<52} {row.peer:<32} median {row.median:8.2f} {row.unit:<5} "
              f"all {[round(v, 2) for v in row.values]}")
    params = {"packages": args.packages, "files": args.files, "series": series, "idle": args.idle,
              "series_idle": args.series_idle, "changes": args.changes, "series_changes": args.series_changes,
              "folder_idle": args.folder_idle, "folder_changes": args.folder_changes,
              "stock_changes": args.stock_changes, "stock_wait": args.stock_wait, "dagsync_interval": interval,
              "shipped": configuration(FOLDER), "stock": configuration(STOCK)}
    write_rows(args.json, rows, {"params": params})
    return 0


if __name__ == "__main__":
    sys.exit(main())
