"""The generator accepts exactly the schedules Airflow 3.3 accepts: a table of schedules, each judged
by `generate` and by real Airflow (DagBag + serialization, in one subprocess) in the same test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow_dag_publisher.cli.main import main
from airflow_dag_publisher.generator.schedule import CRON_PRESETS, PRESETS

from .support import HERE, run_probe
from .test_schedule import ACCEPTED, REFUSED

pytestmark = pytest.mark.slow

IMAGE = "registry.example.com/acme/jobs:1.0.0"
SCHEDULES = sorted({
    *ACCEPTED, *REFUSED, *PRESETS,
    "0 3 * * *", "*/15 * * * MON-FRI", "0 0 31 2 *", "0  3 * * *", "0 0 LW * *", "0 0 * * L", "0 0 * * 1#6",
    "0 0 * * MON#2", "0 0 L-2 * *", "0 0 1W * *", "0 0 ? * ?", "0 0 * * 0-7", "0 0 * * SAT-SUN", "5-1/2 * * * *",
    "0 0 1-31/0 * *", "0 0 * * MON-FOO", "0 0 * * * 60", "0 0 * * * * 1969", "@ daily", "@Daily", "", "daily",
    "* * * * * * * *", "1-60 * * * *", "0 0 */32 * *",
})
BARE_DAG = """from airflow.sdk import DAG

with DAG(dag_id="bare_{index:03d}", schedule={schedule!r}, catchup=False, max_active_runs=1):
    pass
"""


def _generate(schedule: str, name: str, output_dir: Path) -> int:
    try:
        return main(["generate", "--package", "acme", "--name", name, "--image", IMAGE, "--schedule", schedule,
                     "--output-dir", str(output_dir)])
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, int], dict[str, Any]]:
    """(generate's exit code per schedule, Airflow's report on a bare DAG per schedule and on each generated file)."""
    root = tmp_path_factory.mktemp("schedules")
    bare, generated = root / "bare", root / "generated"
    bare.mkdir()
    codes = {}
    for index, schedule in enumerate(SCHEDULES):
        (bare / f"bare_{index:03d}.py").write_text(BARE_DAG.format(index=index, schedule=schedule))
        codes[schedule] = _generate(schedule, f"s_{index:03d}", generated)
    (root / "airflow").mkdir()
    return codes, run_probe(HERE / "schedule_probe.py", [bare, generated], root / "airflow")


def _airflow_accepts(entry: dict[str, Any]) -> bool:
    return entry["import_error"] is None and entry["serialize_error"] is None and entry["timetable"] is not None


def test_generate_accepts_exactly_the_schedules_airflow_accepts(
        judged: tuple[dict[str, int], dict[str, Any]]) -> None:
    codes, report = judged
    assert set(codes.values()) <= {0, 2}
    airflow = {s: _airflow_accepts(report["files"][f"bare/bare_{i:03d}.py"]) for i, s in enumerate(SCHEDULES)}
    ours = {s: codes[s] == 0 for s in SCHEDULES}
    assert ours == airflow
    # the table holds both kinds, and the three are among those Airflow accepts
    assert {"0 0 L * *", "0 9 * * 1#1", "0 0 ? * *"} <= {s for s, ok in airflow.items() if ok}
    assert set(REFUSED) <= {s for s, ok in airflow.items() if not ok}


def test_every_generated_file_imports_in_airflow_with_the_schedule_it_was_given(
        judged: tuple[dict[str, int], dict[str, Any]]) -> None:
    codes, report = judged
    generated = {name: entry for name, entry in report["files"].items() if name.startswith("generated/")}
    assert len(generated) == sum(code == 0 for code in codes.values())
    for index, schedule in enumerate(SCHEDULES):
        if codes[schedule] != 0:
            continue
        entry = generated[f"generated/acme_s_{index:03d}.py"]
        assert _airflow_accepts(entry), (schedule, entry)
        assert entry["timetable"] == report["files"][f"bare/bare_{index:03d}.py"]["timetable"], schedule


def test_preset_table_is_airflows(judged: tuple[dict[str, int], dict[str, Any]]) -> None:
    _, report = judged
    assert report["cron_presets"] == report["core_cron_presets"] == CRON_PRESETS
