"""The one list of packages (infra/airflow/packages.yaml): it is valid, the Kubernetes objects
committed in infra/airflow/k8s/etl-jobs-packages.yaml are exactly what it gives (a stale file fails),
every listed package's ServiceAccount exists there, and the example DAGs' pods (rendered by
KubernetesPodOperator's own build_pod_request_obj()) run as the account their package is given."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow_dag_publisher.policy.cluster_policy import default_service_account

from devstack import platform_packages
from tests.infra.infra_helpers import K8S, PACKAGES_FILE, REPO

GENERATED = K8S / "etl-jobs-packages.yaml"
EXAMPLE_DAG_FOLDERS = sorted(p for p in (REPO / "packages").glob("*/airflow_dags") if p.is_dir())


def generator(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devstack.platform_packages", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False)


def service_accounts(path: Path = GENERATED) -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "ServiceAccount"}


def test_the_list_keeps_its_documented_keys() -> None:
    doc = yaml.safe_load(PACKAGES_FILE.read_text())
    assert set(doc) <= {"allowed_registries", "allowed_callbacks", "packages"}
    assert all(isinstance(r, str) for r in doc["allowed_registries"]) and doc["allowed_registries"]
    listed = platform_packages.load()
    assert {"pipeline_processing", "reporting_seeder"} <= set(listed.packages)
    for entry, (name, account) in zip(doc["packages"], listed.service_accounts.items(), strict=True):
        assert name == entry["name"]
        assert account == entry.get("service_account", default_service_account(name))


def test_committed_objects_are_what_the_list_gives() -> None:
    assert GENERATED.read_text() == platform_packages.render(platform_packages.load(), PACKAGES_FILE.read_text())
    proc = generator("--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is current" in proc.stdout


def test_check_fails_on_a_stale_file_and_the_command_regenerates_it(tmp_path: Path) -> None:
    listed = tmp_path / "packages.yaml"
    output = tmp_path / "etl-jobs-packages.yaml"
    shutil.copy(GENERATED, output)
    doc = yaml.safe_load(PACKAGES_FILE.read_text())
    doc["packages"].append({"name": "orders_report"})
    listed.write_text(yaml.safe_dump(doc))

    stale = generator("--check", "--packages", str(listed), "--output", str(output))
    assert stale.returncode == 1
    assert "is stale: run `make k8s-packages`" in stale.stderr
    assert output.read_text() == GENERATED.read_text()  # --check writes nothing

    wrote = generator("--packages", str(listed), "--output", str(output))
    assert wrote.returncode == 0, wrote.stderr
    assert service_accounts(output)["orders-report"]["metadata"]["labels"]["package"] == "orders_report"
    assert generator("--check", "--packages", str(listed), "--output", str(output)).returncode == 0


def test_make_target_runs_the_generator() -> None:
    proc = subprocess.run(["make", "-n", "k8s-packages"], cwd=REPO, capture_output=True, text=True, timeout=30,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "-m devstack.platform_packages" in proc.stdout


def test_an_invalid_list_names_every_problem_and_exits_2(tmp_path: Path) -> None:
    listed = tmp_path / "packages.yaml"
    listed.write_text(yaml.safe_dump({
        "allowed_registries": ["registry.example.com", "Not A Host"],
        "packages": [{"name": "good_one"}, {"name": "Bad-Name"}, {"name": "good_one", "service_acount": "x"},
                     {"name": "other", "service_account": "good-one"}, {"name": "third", "service_account": "UPPER"}],
        "extra": 1,
    }))
    proc = generator("--check", "--packages", str(listed), "--output", str(tmp_path / "out.yaml"))
    assert proc.returncode == 2
    err = proc.stderr
    for expected in ("unknown key `extra`", "`allowed_registries[1]`: 'Not A Host'", "`packages[1]`.name: 'Bad-Name'",
                     "`packages[2]`: unknown key `service_acount`", "`packages[4]`.service_account: name 'UPPER'",
                     "`packages[2]`: package 'good_one' is listed twice",
                     "`packages[3]`: service account 'good-one' is already package 'good_one''s"):
        assert expected in err, (expected, err)
    assert "Traceback" not in err
    assert str(listed) in err  # the message names the file
    assert not (tmp_path / "out.yaml").exists()


def test_every_listed_package_has_its_service_account_in_etl_jobs() -> None:
    accounts = service_accounts()
    listed = platform_packages.load()
    assert sorted(accounts) == sorted(listed.service_accounts.values())
    for name, account in listed.service_accounts.items():
        sa = accounts[account]
        assert sa["metadata"]["namespace"] == "etl-jobs"
        assert sa["metadata"]["labels"]["package"] == name
        assert sa["automountServiceAccountToken"] is False  # job pods never call the Kubernetes API
        assert sa["imagePullSecrets"] == [{"name": "registry-pull"}]  # checked by deploy_airflow.sh


POD_RENDER = """
import json, sys
from devstack.demo_pod_spec import render_pod_specs
import yaml
out = {}
for path in sys.argv[1:]:
    out[path] = [d for d in yaml.safe_load_all(render_pod_specs(__import__("pathlib").Path(path))) if d]
print("PODS=" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def example_pods(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Every example DAG's pods, as KubernetesPodOperator.build_pod_request_obj() builds them
    (devstack/demo_pod_spec.py: a kubeconfig that points nowhere, nothing sent)."""
    files = sorted(str(f) for folder in EXAMPLE_DAG_FOLDERS for f in folder.glob("*.py"))
    home = tmp_path_factory.mktemp("airflow-home")
    env = dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    proc = subprocess.run([sys.executable, "-c", POD_RENDER, *files], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("PODS="))
    return json.loads(line[len("PODS="):])  # type: ignore[no-any-return]


def test_example_dags_run_as_the_service_account_their_package_is_given(
        example_pods: dict[str, list[dict[str, Any]]]) -> None:
    listed = dict(platform_packages.load().service_accounts)
    accounts = service_accounts()
    seen = set()
    assert EXAMPLE_DAG_FOLDERS
    for path, pods in example_pods.items():
        package = Path(path).parent.parent.name
        assert package in listed, f"{path}: package {package} is not in infra/airflow/packages.yaml"
        assert pods, f"{path}: no KubernetesPodOperator task"
        for pod in pods:
            spec = pod["spec"]
            assert pod["metadata"]["namespace"] == "etl-jobs"
            assert spec["serviceAccountName"] == listed[package], path
            assert spec["serviceAccountName"] in accounts  # the object exists in the rendered manifests
            # the platform ships no node pool: nothing may wait for a label or taint no node has
            assert "nodeSelector" not in spec and "tolerations" not in spec, path
            seen.add(package)
    assert seen == {p.parent.name for p in EXAMPLE_DAG_FOLDERS}


def test_the_agents_get_the_list_verbatim_and_the_examples_are_spec_only() -> None:
    """Issue 26: the sync agents read the list (ConfigMap airflow-dag-sync-packages, `--packages-file`)
    for the packages it marks spec_only; both example packages are."""
    from airflow_dag_publisher.policy.package_list import load_spec_only

    docs = [d for d in yaml.safe_load_all(GENERATED.read_text()) if d]
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert cm["metadata"] == {"name": "airflow-dag-sync-packages", "namespace": "airflow",
                              "labels": {"app.kubernetes.io/part-of": "airflow-dag-publisher",
                                         "app.kubernetes.io/managed-by": "platform-packages"}}
    assert cm["data"] == {"packages.yaml": PACKAGES_FILE.read_text()}
    assert load_spec_only(PACKAGES_FILE) == {"pipeline_processing", "reporting_seeder"}
