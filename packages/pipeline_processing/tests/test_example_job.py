"""The example job: aggregation rules, input problems and exit codes, as its pod runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pipeline_processing.jobs.example_job import aggregate, main, read_orders

HEADER = "order_id,customer,amount,currency,status\n"


def test_totals_count_paid_orders_per_customer_and_currency() -> None:
    rows = read_orders(HEADER + "1,acme,10.50,eur,paid\n2,acme,4.50,EUR,paid\n3,acme,99,EUR,refunded\n"
                                "4,globex,1,USD,paid\n")
    result = aggregate(rows)
    assert [(t.customer, t.currency, t.orders, t.amount) for t in result.totals] == [
        ("acme", "EUR", 2, Decimal("15.00")), ("globex", "USD", 1, Decimal("1"))]
    assert result.rows == 4 and result.bad_rows == []


def test_bad_rows_are_listed_with_their_line() -> None:
    result = aggregate(read_orders(HEADER + "1,acme,ten,EUR,paid\n2,,5,EUR,paid\n3,acme,-1,EUR,paid\n"))
    assert result.bad_rows == [
        "line 2: amount 'ten' is not a number",
        "line 3: needs a customer, a 3-letter currency and a non-negative amount",
        "line 4: needs a customer, a 3-letter currency and a non-negative amount",
    ]
    assert result.totals == []


def test_missing_columns_are_refused() -> None:
    with pytest.raises(ValueError, match="missing column"):
        read_orders("order_id,customer\n1,acme\n")


def test_job_writes_json_lines_with_the_run_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "orders.csv"
    source.write_text(HEADER + "1,acme,2.5,EUR,paid\n")
    out = tmp_path / "out" / "totals.jsonl"
    assert main(["--input", str(source), "--output", str(out), "--run-date", "2026-01-02"]) == 0
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"run_date": "2026-01-02", "customer": "acme", "currency": "EUR", "orders": 1, "amount": "2.5"}]
    log = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert log[-1]["event"] == "done" and log[-1]["rows"] == 1 and log[-1]["level"] == "info"


def test_job_runs_on_the_packaged_sample_without_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--run-date", "2026-01-02"]) == 0
    customers = [json.loads(line)["customer"] for line in capsys.readouterr().out.splitlines()]
    assert customers == ["acme", "globex", "initech"]


def test_too_many_bad_rows_exit_1_and_write_nothing(tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_text(HEADER + "1,acme,x,EUR,paid\n2,acme,1,EUR,paid\n")
    out = tmp_path / "totals.jsonl"
    assert main(["--input", str(source), "--output", str(out)]) == 1
    assert not out.exists()
    assert main(["--input", str(source), "--output", str(out), "--max-bad-rows", "1"]) == 0
    assert out.exists()


@pytest.mark.parametrize("argv", [["--input", "/nonexistent.csv"], ["--run-date", "yesterday"]])
def test_unusable_input_exits_2(argv: list[str]) -> None:
    assert main(argv) == 2


def test_the_module_runs_as_the_pod_runs_it(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pipeline_processing.jobs.example_job", "--run-date", "2026-01-02",
                           "--output", str(tmp_path / "t.jsonl")], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 3
