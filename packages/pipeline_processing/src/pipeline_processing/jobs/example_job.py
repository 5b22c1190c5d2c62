"""Aggregate orders per customer: read a CSV of orders, skip bad rows, write one JSON line per customer.

    python -m pipeline_processing.jobs.example_job [--input orders.csv] [--output totals.jsonl]
        [--run-date YYYY-MM-DD] [--max-bad-rows N] [--log-level INFO]

Without --input it reads the sample orders shipped in the package (so the image runs out of the box).
Exit codes: 0 done; 1 more bad rows than --max-bad-rows (nothing written); 2 bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path

from pipeline_processing.logs import log, setup

LOG = logging.getLogger("pipeline_processing.example_job")
REQUIRED_COLUMNS = ("order_id", "customer", "amount", "currency", "status")
COUNTED_STATUSES = frozenset({"paid"})
EXIT_OK, EXIT_TOO_MANY_BAD_ROWS, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class CustomerTotal:
    customer: str
    currency: str
    orders: int
    amount: Decimal

    def to_json(self, run_date: str) -> str:
        return json.dumps({"run_date": run_date, "customer": self.customer, "currency": self.currency,
                           "orders": self.orders, "amount": str(self.amount)})


@dataclass(frozen=True)
class Aggregate:
    totals: list[CustomerTotal]
    rows: int
    bad_rows: list[str]  # "line N: why"


def aggregate(rows: Iterable[dict[str, str]]) -> Aggregate:
    """Totals of paid orders per (customer, currency), sorted; rows that do not parse are listed."""
    sums: dict[tuple[str, str], tuple[int, Decimal]] = {}
    bad: list[str] = []
    count = 0
    for count, row in enumerate(rows, start=1):
        line = count + 1  # the header is line 1
        customer = (row.get("customer") or "").strip()
        currency = (row.get("currency") or "").strip().upper()
        try:
            amount = Decimal((row.get("amount") or "").strip())
        except InvalidOperation:
            bad.append(f"line {line}: amount {row.get('amount')!r} is not a number")
            continue
        if not customer or len(currency) != 3 or not amount.is_finite() or amount < 0:
            bad.append(f"line {line}: needs a customer, a 3-letter currency and a non-negative amount")
            continue
        if (row.get("status") or "").strip() not in COUNTED_STATUSES:
            continue
        orders, total = sums.get((customer, currency), (0, Decimal(0)))
        sums[(customer, currency)] = (orders + 1, total + amount)
    totals = [CustomerTotal(c, cur, n, amt) for (c, cur), (n, amt) in sorted(sums.items())]
    return Aggregate(totals=totals, rows=count, bad_rows=bad)


def read_orders(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    return list(reader)


def _write_output(lines: Sequence[str], output: str) -> None:
    text = "".join(line + "\n" for line in lines)
    if output == "-":
        sys.stdout.write(text)
        return
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, target)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="example_job", description="Aggregate paid orders per customer.")
    p.add_argument("--input", help="orders CSV (default: the sample shipped in the package)")
    p.add_argument("--output", default="-", help="JSON lines output file, or - for stdout (default)")
    p.add_argument("--run-date", default=None, help="logical date of the run, YYYY-MM-DD (default: today, UTC)")
    p.add_argument("--max-bad-rows", type=int, default=0, help="bad rows tolerated before failing (default 0)")
    p.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"),
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup(args.log_level)
    run_date = args.run_date or dt.datetime.now(dt.timezone.utc).date().isoformat()
    try:
        dt.date.fromisoformat(run_date)
    except ValueError:
        log(LOG, logging.ERROR, "bad --run-date", run_date=run_date)
        return EXIT_USAGE
    source = args.input or "package:data/sample_orders.csv"
    try:
        if args.input:
            text = Path(args.input).read_text(encoding="utf-8")
        else:
            text = resources.files("pipeline_processing").joinpath("data", "sample_orders.csv").read_text("utf-8")
        rows = read_orders(text)
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        log(LOG, logging.ERROR, "cannot read input", input=source, error=str(exc))
        return EXIT_USAGE
    result = aggregate(rows)
    for problem in result.bad_rows[:20]:
        log(LOG, logging.WARNING, "bad row", input=source, problem=problem)
    if len(result.bad_rows) > args.max_bad_rows:
        log(LOG, logging.ERROR, "too many bad rows", bad_rows=len(result.bad_rows), max_bad_rows=args.max_bad_rows)
        return EXIT_TOO_MANY_BAD_ROWS
    try:
        _write_output([t.to_json(run_date) for t in result.totals], args.output)
    except OSError as exc:
        log(LOG, logging.ERROR, "cannot write output", output=args.output, error=str(exc))
        return EXIT_USAGE
    log(LOG, logging.INFO, "done", input=source, output=args.output, run_date=run_date, rows=result.rows,
        bad_rows=len(result.bad_rows), customers=len(result.totals))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
