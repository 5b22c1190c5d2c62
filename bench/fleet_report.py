"""The fleet scenario's part of docs/benchmarks.md (bench/fleet_bench.py's rows): its targets, the table
of the shipped configuration beside Airflow's stock one, the growth series with one sentence per
figure, and the plot (`<doc stem>-fleet.png`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import Row, fmt, percentile
from bench.fleet_bench import (
    CHANGED,
    FIRST_PARSE,
    FIRST_PARSE_CPU,
    FOLDER,
    IDLE_CPU,
    IDLE_PARSES,
    NEW,
    SHIPPED,
    STOCK,
)

TARGET_LATENCY = 10.0   # publish -> serialized p95, changed and new DAG, at the main size (s)
MOONSHOT_LATENCY = 5.0
TARGET_IDLE = 10.0      # dag-processor CPU while nothing is published, % of one core
TARGET_IDLE_WINDOW = 120.0  # ... measured over at least this long (s)


def _rows(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.section == "fleet" and r.values]


def main_size(rows: list[Row]) -> int:
    return max((r.packages for r in _rows(rows)), default=0)


def _get(rows: list[Row], scenario: str, peer: str, packages: int) -> Row | None:
    return next((r for r in _rows(rows) if (r.scenario, r.peer, r.packages) == (scenario, peer, packages)), None)


def sizes(rows: list[Row], peer: str = SHIPPED) -> list[int]:
    return sorted({r.packages for r in _rows(rows) if r.peer == peer})


def _files(rows: list[Row], packages: int) -> int:
    row = _get(rows, FIRST_PARSE, SHIPPED, packages) or _get(rows, FIRST_PARSE, STOCK, packages)
    head = row.note.split(" ", 1)[0].replace(",", "") if row else ""
    return int(head) if head.isdigit() else 0


def _p95(row: Row | None) -> float:
    return percentile(row.values, 0.95) if row else float("nan")


def _latency(row: Row | None) -> str:
    if row is None:
        return "n/a"
    text = (f"p50 {fmt(row.median, 's')}, p95 {fmt(_p95(row), 's')}, max {fmt(max(row.values), 's')} "
            f"({len(row.values)} publishes)")
    return text + (f"; {row.note}" if row.note else "")


def _median(row: Row | None) -> float:
    return row.median if row else float("nan")


def _pct(value: float) -> str:
    return f"{value:.1f}% of one core"


LABEL = {SHIPPED: "shipped (one release bundle per package)", FOLDER: "shipped settings, the DAGs folder as one bundle",
         STOCK: "Airflow's stock configuration"}


def _ours(rows: list[Row], n: int) -> list[str]:
    """The shipped peers measured at size n (the release bundles first)."""
    return [peer for peer in (SHIPPED, FOLDER) if _get(rows, IDLE_CPU, peer, n) or _get(rows, CHANGED, peer, n)]


# -- targets --------------------------------------------------------------------------------------
def targets(rows: list[Row]) -> list[tuple[str, bool | None, str]]:
    n = main_size(rows)
    if not n:
        return []
    files = _files(rows, n)
    out: list[tuple[str, bool | None, str]] = []
    for peer in _ours(rows, n):
        where = f"{LABEL[peer]}, {n:,} packages, {files:,} DAG files"
        for scenario, kind in ((CHANGED, "changed"), (NEW, "new")):
            ours, stock = _get(rows, scenario, peer, n), _get(rows, scenario, STOCK, n)
            if ours is None:
                continue
            p95 = _p95(ours)
            text = f"{_latency(ours)}; Airflow's stock configuration: {_latency(stock)}"
            text += f"; the moonshot ({MOONSHOT_LATENCY:g} s) is {'met' if p95 <= MOONSHOT_LATENCY else 'missed'}"
            out.append((f"fleet ({where}): publish → serialized p95 ≤ {TARGET_LATENCY:g} s for a {kind} DAG",
                        p95 <= TARGET_LATENCY, text))
        idle, stock_idle = _get(rows, IDLE_CPU, peer, n), _get(rows, IDLE_CPU, STOCK, n)
        if idle is None:
            continue
        parsed, stock_parsed = _get(rows, IDLE_PARSES, peer, n), _get(rows, IDLE_PARSES, STOCK, n)
        window = _window(idle)
        text = f"{_pct(idle.median)} over {window:.0f} s"
        if parsed:
            text += f", {parsed.median:,.0f} DAG files parsed meanwhile"
        safety = amortized(rows, n, peer)
        if safety is not None:
            text += (f" (beside it, the safety net that parses every file again every {safety[0] / 3600:g} h "
                     f"costs {safety[1]:.2f}% of a core on average: the first full parse's CPU over that interval)")
        if stock_idle:
            text += f"; Airflow's stock configuration: {_pct(stock_idle.median)}"
            if stock_parsed:
                text += f", {stock_parsed.median:,.0f} DAG files parsed"
        out.append((f"fleet ({where}): dag-processor CPU while nothing is published ≤ "
                    f"{TARGET_IDLE:g}% of one core over ≥ {TARGET_IDLE_WINDOW / 60:g} min",
                    idle.median <= TARGET_IDLE and window >= TARGET_IDLE_WINDOW, text))
    counts = sizes(rows)
    if len(counts) >= 2:
        flat = [_flat(_series(rows, s, fn), unit) for s, fn, unit in
                ((CHANGED, _p95, "s"), (NEW, _p95, "s"), (IDLE_CPU, lambda r: r.median if r else float("nan"), "%"))]
        parse = _series(rows, FIRST_PARSE, lambda r: r.median if r else float("nan"))
        text = "; ".join(s.removeprefix("- ").rstrip(".") for s in sentences(rows)[1:])
        out.append(("fleet growth: publish → serialized and idle CPU flat in the packages, first full parse "
                    "grows with them", all(flat) and parse[-1][1] > parse[0][1], text))
    return out


def amortized(rows: list[Row], packages: int, peer: str = SHIPPED) -> tuple[float, float] | None:
    """(interval s, % of a core): a shipped peer's periodic parse of every file, averaged over its
    interval (min_file_process_interval), from the first full parse's CPU."""
    cpu = _get(rows, FIRST_PARSE_CPU, peer, packages)
    try:
        interval = float(cpu.note.rsplit("every ", 1)[1].split(" s", 1)[0]) if cpu else 0.0
    except (IndexError, ValueError):
        return None
    if cpu is None or interval < 600:  # a short interval re-parses all the time: the idle figure has it
        return None
    return interval, 100 * cpu.median / interval


