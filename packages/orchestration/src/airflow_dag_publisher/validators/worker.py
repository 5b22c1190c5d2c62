"""The Airflow parse worker: a separate process that imports Airflow once, then judges one DAG file
per request exactly as the dag-processor parses it (`BundleDagBag` over `<dags>/<package>/<path>`,
the DAGs folder on `sys.path`, Airflow's own import timeout).

Like the dag-processor, the worker forks one child per file (after Airflow is imported, so a file
costs a fork, not an interpreter start): modules a file loads vanish with its child, and a file
that exits the interpreter, kills itself or outlives the import timeout (plus a grace period) only
loses its child, which becomes that file's error.

Protocol (JSON lines): the parent writes the configuration, the worker answers
`{"ready": true, "airflow_version": ...}` (or `{"ready": false, "error": ...}`); then for each
`{"file": "<path in package>"}` it answers `{"file", "dag_ids", "findings": [[rule, severity,
message]], "seconds"}`. Anything the DAG file prints goes to stderr, never into the protocol.

The cluster policy's rules run on every DAG the file defines, through the functions Airflow's
`dag_policy`/`task_policy` call (config `cluster`: the package list's data), so a refusal reads as the
import error Airflow would record for it, without the `AirflowClusterPolicyViolation: ` prefix.

Run as `python -P -m airflow_dag_publisher.validators.worker` (no current directory on sys.path).
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

from airflow_dag_publisher.policy.cluster_policy import Cluster
from airflow_dag_publisher.validators.built_checks import dag_problems, starts_paused
from airflow_dag_publisher.validators.model import ERROR, WARNING

_WARM_UP = ("airflow.sdk", "airflow.providers.cncf.kubernetes.operators.pod", "kubernetes.client.models",
            "airflow.providers.standard.operators.empty", "pendulum")


class Judge:
    def __init__(self, config: dict[str, Any]) -> None:
        self.dags = Path(config["dags_folder"])
        self.package: str = config["package"]
        self.others = frozenset(config.get("other_packages", ()))
        self.cluster = Cluster.from_dict(config.get("cluster") or {})
        self.slow = float(config.get("slow_seconds", 2.0))
        self.timeout = float(config.get("timeout", 30.0))
        from importlib import import_module

        import airflow
        from airflow.configuration import conf
        from airflow.dag_processing.dagbag import BundleDagBag
        from airflow.serialization.serialized_objects import DagSerialization

        self.version = airflow.__version__
        # what a new DAG that does not say is_paused_upon_creation gets (Airflow's DagModel reads the same)
        self.paused_at_creation = conf.getboolean("core", "dags_are_paused_at_creation")
        self.bag_class, self.serialization = BundleDagBag, DagSerialization
        self.kpo: type | None = None
        for name in _WARM_UP:
            try:
                module = import_module(name)
            except ImportError:
                continue
            if name.endswith("operators.pod"):
                self.kpo = module.KubernetesPodOperator
        if str(self.dags) not in sys.path:
            sys.path.insert(0, str(self.dags))
        self._warm_up()

    def _warm_up(self) -> None:
        """Build and serialize one DAG now, so that each forked child does not redo Airflow's lazy
        imports; then freeze the heap so forks share it (as the dag-processor does)."""
        try:
            from airflow.sdk import DAG

            with DAG(dag_id=f"{self.package}_warm_up", schedule=None) as dag:
                if self.kpo is not None:
                    self.kpo(task_id="warm_up", image="warm-up:1", namespace="etl-jobs")
            self.serialization.to_dict(dag)
            list(dag_problems(dag, self.cluster, self.others))
        except Exception as exc:  # a warm-up failure only costs time
            print(f"warm-up failed: {exc}", file=sys.stderr)
        gc.freeze()

    def judge(self, rel: str) -> dict[str, Any]:
        path = self.dags / self.package / rel
        before = set(sys.modules)
        start = time.perf_counter()
        bag = self.bag_class(dag_folder=str(path), bundle_path=self.dags, bundle_name="dags-folder",
                             load_op_links=False)
        seconds = time.perf_counter() - start
        loaded = {name: sys.modules[name] for name in set(sys.modules) - before if name in sys.modules}
        findings: list[tuple[str, str, str]] = []
        for message in bag.import_errors.values():
            findings.append(_import_error(str(message).replace(str(self.dags), "<dags>")))
        dags = list(bag.dags.values())
        for dag in dags:
            try:
                self.serialization.to_dict(dag)
            except Exception as exc:  # Airflow turns this into an import error too
                findings.append(("serialization", ERROR, f"dag {dag.dag_id!r} does not serialize: {exc}"))
            for rule, message in dag_problems(dag, self.cluster, self.others):
                findings.append((rule, ERROR, message))
            if paused := starts_paused(dag, self.paused_at_creation):
                findings.append(("starts-paused", WARNING, paused))
        for dag_id, count in Counter(d.dag_id for d in dags).items():
            if count > 1:
                findings.append(("duplicate-dag-id", ERROR, f"dag_id {dag_id!r} is defined {count} times"))
        findings.extend(self._foreign_modules(loaded))
        if seconds > self.slow and not any(rule == "timeout" for rule, _, _ in findings):
            findings.append(("slow-parse", WARNING, f"Airflow took {seconds:.1f}s to parse the file "
                             f"(over {self.slow:g}s); every component re-parses it every few minutes"))
        return {"file": rel, "dag_ids": sorted({d.dag_id for d in dags}), "findings": findings,
                "seconds": seconds}

    def _foreign_modules(self, loaded: dict[str, Any]) -> list[tuple[str, str, str]]:
        found = []
        for name, module in sorted(loaded.items()):
            top = name.split(".", 1)[0]
            location = getattr(module, "__file__", None) or ""
            owner = _owner(Path(location), self.dags) if location else None
            if top in self.others or (owner is not None and owner != self.package):
                found.append(("cross-package-import", ERROR, f"imports {name!r} of package {owner or top!r}: "
                              "a package may only import its own modules"))
        return found


def _owner(path: Path, dags: Path) -> str | None:
    try:
        parts = path.resolve().relative_to(dags.resolve()).parts
    except (ValueError, OSError):
        return None
    return parts[0] if parts else None


def _import_error(message: str) -> tuple[str, str, str]:
    lines = [line for line in message.strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "import failed"
    frames = [ln.strip() for ln in lines if ln.strip().startswith('File "')]
    where = next((f for f in reversed(frames) if '"<dags>/' in f), frames[-1] if frames else "")
    if "AirflowDagCycleException" in message or "Cycle detected" in message:
        return ("cycle", ERROR, last)
    if "AirflowTaskTimeout" in message or "DagBag import timeout" in message:
        return ("timeout", ERROR, "import did not finish within the import timeout (dagbag_import_timeout); "
                "the dag-processor would stop it the same way")
    detail = f" ({where})" if where else ""
    return ("import", ERROR, f"{last}{detail}"[:1000])


def _send(out: IO[str], doc: dict[str, Any]) -> None:
    out.write(json.dumps(doc) + "\n")
    out.flush()


def _failed(rel: str, rule: str, message: str, seconds: float = 0.0) -> dict[str, Any]:
    return {"file": rel, "dag_ids": [], "seconds": seconds, "findings": [(rule, ERROR, message)]}


def judge_in_child(judge: Judge, rel: str, hard_seconds: float) -> dict[str, Any]:
    """Fork, judge `rel` in the child, and collect its answer within `hard_seconds`."""
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: judge, answer, and leave without running any cleanup of the parent's
        os.close(read_fd)
        code = 0
        try:
            doc = judge.judge(rel)
        except BaseException as exc:  # sys.exit in a DAG file is that file's error
            doc = _failed(rel, "import", f"the parse failed: {type(exc).__name__}: {exc}")
        try:
            with os.fdopen(write_fd, "w") as pipe:
                pipe.write(json.dumps(doc))
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_fd)
    data = _read_all(read_fd, start + hard_seconds)
    status = _reap(pid, start + hard_seconds + 5)
    elapsed = time.monotonic() - start
    if data is None:
        return _failed(rel, "timeout", f"import did not finish within {hard_seconds:g}s (import timeout "
                       f"{judge.timeout:g}s) and was killed; the dag-processor would stop it too", elapsed)
    try:
        answer: dict[str, Any] = json.loads(data)
        return answer
    except ValueError:
        return _failed(rel, "worker-died", f"importing the file ended its interpreter ({status}); Airflow "
                       "would lose the parse the same way")


def _read_all(fd: int, deadline: float) -> bytes | None:
    """Everything the child writes until it closes the pipe; None past the deadline."""
    chunks: list[bytes] = []
    try:
        for _ in range(10_000_000):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
        return None
    finally:
        os.close(fd)


def _reap(pid: int, deadline: float) -> str:
    """Wait for the child (killing it if it is still running) and describe how it ended."""
    for _ in range(100_000):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(status):
                return f"killed by signal {os.WTERMSIG(status)}"
            return f"exit status {os.waitstatus_to_exitcode(status)}"
        if time.monotonic() >= deadline - 5:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)
    return "unknown"


def main() -> int:
    out = os.fdopen(os.dup(1), "w")  # the protocol channel
    os.dup2(2, 1)  # prints of DAG files go to stderr
    sys.stdout = sys.stderr
    config = json.loads(sys.stdin.readline() or "{}")
    try:
        judge = Judge(config)
    except Exception as exc:  # reported to the parent, which skips the dynamic layer
        _send(out, {"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    _send(out, {"ready": True, "airflow_version": judge.version})
    hard_seconds = float(config.get("hard_seconds", judge.timeout + 2))
    for _ in range(10_000_000):
        line = sys.stdin.readline()
        if not line:
            return 0
        _send(out, judge_in_child(judge, json.loads(line)["file"], hard_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
