"""The Helm values' DAG bundle list (`[dag_processor] dag_bundle_config_list` in each environment's
values.yaml), generated from infra/airflow/packages.yaml by `make bundles`
(`python -m airflow_dag_publisher.bundle helm-values`): fresh, one ReleaseBundle per listed package,
with that environment's agent settings and the pods' paths, and accepted by Airflow's own parser."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.infra_helpers import K8S, PACKAGES_FILE, REPO
from tests.infra.test_k8s import ENVS, agent_values, trust_values, values

MODULE = [sys.executable, "-m", "airflow_dag_publisher.bundle"]


def bundle_list(env: str) -> list[dict[str, Any]]:
    raw = values(env)["config"]["dag_processor"]["dag_bundle_config_list"]
    assert isinstance(raw, str) and "\n" not in raw  # airflow.cfg holds one line per option
    return json.loads(raw)  # type: ignore[no-any-return]


def test_the_committed_copies_are_fresh() -> None:
    done = subprocess.run([*MODULE, "helm-values", "--check"], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "make bundles" in (REPO / "Makefile").read_text()


@pytest.mark.parametrize("env", ENVS)
def test_one_release_bundle_per_listed_package_with_the_environments_agent_settings(env: str) -> None:
    from airflow.dag_processing.bundles.manager import _parse_bundle_config

    listed = [p["name"] for p in yaml.safe_load(PACKAGES_FILE.read_text())["packages"]]
    config = bundle_list(env)
    assert [b["name"] for b in config] == sorted(listed)
    assert {b["classpath"] for b in config} == {"airflow_dag_publisher.bundle.ReleaseBundle"}
    agent = yaml.safe_load(agent_values(env)["extraConfigMaps"]["airflow-dag-sync"]["data"])
    agent |= yaml.safe_load(trust_values(env)["extraConfigMaps"]["airflow-dag-sync-trust"]["data"])
    mounts = {m.get("subPath"): m["mountPath"] for m in values(env)["volumeMounts"] if m["name"] == "dags"}
    trust_dir = next(m["mountPath"] for m in values(env)["volumeMounts"] if m["name"] == "dag-sync-trust")
    for bundle in config:
        kwargs = bundle["kwargs"]
        assert kwargs["bucket"] == agent["DAGSYNC_BUCKET"] and kwargs["env"] == agent["DAGSYNC_ENV"] == env
        assert kwargs["dags_dir"] == mounts["dags"] and kwargs["state_dir"] == mounts["state"]
        assert kwargs["trust_file"] == agent["DAGSYNC_TRUST_FILE"]
        assert Path(kwargs["trust_file"]).parent == Path(trust_dir)
        assert kwargs.get("require_signatures", False) is (agent["DAGSYNC_REQUIRE_SIGNATURES"] == "true")
    assert len(_parse_bundle_config(config)) == len(listed)


def test_onboarding_a_package_is_one_entry_and_the_check_names_the_stale_copies(tmp_path: Path) -> None:
    k8s = tmp_path / "k8s"
    shutil.copytree(K8S / "envs", k8s / "envs")
    doc = yaml.safe_load(PACKAGES_FILE.read_text())
    doc["packages"].append({"name": "zeta_reports"})
    packages = tmp_path / "packages.yaml"
    packages.write_text(yaml.safe_dump(doc))
    args = [*MODULE, "helm-values", "--packages-file", str(packages), "--k8s-dir", str(k8s)]
    stale = subprocess.run([*args, "--check"], capture_output=True, text=True, timeout=60, check=False)
    assert stale.returncode == 1
    assert all(f"{k8s}/envs/{env}/values.yaml: dag_bundle_config_list is stale" in stale.stderr for env in ENVS)
    before = (k8s / "envs" / "dev" / "values.yaml").read_text()
    assert subprocess.run(args, capture_output=True, text=True, timeout=60, check=False).returncode == 0
    after = (k8s / "envs" / "dev" / "values.yaml").read_text()
    assert subprocess.run([*args, "--check"], capture_output=True, timeout=60, check=False).returncode == 0
    head = before.split("# BEGIN generated DAG bundles")[0]
    assert after.startswith(head) and "zeta_reports" in after.split(head)[1]
