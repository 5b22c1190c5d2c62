"""The growth series of the sync benchmark (bench/sync_bench.py's `growth_rows`): how cold sync, a
task pod's `--once --dag-id` and a no-change cycle grow with the number of packages, for the agent
and `aws s3 sync`. Renders the table, one sentence per figure, and the plot (PNG, matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import Row, fmt
from bench.sync_bench import AGENT, AWS, GROWTH_COLD, GROWTH_NOOP, GROWTH_TASK, ONCE, ONCE_DAG

LABELS = {AGENT: "agent, in-process cycle", ONCE: "agent --once (process)", ONCE_DAG: "agent --once --dag-id",
          AWS: "aws s3 sync --delete"}
# (figure title, scenario, peers): the three time panels of the plot, in order
PANELS = [
    ("cold sync (a pod's init container)", GROWTH_COLD, (ONCE, AWS)),
    ("task pod start: --once --dag-id", GROWTH_TASK, (ONCE_DAG,)),
    ("no-change cycle (warm folder)", GROWTH_NOOP, (AGENT, ONCE, AWS)),
]
REQUESTS = [(GROWTH_COLD, ONCE), (GROWTH_COLD, AWS), (GROWTH_TASK, ONCE_DAG), (GROWTH_NOOP, AGENT),
            (GROWTH_NOOP, ONCE), (GROWTH_NOOP, AWS)]


def series(rows: list[Row], scenario: str, peer: str, unit: str) -> list[tuple[int, float]]:
    """(packages, median) points of one figure, by package count."""
    return sorted((r.packages, r.median) for r in rows
                  if r.section == "growth" and (r.scenario, r.peer, r.unit) == (scenario, peer, unit) and r.values)


def sizes(rows: list[Row]) -> list[int]:
    return sorted({r.packages for r in rows if r.section == "growth"})


def table(rows: list[Row]) -> list[str]:
    counts = sizes(rows)
    if not counts:
        return []
    lines = ["| figure | peer | " + " | ".join(f"{n:,} packages" for n in counts) + " |",
             "|---|---|" + "---|" * len(counts)]
    for _title, scenario, peers in PANELS:
        for peer in peers:
            times = dict(series(rows, scenario, peer, "s"))
            requests = dict(series(rows, scenario, peer, "requests"))
            if not times:
                continue
            cells = [f"{fmt(times[n], 's')} / {fmt(requests.get(n, float('nan')), 'requests')}" if n in times else ""
                     for n in counts]
            lines.append(f"| {scenario} | {LABELS[peer]} | " + " | ".join(cells) + " |")
    return [*lines, "", "Each cell: time (median) / S3 requests (median)."]


def _growth(points: list[tuple[int, float]], unit: str) -> str:
    """How one figure grows from the smallest package count to the largest, in words and numbers."""
    (n0, v0), (n1, v1) = points[0], points[-1]
    if v0 <= 0:  # nothing to scale from: say where it went, without a factor
        return f"{'stays flat' if v1 <= 0 else 'grows from nothing'} ({fmt(v0, unit)} → {fmt(v1, unit)})"
    factor = v1 / v0
    packages = n1 / n0
    if factor <= 1.5:
        shape = "stays flat"
    elif factor >= 0.7 * packages:
        shape = "grows with the packages"
    else:
        shape = "grows less than the packages"
    return f"{shape} ({fmt(v0, unit)} → {fmt(v1, unit)}, x{factor:,.1f})"


def sentences(rows: list[Row]) -> list[str]:
    """One sentence per figure: how it grows from the smallest to the largest package count."""
    counts = sizes(rows)
    if len(counts) < 2:
        return []
    lo, hi = counts[0], counts[-1]
    out = [f"From {lo:,} to {hi:,} packages ({hi / lo:,.0f}x as many):"]
    for title, scenario, peers in PANELS:
        parts = []
        for peer in peers:
            times, requests = series(rows, scenario, peer, "s"), series(rows, scenario, peer, "requests")
            if len(times) >= 2 and len(requests) >= 2:
                parts.append(f"{LABELS[peer]}: time {_growth(times, 's')}, "
                             f"request count {_growth(requests, 'requests')}")
        if parts:
            out.append(f"- {title}: " + "; ".join(parts) + ".")
    return out


def plot(rows: list[Row], path: Path) -> bool:
    """Draw the series (time per figure, requests) into `path`; False when there is no series."""
    if len(sizes(rows)) < 2:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda value, _pos: f"{value:,g}")
    # minor ticks of a log axis: label 2 and 5 of each decade only
    some = FuncFormatter(lambda value, _pos: f"{value:,g}" if f"{value:e}"[0] in "25" else "")
    markers = iter("os^vDxP*")
    style = {peer: next(markers) for peer in LABELS}

    def finish(ax: Any, title: str, ylabel: str) -> None:
        ax.set(title=title, xlabel="packages in the bucket", ylabel=ylabel, xscale="log")
        ax.set_xticks(sizes(rows))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(NullFormatter())
        values = [v for line in ax.get_lines() for v in line.get_ydata()]
        if values and max(values) < 10 * min(values):  # less than a decade (a flat figure): from zero
            ax.set_ylim(0, max(values) * 1.3)
        else:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(some)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), dpi=100)
    for ax, (title, scenario, peers) in zip(axes.flat, PANELS, strict=False):
        for peer in peers:
            points = series(rows, scenario, peer, "s")
            if points:
                ax.plot([n for n, _ in points], [v for _, v in points], marker=style[peer], label=LABELS[peer])
        finish(ax, title, "seconds (median)")
    ax = axes.flat[3]
    for scenario, peer in REQUESTS:
        points = series(rows, scenario, peer, "requests")
        if points:
            ax.plot([n for n, _ in points], [max(v, 0.5) for _, v in points], marker=style[peer],
                    linestyle="--" if scenario == GROWTH_NOOP else "-",
                    label=f"{scenario.split(' (')[0]}: {LABELS[peer]}")
    finish(ax, "S3 requests", "requests (median)")
    fig.suptitle("airflow-dag-sync and aws s3 sync as the number of packages grows (one bench run)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True
