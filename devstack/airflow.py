"""Start and stop real Airflow 3 components for tests and the demo, with the DAG-processing
configuration and the cluster policies we ship, and read back what Airflow serialized.

    stack = AirflowStack(home, dags_folder)          # AIRFLOW_HOME in `home`, sqlite DB there
    stack.start()                                    # `airflow db migrate`, then the components
    stack.wait_for_dags({"alpha_daily"}, timeout=60)
    stack.serialized_dag_ids(); stack.import_errors(); stack.dag_filelocs()
    stack.stop()

Each component runs in its own process group with its log in `<home>/logs/<component>.log`;
every wait is bounded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from devstack.demo_config import FLEET_MODULE, load_settings
from devstack.local_env import local_env

# What we ship for every component that parses DAGs (see infra/airflow, docs/airflow/OPERATIONS.md
# "Parsing at fleet scale"): the dag-processor parses what the agent changed, not the whole fleet.
# Read once from the Helm values (infra/airflow/k8s), so tests and the demo run Airflow as production does.
_SHIPPED = load_settings()
# AIRFLOW__* settings exactly as the values set them (the executor is each stack's own)
SHIPPED_CONFIG: dict[str, str] = {k: v for k, v in _SHIPPED.airflow_env().items() if k != "AIRFLOW__CORE__EXECUTOR"}
# `airflowLocalSettings`: the airflow_local_settings.py (cluster policies) the chart mounts at
# $AIRFLOW_HOME/config/ in every Airflow container
SHIPPED_LOCAL_SETTINGS: str = _SHIPPED.local_settings
# the parse-requests process beside the dag-processor: (its command after `airflow`, its own settings)
SHIPPED_PARSE_REQUESTS: tuple[str, dict[str, str]] | None = _SHIPPED.parse_requests
# every dag-processor runs as `python -m airflow_dag_publisher.dag_processor` (dagProcessor.args)
SHIPPED_FLEET_MANAGER: bool = _SHIPPED.fleet_manager


def bundle_config_list(packages_file: Path, *, env: str, bucket: str, dags_dir: Path, state_dir: Path,
                       trust_file: Path | None = None, require_signatures: bool = False) -> str:
    """`[dag_processor] dag_bundle_config_list` for a local stack's folders: the output of the command the
    Helm values' copies come from, `python -m airflow_dag_publisher.bundle config`."""
    cmd = [sys.executable, "-m", "airflow_dag_publisher.bundle", "config", "--packages-file", str(packages_file),
           "--env", env, "--bucket", bucket, "--dags-dir", str(dags_dir), "--state-dir", str(state_dir)]
    if trust_file is not None:
        cmd += ["--trust-file", str(trust_file)]
    if require_signatures:
        cmd.append("--require-signatures")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:4])} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip()


def airflow_binary() -> str:
    here = Path(sys.executable).parent / "airflow"
    return str(here) if here.exists() else "airflow"


