"""generate -> validate -> Airflow parses -> the pod KubernetesPodOperator builds is a valid Kubernetes Pod.

For both example packages (their committed airflow_dags/) and for a generated spec of 20 jobs that
exercises every field. One Airflow subprocess serves the whole module.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow_dag_publisher.validators import ValidationReport, validate_source

from .support import REPO, parse_with_airflow, ruff

pytestmark = pytest.mark.slow

EXAMPLES = {
    "pipeline_processing": REPO / "packages/pipeline_processing",
    "reporting_seeder": REPO / "packages/reporting_seeder",
}
SPEC_PACKAGE = "acme_etl"
SCHEDULES = ["0 3 * * *", "@daily", None, "*/15 * * * MON-FRI", "@hourly", "0 0 1 */3 *", "@once", "5 4 * * sun",
             "0 22 * * 1-5", "@weekly", "30 2 1,15 * *", "@monthly", "0 */6 * * *", "@quarterly", "@yearly",
             "0 9-17 * * *", "@continuous", "59 23 31 12 *", "0 0 * JAN,JUL *", "none"]


def twenty_jobs_spec() -> dict[str, Any]:
    jobs: list[dict[str, Any]] = []
    for i, schedule in enumerate(SCHEDULES):
        job: dict[str, Any] = {"name": f"job_{i:02d}", "schedule": schedule}
        if i % 2:
            job["resources"] = {"requests": {"cpu": f"{100 + i * 10}m", "memory": f"{128 + i}Mi"},
                                "limits": {"cpu": "2", "memory": "1Gi"}}
        if i % 3 == 0:
            job["env"] = {"STEP": str(i), "QUOTED": 'say "hi"', "PATH_LIKE": "C:\\data\\in", "MULTI": "a\nb"}
        if i % 4 == 0:
            job["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": "etl", "effect": "NoSchedule"},
                                  {"key": "spot", "operator": "Exists", "effect": "NoExecute",
                                   "toleration_seconds": 300}]
            job["node_selector"] = {"kubernetes.io/arch": "amd64", "pool": "batch"}
        if i % 5 == 0:
            job["arguments"] = ["--date", "{{ ds }}", "--very-long-argument=" + "x" * 150]
            job["description"] = "Ünïcödé, 'quotes' and \"double quotes\" — " + "long " * 30
        if i == 7:
            job["command"] = "bash -c 'echo hello && exit 0'"
            job["execution_timeout"] = "none"
            job["tags"] = [f"tag-{n}" for n in range(12)]
        jobs.append(job)
    return {
        "package": SPEC_PACKAGE,
        "image": "registry.example.com/acme/etl@sha256:" + "ab" * 32,
        "defaults": {"owner": "acme-team", "retries": 3, "retry_delay": "90s", "service_account": "acme-etl",
                     "labels": {"team": "acme", "app.kubernetes.io/part-of": "acme-etl"}, "tags": ["etl"]},
        "jobs": jobs,
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The DAG folder of each package: the examples generated afresh from their jobs.yaml, and the 20 jobs."""
    root = tmp_path_factory.mktemp("generated")
    folders: dict[str, Path] = {}
    for package, source in EXAMPLES.items():
        copy = root / package
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("airflow_dags", "*.egg-info", "__pycache__"))
        folders[package] = copy / "airflow_dags"
    spec_dir = root / SPEC_PACKAGE
    spec_dir.mkdir()
    (spec_dir / "jobs.yaml").write_text(yaml.safe_dump(twenty_jobs_spec(), sort_keys=False, allow_unicode=True))
    folders[SPEC_PACKAGE] = spec_dir / "airflow_dags"
    return folders


@pytest.fixture(scope="module")
def generate_codes(generated: dict[str, Path]) -> dict[str, int]:
    from airflow_dag_publisher.cli.main import main

    return {package: main(["generate", "--spec", str(folder.parent / "jobs.yaml")])
            for package, folder in generated.items()}


@pytest.fixture(scope="module")
def airflow_runs(generated: dict[str, Path], generate_codes: dict[str, int],
                 tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, ValidationReport]]:
    """The probe's report and each package's validation report, run side by side (each starts Airflow)."""
    assert set(generate_codes.values()) == {0}
    with ThreadPoolExecutor(max_workers=len(generated) + 1) as pool:
        probe = pool.submit(parse_with_airflow, list(generated.values()), tmp_path_factory.mktemp("airflow"))
        reports = {package: pool.submit(validate_source, folder, package, require_airflow=True,
                                        other_packages=set(generated) - {package}, workers=1)
                   for package, folder in generated.items()}
        return probe.result(), {package: future.result() for package, future in reports.items()}


@pytest.fixture(scope="module")
def airflow_report(airflow_runs: tuple[dict[str, Any], dict[str, ValidationReport]]) -> dict[str, Any]:
    return airflow_runs[0]


def test_generate_writes_one_file_per_job(generated: dict[str, Path], generate_codes: dict[str, int]) -> None:
    assert generate_codes == dict.fromkeys(generated, 0)
    assert len(list(generated[SPEC_PACKAGE].glob("*.py"))) == 20
    assert [p.name for p in generated["pipeline_processing"].glob("*.py")] == ["pipeline_processing_example_job.py"]
    assert [p.name for p in generated["reporting_seeder"].glob("*.py")] == ["reporting_seeder_refresh_all.py"]


