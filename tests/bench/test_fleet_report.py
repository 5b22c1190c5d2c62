"""The fleet scenario's part of docs/benchmarks.md: targets, tables, growth sentences and the plot follow
the numbers (pure: rows as bench/fleet_bench.py writes them, no Airflow)."""

from __future__ import annotations

from pathlib import Path

from bench import fleet_report
from bench.common import Row
from bench.fleet_bench import CHANGED, FIRST_PARSE, FIRST_PARSE_CPU, FOLDER, IDLE_CPU, IDLE_PARSES, NEW, SHIPPED, STOCK


def fleet_rows(*, idle_500: float = 2.5, changed_500: list[float] | None = None) -> list[Row]:
    rows: list[Row] = []
    for n, parse, idle in ((100, 80.0, 2.0), (300, 240.0, 2.2), (500, 400.0, idle_500)):
        rows += [Row("fleet", FIRST_PARSE, SHIPPED, "s", [parse], packages=n, note=f"{4 * n} files"),
                 Row("fleet", FIRST_PARSE_CPU, SHIPPED, "cpu-s", [parse * 1.5], packages=n,
                     note="every file again every 21600 s"),
                 Row("fleet", IDLE_CPU, SHIPPED, "%", [idle], packages=n, note="over 150 s"),
                 Row("fleet", IDLE_PARSES, SHIPPED, "files", [0.0], packages=n),
                 Row("fleet", CHANGED, SHIPPED, "s", changed_500 if n == 500 and changed_500 else [3.0, 4.0, 5.0],
                     packages=n),
                 Row("fleet", NEW, SHIPPED, "s", [3.5, 4.5, 6.0], packages=n)]
    rows += [Row("fleet", FIRST_PARSE, FOLDER, "s", [380.0], packages=500, note="2000 files"),
             Row("fleet", IDLE_CPU, FOLDER, "%", [1.5], packages=500, note="over 120 s"),
             Row("fleet", CHANGED, FOLDER, "s", [2.0, 3.0], packages=500),
             Row("fleet", NEW, FOLDER, "s", [2.5, 3.5], packages=500)]
    rows += [Row("fleet", FIRST_PARSE, STOCK, "s", [420.0], packages=500, note="2000 files"),
             Row("fleet", IDLE_CPU, STOCK, "%", [185.0], packages=500, note="over 150 s"),
             Row("fleet", IDLE_PARSES, STOCK, "files", [1500.0], packages=500),
             Row("fleet", CHANGED, STOCK, "s", [60.0, 60.0, 41.0], packages=500, note="2 of 3 waits cut at 60 s"),
             Row("fleet", NEW, STOCK, "s", [60.0, 60.0, 60.0], packages=500, note="3 of 3 waits cut at 60 s")]
    return rows


def test_targets_are_met_when_the_shipped_figures_are_within_them() -> None:
    got = {name: (met, text) for name, met, text in fleet_report.targets(fleet_rows())}
    latency = [n for n in got if "publish → serialized p95" in n and "one release bundle per package" in n]
    assert len(latency) == 2 and all(got[n][0] for n in latency)
    assert "2,000 DAG files" in latency[0]
    assert "2 of 3 waits cut at 60 s" in got[latency[0]][1]
    idle = next(n for n in got if "CPU while nothing is published" in n)
    assert got[idle][0] and "185.0% of one core" in got[idle][1] and "1,500 DAG files parsed" in got[idle][1]
    assert "every 6 h costs 2.78% of a core on average" in got[idle][1]  # 600 CPU-s over 6 h
    growth = next(n for n in got if n.startswith("fleet growth"))
    assert got[growth][0], got[growth][1]


def test_the_dags_folder_bundle_is_judged_beside_the_release_bundles() -> None:
    got = {name: (met, text) for name, met, text in fleet_report.targets(fleet_rows())}
    folder = [n for n in got if "the DAGs folder as one bundle" in n]
    assert len(folder) == 3  # changed, new, idle CPU
    idle = next(n for n in folder if "CPU while nothing" in n)
    assert got[idle][0] and "1.5% of one core over 120 s" in got[idle][1]  # 2 minutes, the target's least
    header = fleet_report.table(fleet_rows())[0]
    assert header.startswith("| figure | shipped (one release bundle per package) | shipped settings, the DAGs "
                             "folder as one bundle | Airflow's stock configuration | stock ÷ shipped |")


def test_a_slow_change_or_a_busy_idle_misses_its_target() -> None:
    got = {name: met for name, met, _ in fleet_report.targets(fleet_rows(idle_500=14.0, changed_500=[4.0, 12.0]))}
    assert not next(met for name, met in got.items() if "changed DAG" in name)
    assert next(met for name, met in got.items() if "new DAG" in name)
    assert not next(met for name, met in got.items() if "CPU while nothing" in name)
    assert not next(met for name, met in got.items() if name.startswith("fleet growth"))


def test_an_idle_window_shorter_than_two_minutes_does_not_count() -> None:
    rows = [Row(r.section, r.scenario, r.peer, r.unit, r.values, packages=r.packages,
                note="over 60 s" if r.scenario == IDLE_CPU else r.note) for r in fleet_rows()]
    assert not next(met for name, met, _ in fleet_report.targets(rows) if "CPU while nothing" in name)


def test_section_shows_both_configurations_and_one_sentence_per_figure(tmp_path: Path) -> None:
    rows = fleet_rows()
    text = "\n".join(fleet_report.section(rows, "benchmarks-fleet.png"))
    assert "| first full parse (2,000 DAG files)" in text and "(5.0 files/s)" in text
    assert "185.0% (over 150 s)" in text and "74.0×" in text  # stock ÷ shipped idle CPU
    assert "| ≥ 10.0× |" in text  # a stock figure whose waits were cut is a floor: 60 s over 6 s
    assert "](benchmarks-fleet.png)" in text
    sentences = fleet_report.sentences(rows)
    assert sentences[0].startswith("From 100 to 500 packages (5x as many)")
    assert sentences[1].startswith("- first full parse: grows with the packages (80.00 s → 400.00 s, x5.0)")
    assert "each further DAG file adds 200 ms" in sentences[1]
    assert "stays flat (2.0% → 2.5%)" in sentences[2]
    assert len(sentences) == 5
    assert fleet_report.plot(rows, tmp_path / "fleet.png")
    assert (tmp_path / "fleet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_series_no_growth_and_no_plot(tmp_path: Path) -> None:
    rows = [r for r in fleet_rows() if r.packages == 500]
    assert not fleet_report.plot(rows, tmp_path / "fleet.png")
    assert fleet_report.sentences(rows) == []
    assert not any(n.startswith("fleet growth") for n, _, _ in fleet_report.targets(rows))
    assert fleet_report.section([], None) == []
