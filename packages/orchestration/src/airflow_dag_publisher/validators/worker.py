"""The Airflow parse worker: a separate process that imports Airflow once, then judges one DAG file
per request exactly as the dag-processor parses it (`BundleDagBag` over `<dags>/<package>/<path>`,
the DAGs folder on `sys.path`, Airflow's own import timeout).

Files are judged in children forked after Airflow is imported (a file costs part of a fork, not an
interpreter start), up to `parallel` children at once. A child judges a batch of files one after the
other: a fresh fork costs tens of milliseconds in copy-on-write faults alone, several times the
parse itself. Between two files of a batch the child drops the modules the file loaded from the DAGs
folder (and any module named like another package) and restores `sys.path`, the environment, the
working directory and the signal handlers, so the next file imports its own modules and sees the
start state. A file that exits the interpreter, kills its child or outlives the import timeout (plus
a grace period) ends that child; it is then judged again alone, in a fresh child, and only an end
there becomes that file's error, while the rest of the batch goes on in another child.

Protocol (JSON lines): the parent writes the configuration, the worker answers
`{"ready": true, "airflow_version": ...}` (or `{"ready": false, "error": ...}`); then for each
`{"files": ["<path in package>", ...]}` it answers, per file, as each is judged (in any order),
`{"file", "dag_ids", "findings": [[rule, severity, message]], "seconds"}`. (`{"file": path}` is a
batch of one.) Anything a DAG file prints goes to stderr, never into the protocol.

The cluster policy's rules run on every DAG the file defines, through the functions Airflow's
`dag_policy`/`task_policy` call (config `cluster`: the package list's data), so a refusal reads as the
import error Airflow would record for it, without the `AirflowClusterPolicyViolation: ` prefix.

Run as `python -P -m airflow_dag_publisher.validators.worker` (no current directory on sys.path).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from airflow_dag_publisher.policy.cluster_policy import Cluster
from airflow_dag_publisher.validators.built_checks import dag_problems, starts_paused, task_images
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
            for rule, message in dag_problems(dag, self.cluster, self.others, self.package):
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
                "seconds": seconds, "images": task_images(dags)}

    def owns(self, name: str, module: Any) -> bool:
        """A module a DAG file's parse brought in that the next file of a batch must not find loaded: the
        DAG file itself, any module from the DAGs folder, and any module named like another package."""
        location = getattr(module, "__file__", None) or ""
        return (name.startswith("unusual_prefix_") or name.split(".", 1)[0] in self.others
                or (bool(location) and _owner(Path(location), self.dags) is not None))

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


BATCH_MAX = 50  # files one child judges at most, one after the other
_RESET_SIGNALS = (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE)


@dataclass
class _Child:
    """A forked child judging `files` in order; `answered` of them are done."""

    pid: int
    fd: int
    files: list[str]
    alone: bool  # a file judged again in a child of its own
    started: float  # monotonic start of the file being judged now
    answered: int = 0
    buffer: bytes = b""

    @property
    def current(self) -> str:
        return self.files[self.answered]


def judge_all(judge: Judge, files: list[str], hard_seconds: float, parallel: int,
              send: Callable[[dict[str, Any]], None]) -> None:
    """Judge every file in forked children, at most `parallel` at once; `send` each answer as soon as
    its file is judged. A file whose child ends (exit, signal) or that overruns `hard_seconds` is
    judged again alone; the files after it in its batch go to another child."""
    todo = deque(files)
    again: deque[str] = deque()
    running: dict[int, _Child] = {}
    batch = max(1, min(BATCH_MAX, -(-len(files) // max(1, parallel))))
    for _ in range(10 * len(files) + 10):
        while len(running) < max(1, parallel) and (again or todo):
            chunk, alone = ([again.popleft()], True) if again else (
                [todo.popleft() for _ in range(min(batch, len(todo)))], False)
            child = _fork(judge, chunk, alone)
            running[child.fd] = child
        if not running:
            return
        wait = min(c.started + hard_seconds for c in running.values()) - time.monotonic()
        ready = select.select(list(running), [], [], max(0.0, wait))[0]
        for fd in ready:
            child = running[fd]
            data = os.read(fd, 1 << 16)
            child.buffer += data
            while b"\n" in child.buffer and child.answered < len(child.files):
                line, child.buffer = child.buffer.split(b"\n", 1)
                try:
                    answer = json.loads(line)
                except ValueError:  # the DAG file wrote into the protocol pipe: its child is done for
                    data = b""
                    break
                send(answer)
                child.answered += 1
                child.started = time.monotonic()
            if not data or child.answered == len(child.files):
                del running[fd]
                _end(child, judge, hard_seconds, again, todo, send, overran=False)
        now = time.monotonic()
        for fd, child in list(running.items()):
            if now - child.started > hard_seconds:
                del running[fd]
                _end(child, judge, hard_seconds, again, todo, send, overran=True)
    raise RuntimeError("judge_all: too many rounds")  # unreachable: every round answers or requeues a file


def _fork(judge: Judge, files: list[str], alone: bool) -> _Child:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: judge, answer, and leave without running any cleanup of the parent's
        os.close(read_fd)
        code = 0
        try:
            with os.fdopen(write_fd, "w") as pipe:
                for rel in files:
                    pipe.write(json.dumps(_judge_isolated(judge, rel)) + "\n")
                    pipe.flush()
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_fd)
    return _Child(pid, read_fd, files, alone, time.monotonic())


def _judge_isolated(judge: Judge, rel: str) -> dict[str, Any]:
    """Judge one file of a batch, then undo what it left behind for the next file."""
    modules = set(sys.modules)
    path, environ, cwd = list(sys.path), dict(os.environ), os.getcwd()
    handlers = {sig: signal.getsignal(sig) for sig in _RESET_SIGNALS}
    try:
        return judge.judge(rel)
    except BaseException as exc:  # sys.exit in a DAG file is that file's error
        return _failed(rel, "import", f"the parse failed: {type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
        for sig, handler in handlers.items():
            if handler is not None:
                signal.signal(sig, handler)
        sys.path[:] = path
        os.environ.clear()
        os.environ.update(environ)
        with contextlib.suppress(OSError):
            os.chdir(cwd)
        for name in set(sys.modules) - modules:
            if judge.owns(name, sys.modules.get(name)):
                sys.modules.pop(name, None)


def _end(child: _Child, judge: Judge, hard_seconds: float, again: deque[str], todo: deque[str],
         send: Callable[[dict[str, Any]], None], *, overran: bool) -> None:
    """A child is done: reap it; a file it did not answer is judged again alone (or, already alone,
    gets the error), and the rest of its batch goes back to the queue."""
    if overran:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
    os.close(child.fd)
    status = _reap(child.pid, time.monotonic() + 10)
    if child.answered >= len(child.files):
        return
    rest = child.files[child.answered + 1:]
    todo.extendleft(reversed(rest))
    rel = child.current
    if not child.alone:
        again.append(rel)
    elif overran:
        send(_failed(rel, "timeout", f"import did not finish within {hard_seconds:g}s (import timeout "
                     f"{judge.timeout:g}s) and was killed; the dag-processor would stop it too",
                     time.monotonic() - child.started))
    else:
        send(_failed(rel, "worker-died", f"importing the file ended its interpreter ({status}); Airflow "
                     "would lose the parse the same way"))


def _reap(pid: int, deadline: float) -> str:
    """Wait for the child (killing it if it is still running) and describe how it ended."""
    for attempt in range(100_000):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(status):
                return f"killed by signal {os.WTERMSIG(status)}"
            return f"exit status {os.waitstatus_to_exitcode(status)}"
        if time.monotonic() >= deadline - 5:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(min(0.005, 0.0002 * (attempt + 1)))  # a child that answered is exiting: look again soon
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
    parallel = int(config.get("parallel", 1))
    for _ in range(10_000_000):
        line = sys.stdin.readline()
        if not line:
            return 0
        request = json.loads(line)
        files = request["files"] if "files" in request else [request["file"]]
        judge_all(judge, [str(f) for f in files], hard_seconds, parallel, lambda doc: _send(out, doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
