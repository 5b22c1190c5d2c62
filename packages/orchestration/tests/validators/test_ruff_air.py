"""ruff's AIR layer: its findings are warnings; a requested layer that cannot run is an error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib
from airflow_dag_publisher.validators import ERROR, NO_FILE, WARNING, validate_source
from airflow_dag_publisher.validators.ruff_air import find_ruff, ruff_findings

from .conftest import GOOD

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
AIR311_DAG = '''from airflow.models import DAG

with DAG(dag_id="acme_old_import", schedule=None):
    pass
'''
# `validate` as a user runs it, in a Python where ruff cannot be found: `import ruff` fails and PATH has none.
WITHOUT_RUFF = """
import importlib.abc, sys
class NoRuff(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "ruff" or name.startswith("ruff."):
            raise ImportError(f"{name} is blocked: ruff is not installed here")
sys.meta_path.insert(0, NoRuff())
from airflow_dag_publisher.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _validate_without_ruff(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin-without-ruff"
    bin_dir.mkdir(exist_ok=True)
    argv = ["validate", "--source", str(GOOD), "--package", "acme", "--no-dynamic", "--format", "json", *extra]
    return subprocess.run([sys.executable, "-c", WITHOUT_RUFF, *argv], capture_output=True, text=True, timeout=120,
                          check=False, env={"PATH": str(bin_dir), "HOME": str(tmp_path)})


def test_ruff_is_a_dependency_of_the_distribution() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    assert any(d.split(">")[0].split("=")[0].strip() == "ruff" for d in dependencies), dependencies
    assert find_ruff() is not None


def test_air_findings_are_warnings(tmp_path: Path) -> None:
    (tmp_path / "acme_old_import.py").write_text(AIR311_DAG)
    findings = ruff_findings(tmp_path, ["acme_old_import.py"])
    assert [(f.file, f.rule, f.severity) for f in findings] == [("acme_old_import.py", "ruff-AIR311", WARNING)]
    assert findings[0].message.startswith("line 3: ")


def test_a_missing_ruff_is_an_error_and_validate_exits_1(tmp_path: Path) -> None:
    done = _validate_without_ruff(tmp_path)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    (finding,) = [f for f in report["findings"] if f["rule"].startswith("ruff")]
    assert (finding["file"], finding["rule"], finding["severity"]) == (NO_FILE, "ruff-missing", ERROR)
    assert "ruff is not installed" in finding["message"] and "--no-ruff" in finding["message"]
    assert "Traceback" not in done.stderr


def test_no_ruff_turns_the_layer_off_without_an_error(tmp_path: Path) -> None:
    done = _validate_without_ruff(tmp_path, "--no-ruff")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and not [f for f in report["findings"] if f["rule"].startswith("ruff")]


def test_a_failing_ruff_is_an_error(tmp_path: Path) -> None:
    broken = tmp_path / "ruff"
    broken.write_text("#!/bin/sh\necho 'ruff failed: cannot read its own configuration' >&2\nexit 2\n")
    broken.chmod(0o755)
    (tmp_path / "dags").mkdir()
    shutil.copy(GOOD / "acme_daily_load.py", tmp_path / "dags")
    (finding,) = ruff_findings(tmp_path / "dags", ["acme_daily_load.py"], ruff=str(broken))
    assert (finding.file, finding.rule, finding.severity) == (NO_FILE, "ruff-failed", ERROR)
    assert "ruff failed: cannot read its own configuration" in finding.message and str(broken) in finding.message
    (finding,) = ruff_findings(tmp_path / "dags", ["acme_daily_load.py"], ruff=str(tmp_path / "absent"))
    assert (finding.rule, finding.severity) == ("ruff-failed", ERROR)


def test_with_ruff_installed_the_layer_runs_and_a_clean_folder_passes() -> None:
    report = validate_source(GOOD, "acme", dynamic=False)
    assert report.ok and not [f for f in report.findings if f.rule.startswith("ruff")]
