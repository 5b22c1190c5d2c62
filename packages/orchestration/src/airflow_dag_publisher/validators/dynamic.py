"""The dynamic layer: every file parsed by Airflow in worker processes, laid out as production lays
it out (`<tmp dags>/<package>/<path>`; the source folder itself is never on `sys.path`).

One worker imports Airflow once and judges the files in children it forks, several at once (see
worker.py); each file is bounded by the import timeout plus a grace period. A file that overruns or
exits the interpreter becomes that file's error; a worker that dies is replaced and judges the files
left one by one, so a file that kills its worker is found and only that file fails. The run never
stalls.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from airflow_dag_publisher.policy.cluster_policy import Cluster
from airflow_dag_publisher.validators.model import ERROR, Finding
from airflow_dag_publisher.validators.pool import Worker, WorkerFailure, WorkerSpec

DEFAULT_IMPORT_TIMEOUT = 30.0  # Airflow's [core] dagbag_import_timeout
# The caller's Airflow settings the parse worker keeps (every other AIRFLOW* variable is dropped):
# whether a new DAG starts paused is the deployment's choice, and the worker reports on it.
PASSED_THROUGH = ("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION",)
SLOW_PARSE_SECONDS = 2.0


@dataclass(frozen=True)
class DynamicOptions:
    package: str
    other_packages: frozenset[str] = frozenset()
    cluster: Cluster = field(default_factory=Cluster)  # the cluster policy's data, its allow-list included
    timeout: float = DEFAULT_IMPORT_TIMEOUT
    workers: int = 0  # files parsed at once; 0: auto_workers()
    slow_seconds: float = SLOW_PARSE_SECONDS


@dataclass
class DynamicResult:
    skipped: str | None = None
    airflow_version: str | None = None
    findings: list[Finding] = field(default_factory=list)
    dag_ids: dict[str, list[str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    judged: set[str] = field(default_factory=set)  # files Airflow imported without an error
    images: dict[str, list[tuple[str, str, str | None]]] = field(default_factory=dict)  # file -> task images


def default_timeout() -> float:
    """Airflow's import timeout as the environment configures it, else its default (30 s)."""
    raw = os.environ.get("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "")
    try:
        return float(raw) if raw else DEFAULT_IMPORT_TIMEOUT
    except ValueError:
        return DEFAULT_IMPORT_TIMEOUT


def airflow_missing() -> str | None:
    """Why the dynamic layer cannot run in this interpreter, or None. A cheap look that imports
    nothing: `find_spec` of a submodule would import Airflow itself (seconds) in this process."""
    try:
        spec = importlib.util.find_spec("airflow")
    except (ImportError, ValueError) as exc:
        return f"airflow is not importable: {exc}"
    if spec is None:
        return "airflow is not importable"
    if not any((Path(place) / "dag_processing").is_dir() for place in spec.submodule_search_locations or ()):
        return "airflow.dag_processing is not importable"
    return None


def run_dynamic(source: Path, files: list[str], opts: DynamicOptions) -> DynamicResult:
    missing = airflow_missing()
    if missing:
        return DynamicResult(skipped=missing)
    with tempfile.TemporaryDirectory(prefix="adp-validate-") as tmp:
        root = Path(tmp)
        dags = root / "dags"
        _lay_out(source, dags / opts.package)
        spec = WorkerSpec(config=_config(dags, opts), env=_worker_env(root, source, opts.timeout), cwd=root,
                          log=root / "worker.log")
        return _judge_all(files, spec, opts)


def _lay_out(source: Path, target: Path) -> None:
    """Copy the source folder's regular files (symlinks are not published, so not copied)."""
    target.mkdir(parents=True)
    for path in sorted(source.rglob("*")):
        if "__pycache__" in path.parts or path.is_symlink() or not path.is_file():
            continue
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)


def hard_seconds(timeout: float) -> float:
    """How long a file may take before its parse is killed: Airflow's own timeout raises inside the
    import; the kill is for a file that defeats it (ignores SIGALRM, blocks in C code)."""
    return timeout + max(2.0, timeout * 0.2)