def _window(row: Row) -> float:
    try:
        return float(row.note.split("over ", 1)[1].split(" s", 1)[0])
    except (IndexError, ValueError):
        return 0.0


def _series(rows: list[Row], scenario: str, value: Any) -> list[tuple[int, float]]:
    return [(n, value(_get(rows, scenario, SHIPPED, n))) for n in sizes(rows)]


def _flat(points: list[tuple[int, float]], unit: str) -> bool:
    """Flat: the largest fleet's figure is within 1.5x of the smallest's, or within a small absolute
    step (2 s, or 2 points of a core) that noise on a shared machine makes anyway."""
    (_, v0), (_, v1) = points[0], points[-1]
    return v1 <= max(1.5 * v0, v0 + 2.0)


# -- the section ----------------------------------------------------------------------------------
def table(rows: list[Row]) -> list[str]:
    n = main_size(rows)
    if not n:
        return []
    files = _files(rows, n)
    peers = [*_ours(rows, n), *([STOCK] if _get(rows, IDLE_CPU, STOCK, n) or _get(rows, CHANGED, STOCK, n) else [])]
    head = ["figure", *(LABEL[p] for p in peers), "stock ÷ shipped"]
    lines = [f"| {' | '.join(head)} |", "|" + "---|" * len(head)]

    def cell(row: Row | None, kind: str) -> str:
        if row is None:
            return "n/a"
        if kind == "parse":
            return f"{fmt(row.median, 's')} ({files / max(row.median, 1e-9):.1f} files/s)"
        if kind == "cpu-s":
            return f"{row.median:,.0f} CPU-s ({1000 * row.median / max(files, 1):.0f} ms per file)"
        if kind == "%":
            return f"{row.median:.1f}% ({row.note})"
        if kind == "files":
            return f"{row.median:,.0f}"
        return f"{fmt(row.median, 's')} / {fmt(_p95(row), 's')} / {fmt(max(row.values), 's')} ({len(row.values)})" + (
            f", {row.note}" if row.note else "")

    for scenario, kind, label in (
            (FIRST_PARSE, "parse", f"first full parse ({files:,} DAG files): dag-processor start → all serialized"),
            (FIRST_PARSE_CPU, "cpu-s", "first full parse: CPU of the dag-processor's process tree"),
            (IDLE_CPU, "%", "dag-processor CPU while nothing is published (% of one core)"),
            (IDLE_PARSES, "files", "DAG files parsed meanwhile"),
            (CHANGED, "lat", "publish → serialized, changed DAG: p50 / p95 / max (runs)"),
            (NEW, "lat", "publish → serialized, new DAG: p50 / p95 / max (runs)")):
        got = [_get(rows, scenario, peer, n) for peer in peers]
        if not any(got):
            continue
        ours, stock = _get(rows, scenario, SHIPPED, n), _get(rows, scenario, STOCK, n)
        if ours and stock and kind in ("%", "lat", "parse"):
            stat = _p95 if kind == "lat" else _median
            censored = "cut at" in stock.note  # the stock peer's waits were cut: its figure is a floor
            compare = f"{'≥ ' if censored else ''}{stat(stock) / max(stat(ours), 1e-9):,.1f}×"
        else:
            compare = "—"
        lines.append(f"| {label} | " + " | ".join(cell(row, kind) for row in got) + f" | {compare} |")
    return lines


