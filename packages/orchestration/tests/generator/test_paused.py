"""jobs.yaml `paused`: a generated DAG starts active unless its job says `paused: true`, whatever
Airflow's `[core] dags_are_paused_at_creation` (the file sets is_paused_upon_creation itself)."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_dag_publisher.generator.spec import SpecError, parse_spec

from .support import run_cli

IMAGE = "registry.example.com/acme/jobs:1.0.0"


def test_jobs_start_active_unless_they_say_paused() -> None:
    spec = parse_spec(f"package: acme\nimage: {IMAGE}\ndefaults:\n  paused: true\njobs:\n  - name: held\n"
                      "  - name: live\n    paused: false\n", "jobs.yaml")
    assert {j.name: j.paused for j in spec.jobs} == {"held": True, "live": False}
    (plain,) = parse_spec(f"package: acme\nimage: {IMAGE}\njobs:\n  - name: load\n", "jobs.yaml").jobs
    assert plain.paused is False


@pytest.mark.parametrize("value", ['"yes"', "1", "null", "[true]"])
def test_paused_must_be_true_or_false(value: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(f"package: acme\nimage: {IMAGE}\njobs:\n  - name: load\n    paused: {value}\n", "jobs.yaml")
    (problem,) = info.value.problems
    assert problem.startswith("jobs.yaml:5: jobs[0].paused: expected true or false")


def test_generated_file_sets_is_paused_upon_creation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "jobs.yaml").write_text(f"package: acme\nimage: {IMAGE}\njobs:\n  - name: live\n"
                                        "  - name: held\n    paused: true\n")
    code, _, err = run_cli(["generate", "--spec", str(tmp_path / "jobs.yaml")], capsys)
    assert code == 0, err
    assert "    is_paused_upon_creation=False,\n" in (tmp_path / "airflow_dags/acme_live.py").read_text()
    assert "    is_paused_upon_creation=True,\n" in (tmp_path / "airflow_dags/acme_held.py").read_text()
    code, _, err = run_cli(["generate", "--package", "acme", "--name", "flags", "--image", IMAGE,
                            "--output-dir", str(tmp_path / "flags")], capsys)
    assert code == 0, err
    assert "    is_paused_upon_creation=False,\n" in (tmp_path / "flags/acme_flags.py").read_text()
