"""Golden files pin the template's output byte for byte. After an intended change of the template run
`UPDATE_GOLDEN=1 .venv/bin/pytest packages/orchestration/tests/generator/test_golden.py` and review the diff."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .support import run_cli

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def check_golden(produced: Path, golden_name: str) -> None:
    golden = GOLDEN / golden_name
    if UPDATE:
        shutil.copyfile(produced, golden)
    assert golden.is_file(), f"{golden} is missing: run with UPDATE_GOLDEN=1"
    assert produced.read_text() == golden.read_text(), f"{golden_name} changed: run with UPDATE_GOLDEN=1 and review"


@pytest.fixture(autouse=True)
def _no_ambient_options(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PACKAGE_NAME", "IMAGE_TAG"):
        monkeypatch.delenv(name, raising=False)


def test_golden_minimal_job_from_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["generate", "--package", "acme", "--name", "nightly_load",
                            "--image", "registry.example.com/acme/jobs:1.0.0", "--output-dir", str(tmp_path)], capsys)
    assert code == 0, err
    check_golden(tmp_path / "acme_nightly_load.py", "flags_minimal.py.txt")


def test_golden_every_field_from_a_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copyfile(GOLDEN / "full_spec.yaml", tmp_path / "jobs.yaml")
    code, _, err = run_cli(["generate", "--spec", str(tmp_path / "jobs.yaml")], capsys)
    assert code == 0, err
    check_golden(tmp_path / "airflow_dags/acme_full.py", "spec_full.py.txt")
    check_golden(tmp_path / "airflow_dags/acme_manual.py", "spec_manual.py.txt")
