"""Refresh every report (or those named with --only): each is rebuilt and written atomically as JSON.

    python -m reporting_seeder.jobs.refresh_all [--output-dir DIR] [--only NAME ...] [--fail-fast]

A report that fails is logged and the others are still refreshed; its previous file is left intact.
Exit codes: 0 all refreshed; 1 at least one report failed; 2 bad usage (unknown report, unwritable folder).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reporting_seeder.reports import REPORTS, SALES, Report

LOG = logging.getLogger("reporting_seeder.refresh_all")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class JsonFormatter(logging.Formatter):
    """One JSON object per line on stderr (the pod log Airflow streams)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {"level": record.levelname.lower(), "logger": record.name, "event": record.getMessage()}
        doc.update(getattr(record, "fields", {}))
        return json.dumps(doc, default=str)


@dataclass(frozen=True)
class Outcome:
    report: str
    ok: bool
    rows: int = 0
    error: str | None = None


def refresh(report: Report, output_dir: Path, run_id: str) -> Outcome:
    try:
        rows = report.build(SALES)
        doc = {"report": report.name, "run_id": run_id, "rows": rows}
        _write_json(output_dir / f"{report.name}.json", doc)
    except Exception as exc:  # one failing report must not stop the others
        return Outcome(report.name, ok=False, error=f"{type(exc).__name__}: {exc}")
    return Outcome(report.name, ok=True, rows=len(rows))


def refresh_all(reports: Mapping[str, Report], output_dir: Path, run_id: str, *, fail_fast: bool) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for name in sorted(reports):
        started = time.monotonic()
        outcome = refresh(reports[name], output_dir, run_id)
        fields = {"report": name, "rows": outcome.rows, "seconds": round(time.monotonic() - started, 3)}
        if outcome.ok:
            LOG.info("report refreshed", extra={"fields": fields})
        else:
            LOG.error("report failed", extra={"fields": {**fields, "error": outcome.error}})
        outcomes.append(outcome)
        if fail_fast and not outcome.ok:
            break
    return outcomes


def _write_json(path: Path, doc: object) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="refresh_all", description="Refresh the reports.")
    p.add_argument("--output-dir", default=os.environ.get("REPORTS_DIR", "/tmp/reports"),
                   help="folder of the report files (env REPORTS_DIR; default /tmp/reports)")
    p.add_argument("--only", action="append", metavar="NAME", help=f"refresh only these ({', '.join(REPORTS)})")
    p.add_argument("--run-id", default=os.environ.get("RUN_ID", "manual"), help="recorded in each report")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failing report")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, reports: Mapping[str, Report] = REPORTS) -> int:
    args = parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    unknown = sorted(set(args.only or ()) - set(reports))
    if unknown:
        LOG.error("unknown report", extra={"fields": {"unknown": unknown, "known": sorted(reports)}})
        return EXIT_USAGE
    selected = {n: r for n, r in reports.items() if not args.only or n in args.only}
    output_dir = Path(args.output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        LOG.error("cannot create output folder", extra={"fields": {"output_dir": str(output_dir), "error": str(exc)}})
        return EXIT_USAGE
    outcomes = refresh_all(selected, output_dir, args.run_id, fail_fast=args.fail_fast)
    failed = [o.report for o in outcomes if not o.ok]
    LOG.info("done", extra={"fields": {"refreshed": len(outcomes) - len(failed), "failed": failed}})
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
