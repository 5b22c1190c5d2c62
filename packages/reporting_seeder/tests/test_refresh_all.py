"""The refresh job: every report rebuilt atomically, failures isolated, exit codes as documented."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from reporting_seeder.jobs.refresh_all import main
from reporting_seeder.reports import REPORTS, SALES, Report, active_customers, daily_revenue, top_products


def test_daily_revenue_sums_quantity_times_price_per_day() -> None:
    assert daily_revenue(SALES) == [{"day": "2026-01-01", "revenue_cents": 13650},
                                    {"day": "2026-01-02", "revenue_cents": 31800},
                                    {"day": "2026-01-03", "revenue_cents": 51250}]


def test_top_products_rank_by_units_then_name() -> None:
    assert top_products(SALES) == [{"rank": 1, "product": "widget", "units": 18},
                                   {"rank": 2, "product": "gadget", "units": 3},
                                   {"rank": 3, "product": "gizmo", "units": 1}]


def test_active_customers_count_distinct_days() -> None:
    assert active_customers(SALES)[0] == {"customer": "acme", "active_days": 3, "last_day": "2026-01-03"}


def test_refresh_all_writes_every_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--output-dir", str(tmp_path), "--run-id", "scheduled__2026-01-03"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{name}.json" for name in REPORTS)
    doc = json.loads((tmp_path / "top_products.json").read_text())
    assert doc["run_id"] == "scheduled__2026-01-03" and doc["rows"][0]["product"] == "widget"
    events = [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()]
    assert events.count("report refreshed") == len(REPORTS) and events[-1] == "done"


def test_only_refreshes_the_named_reports(tmp_path: Path) -> None:
    assert main(["--output-dir", str(tmp_path), "--only", "daily_revenue"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["daily_revenue.json"]


def test_an_unknown_report_name_exits_2(tmp_path: Path) -> None:
    assert main(["--output-dir", str(tmp_path), "--only", "nope"]) == 2
    assert list(tmp_path.iterdir()) == []


def _broken(_sales: object) -> list[dict[str, object]]:
    raise RuntimeError("warehouse unavailable")


def test_a_failing_report_keeps_its_old_file_and_the_others_still_refresh(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"old": true}\n')
    reports = {**REPORTS, "broken": Report("broken", _broken)}
    assert main(["--output-dir", str(tmp_path)], reports=reports) == 1
    assert (tmp_path / "broken.json").read_text() == '{"old": true}\n'
    assert all((tmp_path / f"{name}.json").is_file() for name in REPORTS)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_fail_fast_stops_at_the_first_failure(tmp_path: Path) -> None:
    reports = {"a_broken": Report("a_broken", _broken), **REPORTS}
    assert main(["--output-dir", str(tmp_path), "--fail-fast"], reports=reports) == 1
    assert list(tmp_path.iterdir()) == []


def test_the_module_runs_as_the_pod_runs_it(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "reporting_seeder.jobs.refresh_all", "--output-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert len(list(tmp_path.glob("*.json"))) == len(REPORTS)
