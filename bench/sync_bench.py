"""Sync benchmark: `airflow-dag-sync` (one in-process cycle, and the `--once` process) against
`aws s3 sync --delete` (the seed's sidecar) and `S3Hook.sync_to_local_dir` (what Airflow's
S3DagBundle runs), on one SeaweedFS holding PACKAGES x FILES published files.

Figures: cold sync into an empty folder; a cycle when nothing changed; a cycle after one file of
one package changed; and the agent process running with its shipped interval: time from a publish
commit to the new bytes being readable in the DAGs folder, and how long the cycle that applied it
took. S3 requests are counted by the server itself (SeaweedFS's Prometheus metrics), the same way
for every peer; the in-process agent's own botocore counter is recorded beside it as a check.

    .venv/bin/python -m bench.sync_bench --packages 1000 --files 20 --reps 5 --cold-reps 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

from airflow_dag_publisher.publisher import Publisher, PublishOptions, ReleaseMeta, Validation
from airflow_dag_publisher.release_reader import Environment
from airflow_dag_publisher.sources import LocalFile
from airflow_dag_publisher.storage import Storage, make_client
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.releases import Layout

from bench.common import BIN, Row, counted, discard, log, start_seaweedfs, write_rows
from devstack.demo_config import load_settings
from devstack.seaweedfs import SeaweedFS, free_port

ENV = "bench"
BUCKET = "bench-sync"
AGENT = "airflow-dag-sync (in-process cycle)"
AGENT_RECONCILE = "airflow-dag-sync (reconciliation cycle)"
ONCE = "airflow-dag-sync --once (process)"
ONCE_DAG = "airflow-dag-sync --once --dag-id (process)"
AWS = "aws s3 sync --delete (process)"
HOOK = "S3Hook.sync_to_local_dir (in-process)"
FLOOR = "the files alone: a Python loop writes them into new folders (no S3)"


def package_name(n: int) -> str:
    return f"pkg{n:04d}"


def dag_id(package: str, index: int = 0) -> str:
    return f"{package}_dag_{index:02d}"


def file_body(package: str, index: int, release: int = 0) -> bytes:
    """About 1.2 KB of unique Python (no two files share a sha256, so nothing is deduplicated). The
    first two files of a package declare a DAG, so its manifest lists their dag_ids (`--dag-id`)."""
    head = f'"""{package} file {index}, release {release}."""\n\nPACKAGE = {package!r}\nINDEX = {index}\n'
    if index < 2:
        head += (f'\nfrom airflow.sdk import DAG\n\nwith DAG(dag_id="{dag_id(package, index)}", schedule=None):\n'
                 "    pass\n")
    body = "".join(f"VALUE_{i} = {index * 1000 + i + release}  # padding line of a realistic size\n" for i in range(18))
    return (head + body + ("# changed\n" * release)).encode()


def package_files(package: str, count: int) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for i in range(count):
        path = f"{package}_dag_{i:02d}.py" if i < 2 else f"{package}_lib/mod_{i:02d}.py"
        files[path] = file_body(package, i)
    return files


META = ReleaseMeta(published_by="bench", tool_version="bench")
# The bench's files are plain modules: the conventions and ruff run, the Airflow parse would judge nothing.
STATIC = PublishOptions(validation=Validation.STATIC)


def local_files(files: dict[str, bytes]) -> list[LocalFile]:
    return [LocalFile(p, hashlib.sha256(d).hexdigest(), len(d), d) for p, d in sorted(files.items())]


def populate(packages: int, files: int, start: int = 0) -> dict[str, dict[str, bytes]]:
    """Packages start..packages-1, each published by the real publisher. The bench's packages are new
    and distinct, so each publish is told the environment holds no other package (reading 1,000
    manifests for each of 1,000 publishes would make populating quadratic)."""
    storage = Storage(BUCKET, make_client(max_pool=32))
    contents = {package_name(n): package_files(package_name(n), files) for n in range(start, packages)}

    def publish(package: str) -> None:
        Publisher(storage, ENV, package).publish_files(local_files(contents[package]), META, STATIC,
                                                       environment=Environment())

    sysconfig.get_config_vars()  # filled once here: filling it from 16 threads at once races (Python 3.11)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(publish, contents))
    return contents



def _until_complete(run: Callable[[], object], what: str, attempts: int) -> int:
    """Run `run` until it completes (a RuntimeError is a run that did not), at most `attempts` times;
    the number of runs it took."""
    for attempt in range(1, attempts + 1):
        try:
            run()
            return attempt
        except RuntimeError as exc:
            log(f"{what} {attempt}: {str(exc)[-300:]}; again")
    raise RuntimeError(f"{what}s did not complete a cold sync in {attempts} tries")

class ChangePublisher:
    """Publishes, with the real publisher, a release that changes one file of a package."""

    def __init__(self, contents: dict[str, dict[str, bytes]]) -> None:
        self.contents = contents
        self.storage = Storage(BUCKET, make_client())
        self.count = 0

    def change(self, package: str) -> tuple[str, bytes, float]:
        """Returns (path, new bytes, wall-clock time of the commit)."""
        self.count += 1
        files = self.contents[package]
        path = min(files)
        files[path] = file_body(package, 0, release=self.count)
        result = Publisher(self.storage, ENV, package).publish_files(local_files(files), META, STATIC,
                                                                     environment=Environment())
        assert result.committed_at is not None and result.plan.uploads == (path,), result.plan
        return path, files[path], result.committed_at


class Peers:
    """Each peer syncs the environment into its own folder; `run(peer)` is one sync or cycle."""

    def __init__(self, s3: SeaweedFS, root: Path, workers: int) -> None:
        self.s3 = s3
        self.root = root
        self.workers = workers
        self.proc_env = dict(os.environ)
        self.agent: SyncAgent | None = None
        self.agent_storage: Storage | None = None
        self._hook: object | None = None

    SLUGS: ClassVar[dict[str, str]] = {AGENT: "agent", ONCE: "once", AWS: "aws", HOOK: "hook", ONCE_DAG: "once-dag"}

    def dest(self, peer: str) -> Path:
        return self.root / self.SLUGS[peer] / "dags"

    def reset(self, peer: str) -> None:
        """Empty the peer's folder (and state) for a cold sync."""
        if peer == AGENT and self.agent is not None:
            self.agent.close()
            self.agent = None
        discard(self.root / self.SLUGS[peer])
        self.dest(peer).mkdir(parents=True)

    # -- the peers ------------------------------------------------------------------------------
    def agent_cycle(self, *, reconcile: bool | None = None) -> int:
        if self.agent is None:
            self.agent_storage = Storage(BUCKET, make_client(max_pool=max(10, self.workers + 2), connect_timeout=10,
                                                             read_timeout=10, attempts=3))
            config = AgentConfig(bucket=BUCKET, env=ENV, workers=self.workers)
            self.agent = SyncAgent(config, self.agent_storage, Layout(self.dest(AGENT)))
            self.agent.open()
        result = self.agent.run_cycle(reconcile=reconcile)
        if result.outcome == "error" or result.refused:
            raise RuntimeError(f"agent cycle failed: {result.error or result.refused}")
        return result.requests

    def agent_until_complete(self, attempts: int = 20) -> int:
        """A cold start of the long-running agent: cycles (no backoff wait) until one completes. A cycle
        that hits the shipped --cycle-timeout keeps the packages it applied, so the next one resumes."""
        return _until_complete(self.agent_cycle, "agent cycle", attempts)

    def once_until_complete(self, attempts: int = 20) -> int:
        """`--once` as an init container Kubernetes restarts after a failure (exit 3: cycle timed out)."""
        return _until_complete(self.once, "--once run", attempts)

    def once(self, *extra: str, peer: str = ONCE) -> None:
        self._process([str(BIN / "airflow-dag-sync"), "--bucket", BUCKET, "--env", ENV, "--dags-dir",
                       str(self.dest(peer)), "--once", "--workers", str(self.workers), "--log-level", "warning",
                       *extra])

    def once_dag(self, dag: str) -> None:
        """A task pod's init container: `--once --dag-id` into an empty folder."""
        self.reset(ONCE_DAG)
        self.once("--dag-id", dag, peer=ONCE_DAG)

    def aws(self) -> None:
        """The seed's sidecar command. The agent's release archives are left out (`--exclude`): the peer
        mirrors the same 20 files per package it always did."""
        self._process([str(BIN / "aws"), "s3", "sync", f"s3://{BUCKET}/{ENV}/", str(self.dest(AWS)), "--delete",
                       "--exclude", "*/dags.tar.gz"])

    def warm_hook(self) -> None:
        """Create the hook and its client once, untimed: S3DagBundle keeps its hook across refreshes."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        self._hook = S3Hook(aws_conn_id="aws_default")
        self._hook.get_conn()
        logging.getLogger().setLevel(logging.WARNING)  # Airflow's logging config would print every cycle

    def hook(self) -> None:
        if self._hook is None:
            self.warm_hook()
        self._hook.sync_to_local_dir(BUCKET, self.dest(HOOK), s3_prefix=f"{ENV}/")  # type: ignore[attr-defined]

    def _process(self, cmd: list[str]) -> None:
        done = subprocess.run(cmd, env=self.proc_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=1800, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{cmd[0]} exited {done.returncode}: {done.stderr.decode(errors='replace')[-2000:]}")

    def run(self, peer: str, *, reconcile: bool | None = None) -> Callable[[], object]:
        return {AGENT: lambda: self.agent_cycle(reconcile=reconcile), ONCE: self.once, AWS: self.aws,
                HOOK: self.hook}[peer]

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()


def write_files_only(folder: Path, contents: dict[str, dict[str, bytes]]) -> float:
    """Seconds to create every file of `contents` as <package>/<path> under the new `folder` (open,
    write, close: what any peer does at least), then the folder is discarded."""
    discard(folder)
    start = time.perf_counter()
    for package, files in contents.items():
        for path, body in files.items():
            target = folder / package / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "xb") as out:
                out.write(body)
    seconds = time.perf_counter() - start
    discard(folder)
    return seconds


def check_file(peer_dest: Path, package: str, path: str, want: bytes, peer: str) -> None:
    """The peer's folder serves the new bytes (aws/S3Hook mirror <env>/, so files sit under dags/)."""
    candidates = [peer_dest / package / path, peer_dest / package / "dags" / path]
    if not any(c.exists() and c.read_bytes() == want for c in candidates):
        raise RuntimeError(f"{peer}: {package}/{path} does not hold the new bytes after its sync")


