"""The example packages' DAGs and a generated DAG pass with no finding."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_dag_publisher.cli.main import main
from airflow_dag_publisher.validators import validate_source

REPO = Path(__file__).resolve().parents[4]
EXAMPLES = {
    "pipeline_processing": REPO / "packages/pipeline_processing/airflow_dags/pipeline_processing_example_job.py",
    "reporting_seeder": REPO / "packages/reporting_seeder/airflow_dags/reporting_seeder_refresh_all.py",
}


@pytest.mark.parametrize("package", sorted(EXAMPLES))
def test_example_package_dags_give_no_findings(package: str) -> None:
    assert EXAMPLES[package].is_file(), f"{EXAMPLES[package]} is missing: regenerate it from the package's jobs.yaml"
    source = EXAMPLES[package].parent
    report = validate_source(source, package, other_packages=set(EXAMPLES) - {package}, timeout=10)
    assert report.findings == []
    assert report.dynamic_skipped is None


def test_generated_dag_gives_no_findings(tmp_path: Path) -> None:
    try:
        code = main(["generate", "--package", "acme", "--name", "nightly_load",
                     "--image", "registry.example.com/acme/jobs:1.0.0", "--output-dir", str(tmp_path)])
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 0
    assert [p.name for p in tmp_path.glob("*.py")] == ["acme_nightly_load.py"]
    report = validate_source(tmp_path, "acme", timeout=10)
    assert report.findings == []
    assert report.dynamic_skipped is None
    assert report.all_dag_ids == ["acme_nightly_load"]