def growth_table(rows: list[Row]) -> list[str]:
    counts = sizes(rows)
    if len(counts) < 2:
        return []
    lines = ["| figure (shipped configuration) | " + " | ".join(f"{n:,} packages ({_files(rows, n):,} files)"
                                                              for n in counts) + " |",
             "|---|" + "---|" * len(counts)]
    for label, scenario, value in (
            ("first full parse", FIRST_PARSE, lambda r: fmt(r.median, "s")),
            ("idle CPU (% of one core)", IDLE_CPU, lambda r: f"{r.median:.1f}%"),
            ("changed DAG: p50 / p95", CHANGED, lambda r: f"{fmt(r.median, 's')} / {fmt(_p95(r), 's')}"),
            ("new DAG: p50 / p95", NEW, lambda r: f"{fmt(r.median, 's')} / {fmt(_p95(r), 's')}")):
        cells = [value(row) if (row := _get(rows, scenario, SHIPPED, n)) else "" for n in counts]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _shape(points: list[tuple[int, float]], unit: str) -> str:
    (n0, v0), (n1, v1) = points[0], points[-1]
    text = (f"{v0:.1f}% → {v1:.1f}%" if unit == "%" else f"{fmt(v0, 's')} → {fmt(v1, 's')}")
    if _flat(points, unit) and unit != "parse":
        return f"stays flat ({text})"
    factor = v1 / max(v0, 1e-9)
    shape = "grows with the packages" if factor >= 0.7 * n1 / n0 else "grows less than the packages"
    return f"{shape} ({text}, x{factor:.1f})"


def sentences(rows: list[Row]) -> list[str]:
    counts = sizes(rows)
    if len(counts) < 2:
        return []
    lo, hi = counts[0], counts[-1]
    parse = _series(rows, FIRST_PARSE, lambda r: r.median)
    files_hi = _files(rows, hi)
    rate = (files_hi - _files(rows, lo)) / max(parse[-1][1] - parse[0][1], 1e-9)
    out = [f"From {lo:,} to {hi:,} packages ({hi / lo:,.0f}x as many), shipped configuration:",
           f"- first full parse: {_shape([(n, v) for n, v in parse], 'parse')}: each further DAG file adds "
           f"{1000 / max(rate, 1e-9):.0f} ms ({rate:.1f} files/s at the margin).",
           f"- dag-processor CPU while nothing is published: {_shape(_series(rows, IDLE_CPU, _median), '%')}.",
           f"- publish → serialized p95, changed DAG: {_shape(_series(rows, CHANGED, _p95), 's')}.",
           f"- publish → serialized p95, new DAG: {_shape(_series(rows, NEW, _p95), 's')}."]
    return out


def section(rows: list[Row], plot: str | None) -> list[str]:
    if not main_size(rows):
        return []
    lines = ["### Airflow at fleet scale", "", *table(rows), ""]
    if len(sizes(rows)) >= 2:
        lines += ["Growth with the number of packages (the shipped configuration):", ""]
        if plot:
            lines += [f"![first full parse, idle CPU and publish → serialized p95 against the number of "
                      f"packages]({plot})", ""]
        lines += [*growth_table(rows), "", *sentences(rows), ""]
    return lines


