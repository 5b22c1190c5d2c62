"""`make bench` at a tiny scale, so the benchmark scripts cannot rot: every script runs against its
own SeaweedFS (and Airflow for publish -> visible) and every row of the table is produced, from an
AWS user's shell (tests/devstack/aws_user.py): its peers (`aws s3 sync`, S3Hook) must not read it.
Not a timed test: no figure is checked against a target here."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from bench.common import read_rows
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
from bench.publish_bench import DEFAULT, STATIC
from bench.sync_bench import AGENT, AGENT_RECONCILE, AWS, GROWTH_COLD, GROWTH_NOOP, GROWTH_TASK, HOOK, ONCE, ONCE_DAG
from bench.validate_bench import IMPORT, LABELS
from tests.devstack.aws_user import aws_user_env

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(1800)
def test_bench_run_at_tiny_scale_produces_every_row(tmp_path: Path) -> None:
    doc, out = tmp_path / "benchmarks.md", tmp_path / "out"
    cmd = [sys.executable, "-m", "bench.run", "--packages", "5", "--files", "3", "--reps", "1", "--cold-reps", "1",
           "--propagation", "1", "--publish-reps", "1", "--validate-reps", "1", "--validate-files", "3",
           "--publishes", "1", "--series", "2,5", "--series-reps", "1", "--fleet-packages", "3", "--fleet-files", "1",
           "--fleet-series", "2", "--fleet-idle", "5", "--fleet-series-idle", "5", "--fleet-changes", "1",
           "--fleet-series-changes", "1", "--fleet-folder-idle", "5", "--fleet-folder-changes", "1",
           "--fleet-stock-changes", "1", "--fleet-stock-wait", "5",
           "--doc", str(doc), "--out-dir", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, env=aws_user_env(tmp_path / "home"), capture_output=True, text=True,
                          timeout=1700, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]

    sync, _ = read_rows(out / "sync.json")
    pairs = {(r.scenario.split(" (")[0], r.peer, r.unit) for r in sync}
    for scenario, peers in (("cold sync", (AGENT, ONCE, AWS, HOOK)),
                            ("no-change cycle", (AGENT, AGENT_RECONCILE, ONCE, AWS, HOOK)),
                            ("one changed file", (AGENT, ONCE, AWS, HOOK))):
        for peer in peers:
            assert {(scenario, peer, "s"), (scenario, peer, "requests")} <= pairs, (scenario, peer)
    assert {r.peer for r in sync if r.scenario.startswith("one changed file, agent")} == {
        "publish commit -> new bytes in the DAGs folder", "duration of the cycle that applied it"}
    assert {("task pod start", ONCE_DAG, "s"), ("task pod start", ONCE_DAG, "requests")} <= pairs
    assert all(r.values for r in sync)
    growth = {(r.packages, r.scenario, r.peer, r.unit) for r in sync if r.section == "growth"}
    for packages in (2, 5):
        for scenario, peers in ((GROWTH_COLD, (ONCE, AWS)), (GROWTH_TASK, (ONCE_DAG,)),
                                (GROWTH_NOOP, (AGENT, ONCE, AWS))):
            for peer in peers:
                assert (packages, scenario, peer, "requests") in growth, (packages, scenario, peer)
    task_requests = {r.packages: r.median for r in sync
                     if (r.section, r.scenario, r.unit) == ("growth", GROWTH_TASK, "requests")}
    assert task_requests[2] == task_requests[5] <= 5, task_requests

    publish, _ = read_rows(out / "publish.json")
    got = {(r.scenario.split(":")[1].split(" (")[0].strip(), r.peer, r.unit) for r in publish
           if r.section == "publish"}
    assert got == {(kind, peer, unit) for kind in ("cold", "no-op") for peer in (DEFAULT, STATIC)
                   for unit in ("s", "requests")}
    assert {r.peer for r in publish if r.section == "validate"} == {*LABELS, IMPORT}

    airflow, _ = read_rows(out / "airflow.json")
    assert {r.peer for r in airflow} >= {"new DAG file", "changed DAG file"}
    assert all(r.values for r in publish + airflow)

    fleet, _ = read_rows(out / "fleet.json")
    got_fleet = {(r.packages, r.scenario, r.peer) for r in fleet if r.values}
    for packages, peers in ((2, (SHIPPED,)), (3, (SHIPPED, FOLDER, STOCK))):
        for scenario in (FIRST_PARSE, FIRST_PARSE_CPU, IDLE_CPU, IDLE_PARSES, CHANGED, NEW):
            for peer in peers:
                assert (packages, scenario, peer) in got_fleet, (packages, scenario, peer)

    text = doc.read_text()
    for heading in ("## Targets", "### Sync", "### Publish", "### Validation", "### Publish → visible in Airflow",
                    "### One changed file with the agent running", "### Growth with the number of packages",
                    "### Airflow at fleet scale", "## What was measured"):
        assert heading in text
    plot = tmp_path / "benchmarks-growth.png"
    assert "](benchmarks-growth.png)" in text and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](benchmarks-fleet.png)" in text
    assert (tmp_path / "benchmarks-fleet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "- fleet (shipped (one release bundle per package), 3 packages, " in text
    assert "From 2 to 3 packages (2x as many), shipped configuration:" in text
    assert "From 2 to 5 packages" in text
    growth_lines = [line for line in text.splitlines() if line.startswith("- task pod start")]
    assert growth_lines and re.search(r"time (stays flat|grows [a-z ]+) \(", growth_lines[0]), growth_lines
    assert "`python -m bench.run --packages 5 " in text and "--out-dir" not in text  # what was measured, only
    check_header(text)

    # the kept JSON renders the same document again, without measuring
    again = tmp_path / "again.md"
    rendered = subprocess.run([sys.executable, "-m", "bench.run", "--from-json", str(out), "--doc", str(again)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    assert again.read_text() == text.replace("benchmarks-growth.png", "again-growth.png").replace(
        "benchmarks-fleet.png", "again-fleet.png")  # the plots are <doc>-growth, <doc>-fleet
    assert (tmp_path / "again-growth.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "again-fleet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a later run of one script (--only fleet --out-dir later) takes that script's place in the kept run
    later = tmp_path / "later"
    later.mkdir()
    kept = json.loads((out / "run.json").read_text())
    shutil.copyfile(out / "fleet.json", later / "fleet.json")
    (later / "run.json").write_text(json.dumps({**kept, "command": "python -m bench.run --only fleet",
                                                "started": "2099-01-01 00:00",
                                                "params": {"fleet": kept["params"]["fleet"]}}))
    merged = tmp_path / "merged.md"
    replaced = subprocess.run([sys.executable, "-m", "bench.run", "--from-json", str(out), "--replace-with",
                               str(later), "--doc", str(merged)], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, check=False)
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    assert "- `fleet` measured again by `python -m bench.run --only fleet` on 2099-01-01 00:00 (UTC)" in (
        merged.read_text())
    assert json.loads((out / "run.json").read_text())["replaced"]["fleet"]["started"] == "2099-01-01 00:00"


def check_header(text: str) -> None:
    """The document's header describes this machine and these versions, read here without bench/'s help
    (a header of `unknown`s, or of another machine, is a broken benchmark record)."""
    lines = text.splitlines()
    machine_line = next((line for line in lines if line.startswith("- machine: ")), "")
    assert machine_line.startswith(f"- machine: {_cpu_model()}, {os.cpu_count()} cores, "), machine_line
    assert f", Linux {platform.release()}; load average " in machine_line, machine_line
    versions = next((line for line in lines if line.startswith("- versions: ")), "")
    for expected in (f"Python {platform.python_version()}", f"Apache Airflow {version('apache-airflow')} ",
                     f"boto3 {version('boto3')}", f"airflow-dag-publisher {version('airflow-dag-publisher')}"):
        assert expected in versions, (expected, versions)
    assert "unknown RAM" not in machine_line and "unknown" not in versions, (machine_line, versions)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"  # no model name (some ARM kernels): what bench/ prints then
