"""Benchmark (not a test): time to validate N generated DAG files (100 by default), the static layer
alone and with the Airflow parse. From the repository root: `.venv/bin/python -m bench.validate_bench`."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from airflow_dag_publisher.validators import validate_source
from airflow_dag_publisher.validators.dynamic import _worker_env, default_timeout

from devstack.dagfiles import kpo_dag

PACKAGE = "benchpkg"


def dag_text(package: str, n: int, description: str | None = None) -> str:
    """The bench's DAG file number n of a package (the shared conforming template). Every job runs the
    package's one image, the one `publish --image` names (bench/publish_bench.py, bench/airflow_bench.py):
    the publisher refuses a job on another image."""
    return kpo_dag(package, f"job_{n:03d}", schedule='"@daily"', start_date=True, description=description,
                   image=f"registry.example.com/{package}:1.0")


def write_dags(folder: Path, count: int) -> None:
    for n in range(count):
        (folder / f"{PACKAGE}_job_{n:03d}.py").write_text(dag_text(PACKAGE, n))


PARSE_TIMES: list[float] = []


def timed(source: Path, *, dynamic: bool, ruff: bool, workers: int = 0) -> tuple[float, int, int]:
    start = time.perf_counter()
    report = validate_source(source, PACKAGE, dynamic=dynamic, ruff=ruff, workers=workers)
    PARSE_TIMES.extend(report.parse_seconds.values())
    return time.perf_counter() - start, len(report.findings), len(report.all_dag_ids)


LABELS = ("static only (--no-dynamic --no-ruff)", "static + ruff AIR (--no-dynamic)",
          "static + ruff + Airflow parse (default)")
IMPORT = "import Airflow and the KubernetesPodOperator once (a fresh process)"
IMPORT_CODE = "import airflow; from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator"


def import_seconds(source: Path) -> float:
    """The floor of the Airflow parse: a fresh interpreter importing Airflow and the KubernetesPodOperator,
    started as the parse worker is (same interpreter, flags and environment)."""
    with tempfile.TemporaryDirectory(prefix="validate-bench-import-") as tmp:
        env = _worker_env(Path(tmp), source, default_timeout())
        start = time.perf_counter()
        subprocess.run([sys.executable, "-P", "-c", IMPORT_CODE], env=env, cwd=tmp, check=True, timeout=600,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


def measure(files: int, workers: int = 0, rep: int = 0) -> list[tuple[str, tuple[float, int, int]]]:
    """One run of the three layers over `files` generated DAG files, and of the import that is the
    Airflow parse's floor (before the layers in even runs, after them in odd ones: ABAB):
    (label, (seconds, findings, dag_ids))."""
    with tempfile.TemporaryDirectory(prefix="validate-bench-") as tmp:
        source = Path(tmp)
        write_dags(source, files)
        floor = [(IMPORT, (import_seconds(source), 0, files))] if rep % 2 == 0 else []
        layers = [
            (LABELS[0], timed(source, dynamic=False, ruff=False)),
            (LABELS[1], timed(source, dynamic=False, ruff=True)),
            (LABELS[2], timed(source, dynamic=True, ruff=True, workers=workers)),
        ]
        return floor + layers + ([(IMPORT, (import_seconds(source), 0, files))] if rep % 2 else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.validate_bench", description=__doc__)
    parser.add_argument("--files", type=int, default=100, help="DAG files to generate (default 100)")
    parser.add_argument("--workers", type=int, default=0, help="files parsed at once (default: automatic)")
    args = parser.parse_args(argv)
    if not 1 <= args.files <= 5000:
        parser.error("--files must be 1..5000")
    rows = dict(measure(args.files, args.workers))
    print(f"validate: {args.files} generated KubernetesPodOperator DAG files, package {PACKAGE!r}")
    for label in LABELS:
        seconds, findings, dag_ids = rows[label]
        per_file = 1000 * seconds / args.files
        print(f"  {label:<42} {seconds:7.2f} s  ({per_file:6.1f} ms/file, {findings} findings, {dag_ids} dag_ids)")
    parse, floor = rows[LABELS[2]][0], rows[IMPORT][0]
    print(f"  with the Airflow parse: {parse / max(rows[LABELS[0]][0], 1e-9):.0f}x the static layer alone, "
          f"{parse / floor:.2f}x {IMPORT} ({floor:.2f} s)")
    if PARSE_TIMES:
        median = 1000 * statistics.median(PARSE_TIMES)
        print(f"  Airflow DagBag time per file inside the worker: median {median:.1f} ms, "
              f"max {1000 * max(PARSE_TIMES):.1f} ms (the rest is the worker's start: one Airflow import)")
    print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