@pytest.mark.parametrize("package", sorted(EXAMPLES))
def test_committed_example_dags_are_what_the_generator_writes(package: str, generated: dict[str, Path],
                                                               generate_codes: dict[str, int]) -> None:
    for fresh in generated[package].glob("*.py"):
        committed = EXAMPLES[package] / "airflow_dags" / fresh.name
        assert committed.read_bytes() == fresh.read_bytes(), f"regenerate {committed}"


@pytest.mark.parametrize("package", [*sorted(EXAMPLES), SPEC_PACKAGE])
def test_generated_dags_pass_validate_with_no_findings(
        package: str, generated: dict[str, Path],
        airflow_runs: tuple[dict[str, Any], dict[str, ValidationReport]]) -> None:
    report = airflow_runs[1][package]
    assert report.findings == []
    assert report.dynamic_skipped is None
    assert len(report.all_dag_ids) == len(list(generated[package].glob("*.py")))


def test_generated_dags_are_ruff_format_clean_and_lint_clean(generated: dict[str, Path],
                                                              generate_codes: dict[str, int]) -> None:
    folders = [str(f) for f in generated.values()]
    fmt = ruff("format", "--check", "--diff", *folders)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = ruff("check", "--extend-select", "AIR", "--no-cache", *folders)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_airflow_parses_every_generated_dag(airflow_report: dict[str, Any], generated: dict[str, Path]) -> None:
    assert airflow_report["import_errors"] == {}
    expected = {"pipeline_processing_example_job", "reporting_seeder_refresh_all",
                *(f"{SPEC_PACKAGE}_job_{i:02d}" for i in range(20))}
    assert set(airflow_report["dags"]) == expected


def test_every_dag_follows_the_conventions(airflow_report: dict[str, Any]) -> None:
    for dag_id, dag in airflow_report["dags"].items():
        package = dag_id.split("_job_")[0] if dag_id.startswith(SPEC_PACKAGE) else dag_id.rsplit("_", 2)[0]
        assert dag["catchup"] is False and dag["max_active_runs"] == 1, dag_id
        assert package in dag["tags"] or any(dag_id.startswith(t + "_") for t in dag["tags"]), dag_id
        (task,) = dag["tasks"].values()
        assert task["type"] == "KubernetesPodOperator"
        assert task["on_finish_action"] == "delete_pod" and task["get_logs"] is True
        pod = task["pod"]
        assert pod["metadata"]["namespace"] == "etl-jobs"
        (container,) = pod["spec"]["containers"]
        assert set(container["resources"]) == {"requests", "limits"}
        assert set(container["resources"]["requests"]) == set(container["resources"]["limits"]) == {"cpu", "memory"}
        assert not container["image"].endswith(":latest")


def test_every_pod_is_a_valid_kubernetes_pod(airflow_report: dict[str, Any]) -> None:
    assert airflow_report["kubernetes_version"] >= "1.33"
    invalid = {(d, t): task["schema_errors"] for d, dag in airflow_report["dags"].items()
               for t, task in dag["tasks"].items() if task["schema_errors"]}
    assert invalid == {}


def test_building_pods_makes_no_network_call(airflow_report: dict[str, Any]) -> None:
    assert airflow_report["connects"] == []


def test_example_pods_carry_the_spec_values(airflow_report: dict[str, Any]) -> None:
    pod = airflow_report["dags"]["reporting_seeder_refresh_all"]["tasks"]["refresh_all"]["pod"]
    spec = pod["spec"]
    (container,) = spec["containers"]
    assert container["image"] == "registry.example.com/data/reporting-seeder:2.1.0"
    assert container["command"] == ["python", "-m", "reporting_seeder.jobs.refresh_all"]
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "512Mi"},
                                      "limits": {"cpu": "2", "memory": "1Gi"}}
    assert spec["serviceAccountName"] == "reporting-seeder"
    # the platform ships no dedicated node pool: the example asks for none (docs/airflow/DEPLOYMENT.md)
    assert not spec.get("nodeSelector") and not spec.get("tolerations")
    assert pod["metadata"]["labels"]["team"] == "analytics"
    assert pod["metadata"]["name"].startswith("reporting-seeder-refresh-all-")


def test_spec_values_with_quotes_newlines_and_backslashes_reach_the_pod_unchanged(
        airflow_report: dict[str, Any]) -> None:
    pod = airflow_report["dags"][f"{SPEC_PACKAGE}_job_00"]["tasks"]["job_00"]["pod"]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"STEP": "0", "QUOTED": 'say "hi"', "PATH_LIKE": "C:\\data\\in", "MULTI": "a\nb"}
    assert container["args"][-1] == "--very-long-argument=" + "x" * 150
    bash = airflow_report["dags"][f"{SPEC_PACKAGE}_job_07"]["tasks"]["job_07"]["pod"]["spec"]["containers"][0]
    assert bash["command"] == ["bash", "-c", "echo hello && exit 0"]
