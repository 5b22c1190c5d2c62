"""Schedules judged as Airflow judges them, without Airflow: croniter after Airflow's preset table.

Airflow's own verdict on the same schedules is compared in test_schedules_match_airflow.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from airflow_dag_publisher.generator.schedule import CRON_PRESETS, PRESETS, normalise_schedule, schedule_problem

from .support import run_cli

IMAGE = "registry.example.com/acme/jobs:1.0.0"
# The three the issue names (last day of the month, first Monday, "no specific value"), and more of
# croniter's grammar that Airflow 3.3 accepts.
ACCEPTED = ["0 0 L * *", "0 9 * * 1#1", "0 0 ? * *", "0 0 15W * *", "0 0 * * ?", "5-1 * * * *", "0 0 * * * 30",
            "0 0 1 1 * 0 2030", "@midnight", "@annually", "@DAILY", "59 23 31 12 7", "0 0 * JAN,jul *"]
REFUSED = {
    "61 * * * *": "minute field '61' is not acceptable, out of range",
    "* 24 * * *": "hour field '24' is not acceptable, out of range",
    "* * 0 * *": "day-of-month field '0' is not acceptable, out of range",
    "* * * 13 *": "month field '13' is not acceptable, out of range",
    "* * * * 8": "day-of-week field '8' is not acceptable, out of range",
    "*/0 * * * *": "minute field '*/0': step '0' in field 0 is not acceptable",
    "0 0 * * 5L": "day-of-week field '5L' is not acceptable",
    "H * * * *": "minute field 'H': Hashed definitions must include hash_id",
    "* * * *": "cron expression '* * * *' has 4 fields; Airflow takes 5",
    "0 0 1 1 1 1 1 1": "has 8 fields",
    "@fortnightly": "unknown preset '@fortnightly' (Airflow knows @hourly, @daily",
    "@reboot": "unknown preset '@reboot'",
    "@ONCE": "unknown preset '@ONCE'",
    "1,,2 * * * *": "minute field '1,,2' is not acceptable",
}


@pytest.mark.parametrize("schedule", [*ACCEPTED, *PRESETS])
def test_schedules_airflow_accepts_pass(schedule: str) -> None:
    assert schedule_problem(schedule) is None


@pytest.mark.parametrize(("schedule", "message"), sorted(REFUSED.items()))
def test_schedules_airflow_refuses_are_refused_naming_the_field(schedule: str, message: str) -> None:
    problem = schedule_problem(schedule)
    assert problem is not None and message in problem


def test_presets_are_resolved_before_parsing_as_airflow_does() -> None:
    assert CRON_PRESETS["@quarterly"] == "0 0 1 */3 *"  # croniter alone does not know @quarterly
    assert schedule_problem("@quarterly") is None


def test_whitespace_is_normalised_before_judging() -> None:
    assert normalise_schedule("  0\t3  * * *\n") == "0 3 * * *"
    assert normalise_schedule(" @once ") == "@once"


def test_a_spec_with_the_schedules_airflow_accepts_generates_them(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "jobs.yaml"
    jobs = "".join(f"  - name: job_{i}\n    schedule: '{s}'\n" for i, s in enumerate(ACCEPTED[:3]))
    spec.write_text(f"package: acme\nimage: {IMAGE}\njobs:\n{jobs}")
    code, _, err = run_cli(["generate", "--spec", str(spec)], capsys)
    assert (code, err) == (0, "")
    for i, schedule in enumerate(ACCEPTED[:3]):
        assert f'schedule="{schedule}"' in (tmp_path / "airflow_dags" / f"acme_job_{i}.py").read_text()


def test_a_refused_schedule_names_the_spec_line_and_the_flag(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "jobs.yaml"
    spec.write_text(f"package: acme\nimage: {IMAGE}\njobs:\n  - name: ok\n    schedule: '0 0 L * *'\n"
                    "  - name: bad\n    schedule: '0 0 * * 5L'\n")
    code, _, err = run_cli(["generate", "--spec", str(spec)], capsys)
    assert code == 2
    assert f"{spec}:7: jobs[1].schedule: cron expression '0 0 * * 5L' is refused by Airflow's cron parser" in err
    code, _, err = run_cli(["generate", "--package", "acme", "--name", "bad", "--image", IMAGE, "--schedule",
                            "@fortnightly", "--output-dir", str(tmp_path / "out")], capsys)
    assert code == 2
    assert "--schedule: unknown preset '@fortnightly'" in err and "Traceback" not in err
    assert not (tmp_path / "airflow_dags").exists() and not (tmp_path / "out").exists()


BLOCK_AIRFLOW = """
import importlib.abc, sys
class NoAirflow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError(f"{name} is blocked: generate must work without Airflow")
sys.meta_path.insert(0, NoAirflow())
from airflow_dag_publisher.cli.main import main
code = main(sys.argv[1:])
assert not [m for m in sys.modules if m == "airflow" or m.startswith("airflow.")], "Airflow was imported"
sys.exit(code)
"""


def test_generate_judges_schedules_without_airflow(tmp_path: Path) -> None:
    argv = ["generate", "--package", "acme", "--name", "eom", "--image", IMAGE, "--schedule", "0 0 L * *",
            "--output-dir", str(tmp_path)]
    done = subprocess.run([sys.executable, "-c", BLOCK_AIRFLOW, *argv], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert 'schedule="0 0 L * *"' in (tmp_path / "acme_eom.py").read_text()
    bad = subprocess.run([sys.executable, "-c", BLOCK_AIRFLOW, *argv[:-3], "61 * * * *", "--output-dir",
                          str(tmp_path / "bad")], capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "--schedule: cron expression '61 * * * *'" in bad.stderr, bad.stderr