def measured(params: dict[str, Any]) -> list[str]:
    if not params:
        return []
    cfg = ", ".join(f"`{k.split('__')[-1].lower()}={v}`" for k, v in sorted(params.get("shipped", {}).items())
                    if k.startswith(("AIRFLOW__DAG_PROCESSOR__", "AIRFLOW__CORE__MIN_SERIALIZED")))
    series = params.get("series", [])
    return [
        f"- Airflow at fleet scale: {params.get('packages', 0):,} packages x {params.get('files')} "
        "KubernetesPodOperator DAG files published to one bucket (with the publisher the CLI runs, in-process), "
        f"mirrored by the `airflow-dag-sync` process (`--interval {params.get('dagsync_interval')}`), parsed by a "
        "real Airflow dag-processor (LocalExecutor, sqlite, the shipped cluster policy) with a fresh database per "
        "measurement. Shipped configuration: the Helm values, with one release bundle per package "
        "(`dag_bundle_config_list` from `python -m airflow_dag_publisher.bundle config`), the parse-requests "
        "process beside the dag-processor, both run as `python -m airflow_dag_publisher.dag_processor` (Airflow's "
        f"command with the fleet manager): {cfg}. Beside it at the largest fleet, the same settings with the DAGs "
        "folder as one bundle (no release bundles), and Airflow's stock configuration (`airflow dag-processor`, "
        "alone): Airflow's defaults "
        "(`refresh_interval=300`, `min_file_process_interval=30`, `min_serialized_dag_update_interval=30`, "
        "`bundle_refresh_check_interval=5`, the DAGs folder as one bundle, no parse-requests process) with two "
        "parse processes, as the shipped one. First full parse: from starting the dag-processor until every DAG of "
        "the fleet is in `serialized_dag`. CPU: the whole process tree of the dag-processor and of its "
        "parse-requests process (the managers, their finished and running parse processes) while nothing is "
        f"published, starting 10 s after the first full parse: {params.get('idle', 0):g} s for the shipped "
        f"configuration, {params.get('folder_idle', 0):g} s for the others. Publish → serialized: "
        f"{params.get('changes')} changed DAGs (a new description) and {params.get('changes')} new DAG files "
        f"({params.get('folder_changes')} of each with the DAGs folder bundle, {params.get('stock_changes')} with "
        "the stock configuration), alternating, each in another package picked at random over the fleet, published "
        "with the CLI (`publish --skip-dynamic-validation`) at a random moment (0-2 s after the previous one was "
        "seen); from the publisher's journal entry to the DAG's new form in `serialized_dag`. The stock "
        f"configuration's waits are cut at {params.get('stock_wait', 0):g} s (counted as that: its new files are "
        "listed every 300 s, and a changed file waits for the whole fleet's round). The peers run one after the "
        f"other, shipped first. Growth series: the shipped configuration at {', '.join(f'{n:,}' for n in series)} "
        f"packages of the same bucket (before it grew), {params.get('series_idle', 0):g} s idle, "
        f"{params.get('series_changes')} changes of each kind; the largest size is the main measurement.",
    ]


def plot(rows: list[Row], path: Path) -> bool:
    """First full parse, idle CPU and publish -> serialized p95 against the packages; False without a series."""
    counts = sizes(rows)
    if len(counts) < 2:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = main_size(rows)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), dpi=100)
    panels = (("first full parse", "seconds", [(FIRST_PARSE, "median", "o")]),
              ("dag-processor CPU while nothing is published", "% of one core", [(IDLE_CPU, "median", "o")]),
              ("publish → serialized p95", "seconds", [(CHANGED, "p95", "o"), (NEW, "p95", "s")]))
    for ax, (title, ylabel, figures) in zip(axes, panels, strict=True):
        for scenario, stat, marker in figures:
            value = _p95 if stat == "p95" else (lambda r: r.median)
            points = _series(rows, scenario, value)
            label = f"shipped{': ' + scenario.split(': ')[-1] if scenario in (CHANGED, NEW) else ''}"
            ax.plot([p for p, _ in points], [v for _, v in points], marker=marker, label=label)
            for other, mark, name in ((FOLDER, "D", "DAGs folder bundle"), (STOCK, "x", "stock")):
                found = _get(rows, scenario, other, n)
                if found:
                    ax.plot([n], [value(found)], marker=mark, linestyle="none", markersize=8,
                            label=f"{name}{': ' + scenario.split(': ')[-1] if scenario in (CHANGED, NEW) else ''}"
                                  f" ({n:,} packages)")
        if title.startswith("dag-processor"):
            ax.axhline(TARGET_IDLE, color="grey", linestyle=":", label=f"target {TARGET_IDLE:g}%")
        if title.startswith("publish"):
            ax.axhline(TARGET_LATENCY, color="grey", linestyle=":", label=f"target {TARGET_LATENCY:g} s")
        values = [v for line in ax.get_lines() for v in line.get_ydata()]
        if values and max(values) > 20 * max(min(values), 1e-9):
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, max(values) * 1.25 if values else 1)
        ax.set(title=title, xlabel="packages (4 DAG files each)" if _files(rows, n) == 4 * n else "packages",
               ylabel=ylabel)
        ax.set_xticks(counts)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Airflow's dag-processor as the fleet grows: shipped configuration (line), at the largest fleet "
                 "the DAGs folder bundle (◆) and stock (x); one bench run")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True
