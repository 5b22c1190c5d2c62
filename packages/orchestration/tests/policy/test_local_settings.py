"""airflow_local_settings.py generated from the policy module and the package list: the committed Helm
values carry the current one, a stale copy is caught, and the text is what the chart, yamllint and
Airflow need. The package list loader takes only its keys and names the key at fault."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.policy import cluster_policy
from airflow_dag_publisher.policy.cluster_policy import Cluster
from airflow_dag_publisher.policy.local_settings import BEGIN, END, main, render, with_local_settings
from airflow_dag_publisher.policy.package_list import (
    PACKAGES_FILE_ENV,
    PackageListError,
    cluster_from,
    default_cluster,
    find_packages_file,
    load_cluster,
)

REPO = Path(__file__).resolve().parents[4]
PACKAGES = REPO / "infra" / "airflow" / "packages.yaml"
VALUES = REPO / "infra" / "airflow" / "k8s" / "airflow-values.yaml"


def test_the_committed_helm_values_carry_the_current_local_settings() -> None:
    """Fails when cluster_policy.py or packages.yaml changed without `make cluster-policy`."""
    shipped = yaml.safe_load(VALUES.read_text())["airflowLocalSettings"]
    assert shipped == render(load_cluster(PACKAGES)), "stale airflowLocalSettings: run `make cluster-policy`"
    assert main(["--packages", str(PACKAGES), "--values", str(VALUES), "--check"]) == 0


def test_check_fails_on_a_stale_copy_and_a_rewrite_changes_only_the_block(tmp_path: Path) -> None:
    packages, values = tmp_path / "packages.yaml", tmp_path / "values.yaml"
    packages.write_text(PACKAGES.read_text() + "  - name: gamma\n")
    original = VALUES.read_text()
    values.write_text(original)
    assert main(["--packages", str(packages), "--values", str(values), "--check"]) == 1
    assert values.read_text() == original
    assert main(["--packages", str(packages), "--values", str(values)]) == 0
    rewritten = values.read_text()
    assert yaml.safe_load(rewritten)["airflowLocalSettings"] == render(load_cluster(packages))
    assert "'gamma': 'gamma'" in rewritten
    before, after = original.split(BEGIN)[0], rewritten.split(BEGIN)[0]
    assert before == after and original.split(END)[1] == rewritten.split(END)[1]
    assert main(["--packages", str(packages), "--values", str(values), "--check"]) == 0


def test_the_make_target_runs_the_generator() -> None:
    done = subprocess.run(["make", "-n", "cluster-policy"], cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=False)
    assert "-m airflow_dag_publisher.policy.local_settings" in done.stdout, done.stdout + done.stderr


def test_the_local_settings_are_the_module_verbatim_plus_its_data(tmp_path: Path) -> None:
    cluster = load_cluster(PACKAGES)
    text = render(cluster)
    assert Path(cluster_policy.__file__).read_text().rstrip("\n") in text
    assert "{{" not in text  # the chart passes airflowLocalSettings through `tpl`
    assert max(len(line) for line in text.splitlines()) <= 118  # yamllint's 120 once indented in the values
    path = tmp_path / "airflow_local_settings.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("generated_local_settings", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as Airflow's `import airflow_local_settings` registers it
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    assert module.CLUSTER.to_dict() == cluster.to_dict()  # the same data, in the module's own Cluster
    # Airflow copies every name of the module but the hooks into airflow.settings: only the hooks
    assert module.__all__ == ["dag_policy", "task_policy"]


def test_the_generated_file_is_written_with_output(tmp_path: Path) -> None:
    out = tmp_path / "airflow_local_settings.py"
    done = subprocess.run([sys.executable, "-m", "airflow_dag_publisher.policy.local_settings", "--packages",
                           str(PACKAGES), "--output", str(out)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert out.read_text() == render(load_cluster(PACKAGES))


def test_a_values_file_without_the_block_gets_it_appended_and_a_broken_block_is_an_error() -> None:
    settings = render(Cluster(allowed_registries=("r.example.com",)))
    appended = with_local_settings("a: 1\n", settings)
    assert yaml.safe_load(appended) == {"a": 1, "airflowLocalSettings": settings}
    with pytest.raises(UsageError, match="BEGIN/END"):
        with_local_settings(f"{BEGIN}\nx: 1\n", settings)


def test_the_package_list_gives_each_package_its_account() -> None:
    cluster = cluster_from({"allowed_registries": ["registry.example.com", "r.example.com:5000/team"],
                            "packages": [{"name": "alpha"}, {"name": "beta_etl"},
                                         {"name": "gamma", "service_account": "gamma-jobs"},
                                         {"name": "delta", "service_account": "delta.jobs"}]}, "p.yaml")
    assert dict(cluster.service_accounts) == {"alpha": "alpha", "beta_etl": "beta-etl", "gamma": "gamma-jobs",
                                              "delta": "delta.jobs"}
    assert cluster.allowed_registries == ("registry.example.com", "r.example.com:5000/team")
    assert load_cluster(PACKAGES).service_account_of("pipeline_processing") == "pipeline-processing"
    listed = cluster_from({"allowed_registries": ["r.example.com"], "packages": [],
                           "allowed_callbacks": ["platform.alerts.notify"]}, "p.yaml")
    assert listed.allowed_callbacks == ("platform.alerts.notify",)


@pytest.mark.parametrize("doc, words", [
    ([], "expected a mapping"),
    ({"packages": []}, "`allowed_registries`: expected a non-empty list"),
    ({"allowed_registries": ["https://r.example.com"], "packages": []}, "`allowed_registries[0]`"),
    ({"allowed_registries": ["Registry.Example.com"], "packages": []}, "lower-case"),
    ({"allowed_registries": ["r.example.com"]}, "`packages`: expected a list"),
    ({"allowed_registries": ["r.example.com"], "packages": [{"name": "Alpha"}]}, "`packages[0]`.name: 'Alpha'"),
    ({"allowed_registries": ["r.example.com"], "packages": [{"name": "a", "service_account": "A_B"}]},
     "`packages[0]`.service_account: name 'A_B'"),
    ({"allowed_registries": ["r.example.com"], "packages": [{"name": "a"}, {"name": "a"}]}, "listed twice"),
    ({"allowed_registries": ["r.example.com"], "packages": [{"name": "a_b"}, {"name": "c", "service_account": "a-b"}]},
     "service account 'a-b' is already package 'a_b''s"),
    ({"allowed_registries": ["r.example.com"], "packages": [{"name": "a", "service_acount": "x"}]},
     "`packages[0]`: unknown key `service_acount`"),
    ({"allowed_registries": ["r.example.com"], "packages": [], "clusters": {}}, "unknown key `clusters`"),
    ({"allowed_registries": ["r.example.com"], "packages": [], "allowed_callbacks": ["notify"]},
     "`allowed_callbacks`: expected a list of dotted paths"),
])
def test_a_bad_package_list_is_refused_naming_the_key(doc: object, words: str) -> None:
    with pytest.raises(UsageError) as info:
        cluster_from(doc, "p.yaml")
    assert str(info.value).startswith("p.yaml: ") and words in str(info.value)


def test_a_bad_package_list_reports_every_problem_at_once() -> None:
    with pytest.raises(PackageListError) as info:
        cluster_from({"allowed_registries": ["Bad Host"], "packages": [{"name": "Alpha"}, {"name": "b", "x": 1}],
                      "extra": 1}, "p.yaml")
    assert len(info.value.problems) == 4, info.value.problems


def test_the_validator_finds_the_package_list(tmp_path: Path) -> None:
    source = REPO / "packages" / "pipeline_processing" / "airflow_dags"
    assert find_packages_file(source) == PACKAGES
    assert find_packages_file(tmp_path) is None
    assert default_cluster(tmp_path) == (Cluster(), None)
    named = tmp_path / "list.yaml"
    named.write_text("allowed_registries: [r.example.com]\npackages: [{name: alpha}]\n")
    assert default_cluster(source, named) == (Cluster({"alpha": "alpha"}, ("r.example.com",)), named)
    named.write_text("packages: {}\n")
    with pytest.raises(UsageError, match=f"^--packages-file \\({PACKAGES_FILE_ENV}\\): .*list.yaml"):
        default_cluster(source, named)