def _config(dags: Path, opts: DynamicOptions) -> dict[str, Any]:
    return {"dags_folder": str(dags), "package": opts.package, "other_packages": sorted(opts.other_packages),
            "cluster": opts.cluster.to_dict(), "slow_seconds": opts.slow_seconds,
            "timeout": opts.timeout, "hard_seconds": hard_seconds(opts.timeout), "parallel": opts.workers or 1}


def _worker_env(root: Path, source: Path, timeout: float) -> dict[str, str]:
    """A private Airflow home: nothing touches the user's (no config file, no database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") or k in PASSED_THROUGH}
    src = str(source.resolve())
    kept = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and str(Path(p).resolve()) != src]
    env.pop("PYTHONPATH", None)
    if kept:
        env["PYTHONPATH"] = os.pathsep.join(kept)
    home = root / "airflow-home"
    home.mkdir()
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": f"{timeout:g}",
        "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'never-used.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _judge_all(files: list[str], spec: WorkerSpec, opts: DynamicOptions) -> DynamicResult:
    result = DynamicResult()
    if not files:
        return result
    parallel = max(1, min(opts.workers or auto_workers(len(files)), len(files)))
    spec = replace(spec, config={**spec.config, "parallel": parallel})
    # the worker kills a runaway file itself (and may judge it again alone): this is a backstop
    per_file = 2 * hard_seconds(opts.timeout) + 15.0
    pending = list(files)
    startup_errors: list[str] = []
    one_by_one = False  # after a worker died: one request per file, so the file that kills it is found
    for _ in range(len(files) + 1):  # at most one (re)start per file, plus the first
        if not pending:
            break
        try:
            worker = Worker(spec)
        except (WorkerFailure, OSError) as exc:
            startup_errors.append(str(exc))
            break
        result.airflow_version = worker.version
        try:
            for batch in ([[rel] for rel in list(pending)] if one_by_one else [list(pending)]):
                current = batch[0]
                for answer in worker.judge_many(batch, per_file):
                    _record(result, answer)
                    pending.remove(str(answer["file"]))
        except WorkerFailure as exc:
            if one_by_one:
                _record(result, _failure_answer(current, str(exc), opts.timeout, per_file))
                pending.remove(current)
            one_by_one = True
        finally:
            worker.close()
    if pending and not result.seconds and startup_errors:
        result.skipped = f"the Airflow parse worker could not start: {startup_errors[0]}"
        return result
    for rel in sorted(pending):
        reason = startup_errors[0] if startup_errors else "no worker was left"
        result.findings.append(Finding(rel, "not-judged", ERROR, f"Airflow could not judge the file: {reason}"))
    return result


def auto_workers(files: int) -> int:
    """Files parsed at once by the one worker's forked children: one per CPU, at most 4 (a child
    costs a fork of the warmed worker, not an Airflow import)."""
    return max(1, min(os.cpu_count() or 1, 4, files))


def _failure_answer(rel: str, reason: str, timeout: float, per_file: float) -> dict[str, Any]:
    if reason == "timeout":
        message = (f"the parse worker did not answer within {per_file:g}s (import timeout {timeout:g}s): it was "
                   "killed and replaced")
        return {"file": rel, "dag_ids": [], "seconds": per_file, "findings": [("timeout", ERROR, message)]}
    message = f"the parse worker died while judging the file ({reason}); the worker was replaced"
    return {"file": rel, "dag_ids": [], "seconds": 0.0, "findings": [("worker-died", ERROR, message)]}


def _record(result: DynamicResult, answer: dict[str, Any]) -> None:
    rel = str(answer["file"])
    result.seconds[rel] = float(answer.get("seconds", 0.0))
    findings = [Finding(rel, str(rule), str(sev), str(msg)) for rule, sev, msg in answer.get("findings", [])]
    result.findings.extend(findings)
    if answer.get("dag_ids"):
        result.dag_ids[rel] = [str(d) for d in answer["dag_ids"]]
    if answer.get("images"):
        result.images[rel] = [(str(d), str(t), None if i is None else str(i)) for d, t, i in answer["images"]]
    if not any(f.rule in ("import", "timeout", "worker-died", "cycle") for f in findings):
        result.judged.add(rel)