class AirflowStack:
    """Real Airflow components over one DAGs folder, with a private AIRFLOW_HOME and sqlite DB."""

    dropped_prefixes: tuple[str, ...] = ("AIRFLOW__",)   # of the caller's variables, besides AWS_*

    def __init__(self, home: str | Path, dags_folder: str | Path, *,
                 components: Sequence[str] = ("dag-processor",), config: Mapping[str, str] | None = None,
                 local_settings: str | None = None, start_timeout: float = 180.0,
                 component_config: Mapping[str, Mapping[str, str]] | None = None,
                 parse_requests: tuple[str, Mapping[str, str]] | bool | None = True,
                 fleet_manager: bool | None = None) -> None:
        self.home = Path(home).absolute()
        self.dags_folder = Path(dags_folder).absolute()
        self.components = tuple(components)
        self.config = {**SHIPPED_CONFIG, **(config or {})}
        # settings of one component only (its command line -> AIRFLOW__* values), over `config`
        self.component_config = {c: dict(v) for c, v in (component_config or {}).items()}
        # A dag-processor comes with the parse-requests process beside it, as in the Helm values' pod
        # (True: the shipped one; False or None: none; or (command, settings)).
        feed = SHIPPED_PARSE_REQUESTS if parse_requests is True else parse_requests or None
        self.parse_requests = (feed[0], dict(feed[1])) if feed else None
        # `dag-processor ...` components run as the values run them: Airflow's command with the fleet
        # manager (airflow_dag_publisher.dag_processor), unless False (Airflow's own, the bench's stock peer)
        self.fleet_manager = SHIPPED_FLEET_MANAGER if fleet_manager is None else fleet_manager
        # airflow_local_settings.py: the shipped cluster policies unless given ("" for none)
        self.local_settings = SHIPPED_LOCAL_SETTINGS if local_settings is None else local_settings
        self.start_timeout = start_timeout
        self.log_dir = self.home / "logs"
        self.db_path = self.home / "airflow.db"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def env(self) -> dict[str, str]:
        """The components' environment: the caller's, without its Airflow settings (AIRFLOW__*) and
        its AWS settings (devstack.local_env), plus this stack's configuration."""
        env = local_env(drop_prefixes=self.dropped_prefixes)
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db_path}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.log_dir / "tasks"),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(self.home / "dag-bundles"),
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.config)
        return env

    @property
    def local_settings_path(self) -> Path:
        """Where Airflow imports airflow_local_settings from: $AIRFLOW_HOME/config, as the chart mounts it."""
        return self.home / "config" / "airflow_local_settings.py"

    def write_local_settings(self) -> None:
        path = self.local_settings_path
        if self.local_settings:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.local_settings, encoding="utf-8")
        else:
            path.unlink(missing_ok=True)

    def migrate(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        self.write_local_settings()
        with open(self.log_dir / "db-migrate.log", "ab") as log:
            done = subprocess.run([airflow_binary(), "db", "migrate"], env=self.env(), stdout=log,
                                  stderr=subprocess.STDOUT, timeout=self.start_timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed ({done.returncode}); last lines of "
                               f"{self.log_path('db-migrate')}:\n{self.log_tail('db-migrate')}")

    def start(self) -> AirflowStack:
        if not self.db_path.exists():
            self.migrate()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.write_local_settings()
        for component in self.started_components():
            log = open(self.log_path(component), "ab")  # noqa: SIM115 - kept open for the child's lifetime
            env = {**self.env(), **self.component_config.get(component, {})}
            if self.parse_requests and component == self.parse_requests[0]:
                env = {**env, **self.parse_requests[1], **self.component_config.get(component, {})}
            self.procs[component] = subprocess.Popen(
                self.argv(component), env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()
        return self

    def argv(self, component: str) -> list[str]:
        """The command line of a component (`dag-processor --bundle-name x`, `scheduler`, ...)."""
        words = component.split()
        if self.fleet_manager and words[:1] == ["dag-processor"]:
            return [sys.executable, "-m", FLEET_MODULE, *words[1:]]
        return [airflow_binary(), *words]

    def shown(self, component: str) -> str:
        """The component's command as a person would type it."""
        argv = self.argv(component)
        return " ".join(["python" if argv[0] == sys.executable else "airflow", *argv[1:]])

    def started_components(self) -> tuple[str, ...]:
        """The components, and the parse-requests process beside a dag-processor."""
        if self.parse_requests and "dag-processor" in self.components and self.parse_requests[0] not in self.components:
            return (*self.components, self.parse_requests[0])
        return self.components

    def log_path(self, component: str) -> Path:
        name = component.replace(" ", "-")
        if len(name) > 80:  # a dag-processor given hundreds of --bundle-name: a file name has 255 bytes
            name = f"{name[:60]}-{hashlib.sha256(component.encode()).hexdigest()[:12]}"
        return self.log_dir / f"{name}.log"

    def log_text(self, component: str = "dag-processor") -> str:
        path = self.log_path(component)
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, component: str, lines: int = 15) -> str:
        return "\n".join(self.log_text(component).splitlines()[-lines:]) or "(the log is empty)"

    def check_running(self) -> None:
        """Raise, with the last lines of its log, when a component has exited."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{self.shown(name)} exited with {proc.returncode}; last lines of "
                                   f"{self.log_path(name)}:\n{self.log_tail(name)}")

    def stop(self, timeout: float = 20.0) -> None:
        procs, self.procs = self.procs, {}
        for proc in procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for proc in procs.values():  # parse workers left behind in the group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    # -- what Airflow recorded ------------------------------------------------------------------
    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        if not self.db_path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return list(conn.execute(sql, tuple(args)))
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            conn.close()

    def serialized_dag_ids(self) -> set[str]:
        return {row[0] for row in self._query("SELECT DISTINCT dag_id FROM serialized_dag")}

    def serialized_dag(self, dag_id: str) -> dict[str, Any] | None:
        """The newest serialized form of a DAG (JSON), or None."""
        rows = self._query("SELECT data, data_compressed FROM serialized_dag WHERE dag_id = ? "
                           "ORDER BY created_at DESC LIMIT 1", [dag_id])
        if not rows:
            return None
        data, compressed = rows[0]
        if data is None and compressed is not None:
            data = zlib.decompress(compressed)
        loaded: dict[str, Any] = json.loads(data)
        return loaded

    def serialized_version(self, dag_id: str) -> tuple[dict[str, Any] | None, str | None]:
        """The newest serialized form of a DAG and the bundle version its DAG version records (one read)."""
        rows = self._query("SELECT s.data, s.data_compressed, v.bundle_version FROM serialized_dag s "
                           "JOIN dag_version v ON v.id = s.dag_version_id WHERE s.dag_id = ? "
                           "ORDER BY s.created_at DESC LIMIT 1", [dag_id])
        if not rows:
            return None, None
        data, compressed, version = rows[0]
        if data is None and compressed is not None:
            data = zlib.decompress(compressed)
        return json.loads(data), version

    def task_ids(self, dag_id: str) -> set[str]:
        found = self.serialized_dag(dag_id)
        if not found:
            return set()
        return {t.get("__var", t).get("task_id") for t in found["dag"]["tasks"]}

    def dag_filelocs(self) -> dict[str, str]:
        return {row[0]: row[1] for row in self._query("SELECT dag_id, fileloc FROM dag")}

    def last_parsed(self) -> dict[str, str]:
        """dag_id -> when a parse of its file last wrote it (the dag table's last_parsed_time, as stored)."""
        return {row[0]: str(row[1]) for row in self._query("SELECT dag_id, last_parsed_time FROM dag")}

    def stale_dag_ids(self) -> set[str]:
        """DAGs Airflow deactivated (their file is gone, or no longer defines them)."""
        return {row[0] for row in self._query("SELECT dag_id FROM dag WHERE is_stale")}

    def import_errors(self) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in self._query("SELECT filename, stacktrace FROM import_error")]

    def wait_for(self, predicate: Any, timeout: float, interval: float = 0.25) -> float:
        """Poll `predicate()` until true; returns the seconds waited; raises TimeoutError."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            self.check_running()
            if predicate():
                return time.monotonic() - start
            time.sleep(interval)
        raise TimeoutError(f"condition not met within {timeout:g}s; see {self.log_dir}")

    def wait_for_dags(self, dag_ids: set[str], timeout: float = 60.0) -> float:
        return self.wait_for(lambda: dag_ids <= self.serialized_dag_ids(), timeout)

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
