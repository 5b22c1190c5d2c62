"""Publish and validation benchmark.

Publish: the `airflow-dag-publisher publish` CLI (a process, as CI runs it) on a 200-file package,
cold (a new package) and no-op (the same files again), with the default validation (static +
ruff + the Airflow parse of every .py file) and with `--skip-dynamic-validation`. The package is
5 KubernetesPodOperator DAG files, 150 helper modules and 45 SQL files (about 1 KB each).
Validation: bench.validate_bench's 100 generated DAG files, each layer timed (in-process).

    .venv/bin/python -m bench.publish_bench --reps 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import validate_bench
from bench.common import BIN, Row, counted, log, start_seaweedfs, write_rows
from devstack.local_env import local_env
from devstack.seaweedfs import SeaweedFS

ENV = "bench"
BUCKET = "bench-publish"
DEFAULT = "publish CLI, default validation (with the Airflow parse)"
STATIC = "publish CLI, --skip-dynamic-validation"

HELPER = '''"""Helpers of {package}: module {n}."""

from __future__ import annotations

RETRIES = {n}


def table_name(day: str) -> str:
    return f"{package}_events_{n:03d}_{{day.replace('-', '')}}"


def columns() -> list[str]:
    return [{columns}]
'''


def write_package(folder: Path, package: str, dags: int = 5, helpers: int = 150, sql: int = 45) -> int:
    folder.mkdir(parents=True)
    for n in range(dags):
        (folder / f"{package}_job_{n:03d}.py").write_text(validate_bench.dag_text(package, n))
    lib = folder / f"{package}_lib"
    lib.mkdir()
    (lib / "__init__.py").write_text("")
    for n in range(helpers - 1):
        cols = ", ".join(f'"col_{i}"' for i in range(40))
        (lib / f"mod_{n:03d}.py").write_text(HELPER.format(package=package, n=n, columns=cols))
    (folder / "sql").mkdir()
    for n in range(sql):
        (folder / "sql" / f"query_{n:03d}.sql").write_text(
            f"-- {package} query {n}\nselect\n" + ",\n".join(f"    col_{i}" for i in range(60)) + f"\nfrom t{n}\n")
    return sum(1 for p in folder.rglob("*") if p.is_file())


def publish(source: Path, package: str, *, dynamic: bool, env: dict[str, str]) -> dict[str, object]:
    cmd = [str(BIN / "airflow-dag-publisher"), "publish", "--env", ENV, "--package", package, "--bucket", BUCKET,
           "--source", str(source), "--json"]  # no --image: its jobs run one image each
    if not dynamic:
        cmd.append("--skip-dynamic-validation")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"publish {package} exited {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(done.stdout)
    return result


def publish_rows(s3: SeaweedFS, root: Path, reps: int, files: int) -> list[Row]:
    env = local_env(s3.env())
    rows: dict[tuple[str, str, str], Row] = {}
    cold = f"publish a {files}-file package: cold (new package)"
    noop = f"publish a {files}-file package: no-op (same files again)"
    for rep in range(reps):
        for dynamic in ((True, False) if rep % 2 == 0 else (False, True)):
            peer = DEFAULT if dynamic else STATIC
            package = f"benchpub_{'dyn' if dynamic else 'static'}_{rep}"
            source = root / package
            count = write_package(source, package)
            for scenario, want_noop in ((cold, False), (noop, True)):
                log(f"{scenario} {rep + 1}/{reps}: {peer}")
                with counted(s3, BUCKET) as c:
                    result = publish(source, package, dynamic=dynamic, env=env)
                if bool(result.get("noop")) != want_noop or (not want_noop and result.get("uploaded") != count):
                    raise RuntimeError(f"unexpected publish result {result}")
                for unit, value in (("s", c["seconds"]), ("requests", c["requests"])):
                    rows.setdefault((scenario, peer, unit), Row("publish", scenario, peer, unit,
                                                                reference=DEFAULT)).values.append(value)
    return list(rows.values())


def validate_rows(reps: int, files: int) -> list[Row]:
    rows: dict[str, Row] = {}
    scenario = f"validate {files} generated DAG files (in-process)"
    for rep in range(reps):
        log(f"validate {files} files {rep + 1}/{reps}")
        for label, (seconds, _findings, dag_ids) in validate_bench.measure(files, rep=rep):
            if dag_ids != files:
                raise RuntimeError(f"validate: {label} found {dag_ids} dag_ids in {files} files")
            rows.setdefault(label, Row("validate", scenario, label, "s", reference=validate_bench.LABELS[2]))
            rows[label].values.append(seconds)
    return list(rows.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.publish_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each publish (default 3)")
    parser.add_argument("--validate-reps", type=int, default=2, help="repetitions of the validation (default 2)")
    parser.add_argument("--validate-files", type=int, default=100)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    if args.reps < 1 or args.validate_reps < 1 or not 1 <= args.validate_files <= 5000:
        parser.error("--reps and --validate-reps >= 1, --validate-files 1..5000")
    with tempfile.TemporaryDirectory(prefix="publish-bench-") as tmp:
        root = Path(tmp)
        s3 = start_seaweedfs(root / "seaweedfs")
        try:
            s3.create_bucket(BUCKET, environments=(ENV,))
            start = time.monotonic()
            rows = publish_rows(s3, root, args.reps, 200)
            log(f"publish runs took {time.monotonic() - start:.0f} s")
        finally:
            s3.close()
    rows += validate_rows(args.validate_reps, args.validate_files)
    for row in rows:
        print(f"{row.scenario:<52} {row.peer:<58} {row.median:10.3f} {row.unit}")
    write_rows(args.json, rows, {"params": {"reps": args.reps, "validate_reps": args.validate_reps,
                                            "validate_files": args.validate_files,
                                            "package": "5 DAG files, 150 helper modules, 45 SQL files"}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