def measure(s3: SeaweedFS, root: Path, changes: ChangePublisher, *, packages: int, files: int, reps: int,
            cold_reps: int, workers: int, propagation: int, interval: float) -> list[Row]:
    peers = Peers(s3, root, workers)
    peers.warm_hook()
    order = [AGENT, ONCE, AWS, HOOK]
    rows: dict[tuple[str, str, str], Row] = {}

    def record(scenario: str, peer: str, seconds: float, requests: float, note: str = "") -> None:
        for unit, value in (("s", seconds), ("requests", requests)):
            key = (scenario, peer, unit)
            rows.setdefault(key, Row("sync", scenario, peer, unit, reference=AGENT, note=note)).values.append(value)

    cold = f"cold sync ({packages:,} packages x {files} files, empty folder)"
    for rep in range(cold_reps):
        for peer in order[rep % 2:] + order[:rep % 2]:  # ABAB: rotate who goes first
            if peer == HOOK and rep > 0:  # one run: two minutes each, and no target depends on it
                continue
            peers.reset(peer)
            log(f"cold sync {rep + 1}/{cold_reps}: {peer}")
            attempts = 1
            with counted(s3, BUCKET) as c:
                if peer == AGENT:
                    attempts = peers.agent_until_complete()
                elif peer == ONCE:
                    attempts = peers.once_until_complete()
                else:
                    peers.run(peer)()
            record(cold, peer, c["seconds"], c["requests"])
            if attempts > 1:
                note = f"{attempts} {'cycles' if peer == AGENT else 'process runs'}: the earlier ones hit the " \
                       "shipped --cycle-timeout of 120 s"
                for unit in ("s", "requests"):
                    rows[(cold, peer, unit)].note = note
    # The floor every peer shares: the same files written into new folders by a plain loop.
    for rep in range(cold_reps):
        log(f"cold sync {rep + 1}/{cold_reps}: {FLOOR}")
        record(cold, FLOOR, write_files_only(root / "floor", changes.contents), float("nan"))
    # leave every peer warm (the last cold sync of each is its folder)
    checks: list[tuple[int, float]] = []  # (agent's own botocore count, server count) per in-process cycle
    noop = "no-change cycle (warm folder)"
    for rep in range(reps):
        for peer in order[rep % 2:] + order[:rep % 2] + [AGENT_RECONCILE]:
            with counted(s3, BUCKET) as c:
                if peer == AGENT_RECONCILE:
                    peers.agent_cycle(reconcile=True)
                elif peer == AGENT:
                    own = peers.agent_cycle(reconcile=False)
                else:
                    peers.run(peer)()
            record(noop, peer, c["seconds"], c["requests"])
            if peer == AGENT:
                checks.append((own, c["requests"]))
    task = TASK_POD.format(packages=packages)
    for rep in range(reps):
        dag = dag_id(package_name((packages // 2 + 37 * rep) % packages))
        with counted(s3, BUCKET) as c:
            peers.once_dag(dag)
        record(task, ONCE_DAG, c["seconds"], c["requests"])
        held = sorted(p.name for p in peers.dest(ONCE_DAG).iterdir() if p.name != ".airflowignore")
        if held != [dag.rsplit("_dag_", 1)[0]]:
            raise RuntimeError(f"--once --dag-id {dag} synced {held[:5]}, not only the owning package")
    changed = "one changed file (1 package, 1 file)"
    for rep in range(reps):
        package = package_name(rep % packages)
        path, data, _ = changes.change(package)
        for peer in order[rep % 2:] + order[:rep % 2]:
            with counted(s3, BUCKET) as c:
                if peer == AGENT:
                    own = peers.agent_cycle(reconcile=False)
                else:
                    peers.run(peer)()
            record(changed, peer, c["seconds"], c["requests"])
            if peer == AGENT:
                checks.append((own, c["requests"]))
            check_file(peers.dest(peer), package, path, data, peer)
    peers.close()
    mismatched = [(own, server) for own, server in checks if own != server]
    if mismatched:
        log(f"note: the agent's own request counter and the server's differ: {mismatched}")
    extra_rows = list(rows.values())
    extra_rows += propagation_rows(root, peers.dest(ONCE), changes, packages=packages, count=propagation,
                                   interval=interval)
    return extra_rows


TASK_POD = "task pod start ({packages:,} packages; --once --dag-id syncs the owning package, empty folder)"
GROWTH_COLD = "cold sync (empty folder)"
GROWTH_TASK = "task pod start (--once --dag-id)"
GROWTH_NOOP = "no-change cycle (warm folder)"


def growth_rows(s3: SeaweedFS, root: Path, *, packages: int, reps: int, workers: int,
                main: list[Row] | None = None) -> list[Row]:
    """One point of the growth series: the bucket holds `packages` packages. Cold sync (`--once`, a
    pod's init container, against `aws s3 sync`), a task pod's `--once --dag-id`, and a no-change
    cycle (the running agent's, a `--once` over a warm folder, `aws s3 sync`'s), time and requests.
    At the main scale the figures come from the main measurement (`main`) instead."""
    rows: dict[tuple[str, str, str], Row] = {}

    def record(scenario: str, peer: str, seconds: float, requests: float) -> None:
        for unit, value in (("s", seconds), ("requests", requests)):
            rows.setdefault((scenario, peer, unit), Row("growth", scenario, peer, unit, reference=AWS,
                                                        packages=packages)).values.append(value)

    if main is not None:
        pick = {GROWTH_COLD: ("cold sync", (AGENT, ONCE, AWS)), GROWTH_TASK: ("task pod start", (ONCE_DAG,)),
                GROWTH_NOOP: ("no-change cycle", (AGENT, ONCE, AWS))}
        for scenario, (prefix, peers_) in pick.items():
            for r in main:
                if r.scenario.startswith(prefix) and r.peer in peers_:
                    rows[(scenario, r.peer, r.unit)] = Row("growth", scenario, r.peer, r.unit, list(r.values),
                                                           reference=AWS, packages=packages)
        return list(rows.values())
    peers = Peers(s3, root, workers)
    log(f"growth series at {packages:,} packages")
    for peer in (ONCE, AWS):
        peers.reset(peer)
        with counted(s3, BUCKET) as c:
            peers.once_until_complete() if peer == ONCE else peers.aws()
        record(GROWTH_COLD, peer, c["seconds"], c["requests"])
    for rep in range(reps):
        with counted(s3, BUCKET) as c:
            peers.once_dag(dag_id(package_name((packages // 2 + 37 * rep) % packages)))
        record(GROWTH_TASK, ONCE_DAG, c["seconds"], c["requests"])
    agent = SyncAgent(AgentConfig(bucket=BUCKET, env=ENV, workers=workers),
                      Storage(BUCKET, make_client(max_pool=max(10, workers + 2))), Layout(peers.dest(ONCE)))
    agent.open()
    try:
        agent.run_cycle(reconcile=True)  # the running agent's start: nothing to do over the warm folder
        for rep in range(reps):
            for peer in [AGENT, ONCE, AWS][rep % 3:] + [AGENT, ONCE, AWS][:rep % 3]:
                with counted(s3, BUCKET) as c:
                    if peer == AGENT:
                        agent.run_cycle(reconcile=False)
                    elif peer == ONCE:
                        agent.close()  # the folder's lock: the --once process takes it
                        peers.once()
                        agent.open()
                    else:
                        peers.aws()
                record(GROWTH_NOOP, peer, c["seconds"], c["requests"])
    finally:
        agent.close()
    discard(root)
    return list(rows.values())


def propagation_rows(root: Path, dags: Path, changes: ChangePublisher, *, packages: int, count: int,
                     interval: float) -> list[Row]:
    """The agent process with its shipped interval over a warm folder: publish commit -> file live."""
    log_path = root / "agent-interval.log"
    scenario = f"one changed file, agent process at its shipped --interval {interval:g} s"
    live = Row("sync", scenario, "publish commit -> new bytes in the DAGs folder", "s")
    cycle = Row("sync", scenario, "duration of the cycle that applied it", "s")
    port = free_port()
    with open(log_path, "ab") as out:
        proc = subprocess.Popen([str(BIN / "airflow-dag-sync"), "--bucket", BUCKET, "--env", ENV, "--dags-dir",
                                 str(dags), "--interval", f"{interval:g}", "--log-format", "json",
                                 "--metrics-port", str(port), "--metrics-address", "127.0.0.1"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(lambda: proc.poll() is not None or _ready(port), 120, "the agent's /readyz")
        if proc.poll() is not None:
            raise RuntimeError(f"the agent process exited {proc.returncode}; see {log_path}")
        rng = random.Random(7)
        for rep in range(count):
            package = package_name((rep + 97) % packages)
            time.sleep(rng.uniform(0, interval))  # land anywhere in the agent's cycle
            path, data, committed = changes.change(package)
            target = dags / package / path
            _wait(lambda t=target, w=data: _holds(t, w), 60 + 2 * interval, f"{package}/{path} live")
            live.values.append(time.time() - committed)
            log(f"propagation {rep + 1}/{count}: {live.values[-1]:.2f} s")
        time.sleep(0.5)
        for line in log_path.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("msg") == "cycle success" and event.get("applied"):
                cycle.values.append(float(event["seconds"]))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.returncode not in (0, -15):
        raise RuntimeError(f"the agent process exited {proc.returncode}; see {log_path}")
    cycle.note = f"{len(cycle.values)} applying cycles; target <= 1 s"
    return [live, cycle]


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _holds(path: Path, want: bytes) -> bool:
    try:
        return path.read_bytes() == want
    except OSError:
        return False


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.005)
    raise TimeoutError(f"{what}: not within {timeout:g} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--files", type=int, default=20, help="files per package (default 20)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of the no-change and changed-file cycles")
    parser.add_argument("--cold-reps", type=int, default=3,
                        help="cold syncs of each peer, S3Hook's once (default 3; the tables show medians)")
    parser.add_argument("--propagation", type=int, default=5, help="publishes timed with the agent running")
    parser.add_argument("--workers", type=int, default=8, help="the agent's parallel downloads (default 8, shipped)")
    parser.add_argument("--series", default="100,300,1000,3000",
                        help="the growth series: package counts, comma-separated (default 100,300,1000,3000; "
                             "the --packages scale is measured once, by the main measurement; '' for none)")
    parser.add_argument("--series-reps", type=int, default=3, help="runs of each no-change and --dag-id figure "
                        "of the growth series (default 3)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    if not (1 <= args.packages <= 5000 and 1 <= args.files <= 200 and args.reps >= 1 and args.cold_reps >= 1):
        parser.error("--packages 1..5000, --files 1..200, --reps and --cold-reps >= 1")
    try:
        series = sorted({int(n) for n in args.series.split(",") if n.strip()})
    except ValueError:
        parser.error(f"--series {args.series!r}: package counts, comma-separated")
    if any(not 1 <= n <= 5000 for n in series) or args.series_reps < 1:
        parser.error("--series counts 1..5000, --series-reps >= 1")
    interval = float(load_settings().sync_env.get("DAGSYNC_INTERVAL", "5"))
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        root = Path(tmp)
        _isolate(root)
        s3 = start_seaweedfs(root / "seaweedfs")
        try:
            os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps({
                "conn_type": "aws", "login": s3.env()["AWS_ACCESS_KEY_ID"],
                "password": s3.env()["AWS_SECRET_ACCESS_KEY"],
                "extra": {"endpoint_url": s3.endpoint, "region_name": s3.env()["AWS_DEFAULT_REGION"]}})
            s3.create_bucket(BUCKET, environments=(ENV,))
            rows: list[Row] = []
            changes = ChangePublisher({})
            held = 0
            for size in sorted({*series, args.packages}):  # the bucket grows; each scale is measured once
                log(f"publishing packages {held}..{size - 1} x {args.files} files")
                start = time.monotonic()
                changes.contents.update(populate(size, args.files, start=held))
                held = size
                log(f"published in {time.monotonic() - start:.0f} s")
                main_rows = None
                if size == args.packages:
                    main_rows = measure(s3, root / "peers", changes, packages=size, files=args.files,
                                        reps=args.reps, cold_reps=args.cold_reps, workers=args.workers,
                                        propagation=args.propagation, interval=interval)
                    rows += main_rows
                if size in series:
                    rows += growth_rows(s3, root / f"growth-{size}", packages=size, reps=args.series_reps,
                                        workers=args.workers, main=main_rows)
        finally:
            s3.close()
    for row in rows:
        print(f"{row.scenario:<58} {row.peer:<44} {row.median:10.3f} {row.unit}")
    write_rows(args.json, rows, {"params": {"packages": args.packages, "files": args.files, "reps": args.reps,
                                            "cold_reps": args.cold_reps, "workers": args.workers,
                                            "interval": interval, "propagation": args.propagation,
                                            "series": series, "series_reps": args.series_reps}})
    return 0


def _isolate(root: Path) -> None:
    """A private AIRFLOW_HOME (S3Hook), nothing outside `root`. (start_seaweedfs removes the
    caller's AWS settings from os.environ.)"""
    (root / "airflow-home").mkdir(parents=True)
    os.environ.update({"AIRFLOW_HOME": str(root / "airflow-home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})


if __name__ == "__main__":
    sys.exit(main())
