"""`airflow-dag-publisher validate`: judge a package's DAG files before they are published.

Exit 0 clean (warnings allowed), 1 any error finding, 2 usage (bad options, missing source folder,
or `--require-airflow` where Airflow cannot parse).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow_dag_publisher.cli import common, toolkit
from airflow_dag_publisher.errors import EXIT_OK, ErrorKind, UsageError, exit_code
from airflow_dag_publisher.names import check_package
from airflow_dag_publisher.sources import check_folder
from airflow_dag_publisher.validators import DEFAULT_ALLOWED_OPERATORS, validate_source
from airflow_dag_publisher.validators.reports import FORMATS, render, summary_line

_CHECKS = """\
checks: syntax; dag_ids prefixed with '<package>_' and unique; tasks are KubernetesPodOperator in namespace
'etl-jobs' with a pinned image (tag or digest, never 'latest'), on_finish_action='delete_pod', get_logs=True
and CPU and memory requests and limits (other operators only when allow-listed; EmptyOperator is by default);
no task cycle; no import of another package or of a module only the source folder provides; no Variable,
connection or hook use at module level (errors); other module-level work, parse time over 2s and ruff AIR
findings (warnings). Each file is imported by Airflow's own DagBag in worker processes, laid out as
production lays it out (<dags>/<package>/<path>, the DAGs folder on sys.path).
"""


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(
        sub, "validate", help="check DAG files against the conventions and a real Airflow parse",
        description="Check a package's DAG files against the conventions and a real Airflow 3 parse.",
        notes=_CHECKS,
        examples=["--source packages/orders_report/airflow_dags --package orders_report",
                  "--source airflow_dags --package orders_report --require-airflow --format junit --output "
                  "dag-validation-junit.xml",
                  "--source airflow_dags --package orders_report --json"],
        exits={0: "no error (warnings allowed)", 1: "at least one error", 2: "usage error; with "
               "--require-airflow, also when Airflow cannot be imported here (nothing is judged then)", 3: ""})
    o = toolkit.Options(p, environ)
    common.add_source(o)
    common.add_package(o)
    common.add_packages_file(o)
    p.add_argument("--format", choices=FORMATS, default="text", help="report format (default: text)")
    p.add_argument("--json", action="store_true", help="the report as one JSON document (the same as --format json); "
                   "an error is JSON too")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE; the summary line still goes to stdout")
    o.flag("--require-airflow", env="VALIDATE_REQUIRE_AIRFLOW",
           help="fail with exit status 2 when Airflow cannot parse the files here (CI uses it)")
    p.add_argument("--no-dynamic", dest="dynamic", action="store_false",
                   help="static checks only: do not parse the files with Airflow")
    p.add_argument("--no-ruff", dest="ruff", action="store_false", help="do not run ruff's AIR rules")
    p.add_argument("--timeout", type=toolkit.number(float, maximum=3600), metavar="SECONDS",
                   help="import timeout per file (default: AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT, else 30)")
    p.add_argument("--workers", type=toolkit.number(int, minimum=0, exclusive=False, maximum=64), default=0,
                   metavar="N",
                   help="files parsed at once, each in a child forked from the one worker that imported Airflow "
                   "(default: the CPU count, at most 4)")
    p.add_argument("--allow-operator", action="append", default=[], metavar="CLASS",
                   help="also allow tasks of this operator (class name or dotted path; repeatable); allowed by "
                   "default: " + ", ".join(sorted(DEFAULT_ALLOWED_OPERATORS)))
    p.add_argument("--other-package", action="append", default=[], metavar="NAME",
                   help="a package of the same environment (repeatable): importing it is an error, and its "
                   "longer prefix (alpha_ext_ for alpha) is not this package's")


def validate(*, source: str, package: str | None, packages_file: Path | None, report_format: str,
             output: str | None, require_airflow: bool, dynamic: bool, ruff: bool, timeout: float | None,
             workers: int, allow_operators: Sequence[str], other_packages: Sequence[str], as_json: bool = False) -> int:
    if as_json and report_format not in ("text", "json"):
        raise UsageError(f"--json and --format {report_format}: choose one (--json is --format json)")
    report_format = "json" if as_json else report_format
    name = check_package(package)
    folder = Path(source)
    check_folder(folder)
    for other in other_packages:
        check_package(other, "--other-package")
    report = validate_source(
        folder, name, dynamic=dynamic, require_airflow=require_airflow, other_packages=set(other_packages),
        allowed_operators=DEFAULT_ALLOWED_OPERATORS | set(allow_operators), timeout=timeout, workers=workers,
        ruff=ruff, packages_file=packages_file)
    text = render(report, report_format)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--output {output}: {exc.strerror or exc}") from exc
        print(summary_line(report))
    else:
        sys.stdout.write(text)
    return EXIT_OK if report.ok else exit_code(ErrorKind.VALIDATION)
