"""Kubernetes side: every object in infra/airflow/k8s (and the agent's containers from the Helm
values, wrapped into the Pods the chart will build) is strictly valid (custom resources against their
CRD schemas, tests/monitoring/crd_schema.py); yamllint is clean; the Helm values use only chart keys
from tests/infra/data; the wiring agrees with Terraform and Airflow."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import kubernetes_validate
import pytest
import yaml

from devstack.demo_config import FLEET_PROCESSOR
from tests.infra.infra_helpers import DATA, INFRA, K8S, TERRAFORM, VENV_BIN
from tests.monitoring import crd_schema

K8S_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
ENVS = sorted(p.name for p in (K8S / "envs").iterdir() if p.is_dir())
VALUES = K8S / "airflow-values.yaml"
COMPONENTS_WITH_SIDECAR = ["scheduler", "dagProcessor", "triggerer"]


def manifest_files() -> list[Path]:
    """Every file of Kubernetes objects (not the Helm values, not promtool's rule tests)."""
    return sorted(p for p in K8S.rglob("*.yaml")
                  if not p.name.endswith("values.yaml") and "tests" not in p.relative_to(K8S).parts)


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def values(env: str | None = None) -> dict[str, Any]:
    base = yaml.safe_load(VALUES.read_text())
    if env:
        merge(base, yaml.safe_load((K8S / "envs" / env / "values.yaml").read_text()))
    return base  # type: ignore[no-any-return]


def merge(into: dict[str, Any], over: dict[str, Any]) -> None:
    """Helm's merge of -f files: maps merge, everything else replaces."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            merge(into[k], v)
        else:
            into[k] = v


def chart_keys() -> tuple[set[str], str]:
    text = (DATA / "airflow-chart-keys.txt").read_text()
    version = re.search(r"^# chart-version: (\S+)$", text, re.M)
    assert version, "the key list names no chart version"
    keys = {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}
    return keys, version.group(1)


def value_paths(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in node.items():
        path = f"{prefix}{key}"
        yield path, value
        if isinstance(value, dict):
            yield from value_paths(value, f"{path}.")


def pods(env: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """The Pods the chart builds around the agent: Airflow's main container gets the global
    volumeMounts, the agent containers come verbatim from extraInitContainers/extraContainers."""
    v = values(env)
    for component in [*COMPONENTS_WITH_SIDECAR, "workers"]:
        section = v[component]
        airflow = {"name": "base" if component == "workers" else component.lower(),
                   "image": f"{v['defaultAirflowRepository']}:{v['defaultAirflowTag']}",
                   "volumeMounts": copy.deepcopy(v["volumeMounts"])}
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"airflow-{component.lower()}", "namespace": "airflow"},
            "spec": {
                "serviceAccountName": section["serviceAccount"]["name"],
                "securityContext": {"runAsUser": v.get("uid", 50000), "fsGroup": 0},
                "initContainers": copy.deepcopy(section.get("extraInitContainers", [])),
                "containers": [airflow, *copy.deepcopy(section.get("extraContainers", []))],
                "volumes": copy.deepcopy(v["volumes"]),
            },
        }
        yield component, pod


AGENT_CONFIGMAP = "airflow-dag-sync"
# The pods that read the agent's ConfigMap; deploy_airflow.sh sets this annotation on each.
CHECKSUM_COMPONENTS = [*COMPONENTS_WITH_SIDECAR, "workers"]
CHECKSUM_ANNOTATION = "checksum/airflow-dag-sync"
TRUST_CONFIGMAP = "airflow-dag-sync-trust"
TRUST_CHECKSUM_ANNOTATION = "checksum/airflow-dag-sync-trust"
# The agent's settings: its ConfigMap, then the trust ConfigMap's DAGSYNC_REQUIRE_SIGNATURES (Terraform's).
AGENT_ENV_FROM = [{"configMapRef": {"name": AGENT_CONFIGMAP}}, {"configMapRef": {"name": TRUST_CONFIGMAP}}]


def agent_values(env: str) -> dict[str, Any]:
    return yaml.safe_load((K8S / "envs" / env / "dag-sync-values.yaml").read_text())  # type: ignore[no-any-return]


def trust_values(env: str) -> dict[str, Any]:
    """The agent's trust ConfigMap, as `manage.sh ENV trust` writes it from Terraform's outputs."""
    return yaml.safe_load((K8S / "envs" / env / "dag-sync-trust-values.yaml").read_text())  # type: ignore[no-any-return]


def chart_configmaps(env: str, release: str = "airflow") -> list[dict[str, Any]]:
    """The ConfigMaps the chart renders from `extraConfigMaps` (templates/configmaps/extra-configmaps.yaml
    of chart 1.18.0): name from the key, the chart's labels plus ours, its hook annotations, and `data`
    parsed from the string the values give (`tpl` changes nothing: the tests keep "{{" out of it)."""
    _, version = chart_keys()
    out = []
    merged = {**agent_values(env)["extraConfigMaps"], **trust_values(env)["extraConfigMaps"]}
    for name, cm in merged.items():
        out.append({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": name, "namespace": "airflow",
                "labels": {"release": release, "chart": f"airflow-{version}", "heritage": "Helm",
                           **cm.get("labels", {})},
                "annotations": {**({} if cm.get("useHelmHooks") is False else {
                    "helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-delete-policy": "before-hook-creation",
                    "helm.sh/hook-weight": "0"}), **cm.get("annotations", {})},
            },
            "data": yaml.safe_load(cm["data"]),
        })
    return out


def all_objects() -> list[tuple[str, dict[str, Any]]]:
    objs = [(f"{p.relative_to(K8S)}#{i}", d) for p in manifest_files() for i, d in enumerate(documents(p))]
    objs += [(f"pod:{name}", pod) for name, pod in pods()]
    objs += [(f"chart:{env}:extraConfigMaps.{cm['metadata']['name']}", cm) for env in ENVS
             for cm in chart_configmaps(env)]
    return objs


OBJECTS = all_objects()


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(("name", "obj"), OBJECTS, ids=[n for n, _ in OBJECTS])
def test_objects_are_strictly_valid(name: str, obj: dict[str, Any], version: str) -> None:
    if crd_schema.is_custom_resource(obj):  # Prometheus Operator kinds: their CRD's schema, strictly
        assert crd_schema.errors(obj) == []
    else:
        kubernetes_validate.validate(obj, version, strict=True)


def test_expected_objects_exist() -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for _, o in OBJECTS}
    assert {("Namespace", "airflow"), ("Namespace", "etl-jobs"), ("ConfigMap", "airflow-dag-sync"),
            ("ConfigMap", "airflow-dag-sync-trust"),
            ("Role", "airflow-job-launcher"), ("RoleBinding", "airflow-job-launcher"),
            ("ServiceAccount", "pipeline-processing"), ("ServiceAccount", "reporting-seeder"),
            ("PrometheusRule", "airflow-dag-delivery"), ("PodMonitor", "airflow-dag-sync"),
            ("ServiceMonitor", "airflow-statsd")} <= kinds
    assert len(OBJECTS) >= 16


def test_yamllint_clean() -> None:
    proc = subprocess.run([str(VENV_BIN / "yamllint"), "-s", "-c", str(INFRA / ".yamllint.yaml"), str(INFRA)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def unknown_keys(doc: dict[str, Any], keys: set[str]) -> list[str]:
    unknown = []
    for key, value in value_paths(doc):
        free = any(key.startswith(k[:-1]) for k in keys if k.endswith(".*"))
        parent = isinstance(value, dict) and any(k.startswith(key + ".") for k in keys)
        if not (free or key in keys or parent):
            unknown.append(key)
    return unknown


VALUES_FILES = [VALUES, *(K8S / "envs" / env / name for env in ENVS
                           for name in ("values.yaml", "dag-sync-values.yaml", "dag-sync-trust-values.yaml"))]


@pytest.mark.parametrize("path", VALUES_FILES, ids=[str(p.relative_to(K8S)) for p in VALUES_FILES])
def test_values_use_only_chart_keys(path: Path) -> None:
    keys, version = chart_keys()
    assert re.fullmatch(r"1\.\d+\.\d+", version)
    assert f'CHART_VERSION="${{CHART_VERSION:-{version}}}"' in (INFRA / "scripts" / "deploy_airflow.sh").read_text()
    assert f"chart version {version}" in VALUES.read_text()
    unknown = unknown_keys(yaml.safe_load(path.read_text()), keys)
    assert not unknown, f"{path.name}: keys the chart does not define: {unknown}"


def test_chart_key_check_rejects_unknown_keys() -> None:
    keys, _ = chart_keys()
    doc = {"scheduler": {"extraSidecars": [], "serviceAccount": {"annotations": {"a/b": "c"}, "nme": "x"}},
           "config": {"anything": {"goes": "1"}}, "executorr": "LocalExecutor"}
    assert unknown_keys(doc, keys) == ["scheduler.extraSidecars", "scheduler.serviceAccount.nme", "executorr"]


def airflow_options() -> dict[str, dict[str, Any]]:
    import importlib.util

    spec = importlib.util.find_spec("airflow")
    assert spec and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "config_templates" / "config.yml"
    return {s: body.get("options", {}) for s, body in yaml.safe_load(path.read_text()).items()}


def test_airflow_config_options_exist_and_parsing_follows_changes() -> None:
    """The dag-processor parses what changed: the parse-requests process looks at the agent's links each
    second; the dag-processor looks at its bundles once a minute, re-parses a file without a change every
    6 h at most, and prepares its queue in the cheapest order."""
    config = values()["config"]
    options = airflow_options()
    for section, opts in config.items():
        for option in [o for o, value in (opts or {}).items() if value is not None]:  # null: deletes a chart default
            assert option in options.get(section, {}), f"[{section}] {option} is not an Airflow option"
    processor = config["dag_processor"]
    assert "dag_bundle_config_list" not in processor  # the environments' generated bundles, never the feed
    assert int(processor["bundle_refresh_check_interval"]) == 60
    assert int(options["dag_processor"]["bundle_refresh_check_interval"]["default"]) == 5  # why it is set
    assert "refresh_interval" not in processor  # Airflow's 300 s: a safety net
    assert int(processor["min_file_process_interval"]) >= 3600
    assert int(options["dag_processor"]["min_file_process_interval"]["default"]) == 30
    assert processor["file_parsing_sort_mode"] == "random_seeded_by_host"
    assert float(config["core"]["dagbag_import_timeout"]) == 30
    assert int(processor["dag_file_processor_timeout"]) == 50


def test_the_parse_requests_process_has_its_one_bundle_and_looks_each_second() -> None:
    container = next(c for c in values()["dagProcessor"]["extraContainers"] if c["name"] == "parse-requests")
    assert container["args"] == ["bash", "-c", f"exec {FLEET_PROCESSOR} --bundle-name dagsync-parse-requests"]
    assert values()["dagProcessor"]["args"] == ["bash", "-c", f"exec {FLEET_PROCESSOR}"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert json.loads(env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"]) == [
        {"name": "dagsync-parse-requests", "classpath": "airflow_dag_publisher.parse_requests.ParseRequestBundle",
         "kwargs": {"refresh_interval": 1}}]
    assert env["AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL"] == "1"
    from airflow_dag_publisher.parse_requests import ParseRequestBundle

    assert ParseRequestBundle.__name__ == "ParseRequestBundle"  # the class path names a real class


def test_new_dags_start_active_in_production_ci_and_the_demo() -> None:
    """No manual step between merge and the first scheduled run: Airflow creates a DAG that does not
    say is_paused_upon_creation active; CI validates with the same setting; the demo runs with it."""
    from devstack.demo_config import load_settings

    setting = values()["config"]["core"]["dags_are_paused_at_creation"]
    assert setting == "False"
    assert airflow_options()["core"]["dags_are_paused_at_creation"]["default"] == "True"  # why it is set
    template = yaml.load((INFRA.parents[1] / ".gitlab" / "ci" / "dag-publish-template.yml").read_text(),
                         Loader=_GitLabLoader)
    assert template[".dag_publish_base"]["variables"]["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == setting
    assert load_settings().airflow_env()["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == setting


class _GitLabLoader(yaml.SafeLoader):
    """Reads GitLab's `!reference [job, key]` tags as plain lists."""


_GitLabLoader.add_constructor("!reference", lambda loader, node: loader.construct_sequence(node))


def agent_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod["spec"]
    return [c for c in spec["initContainers"] + spec["containers"] if "airflow-dag-sync" in c.get("command", [])]


def flag(container: dict[str, Any], name: str) -> str | None:
    for arg in container.get("args", []):
        if arg == f"--{name}":
            return ""
        if arg.startswith(f"--{name}="):
            return str(arg.split("=", 1)[1])
    return None


@pytest.mark.parametrize(("component", "pod"), list(pods()), ids=[c for c, _ in pods()])
def test_agent_wiring(component: str, pod: dict[str, Any]) -> None:
    spec = pod["spec"]
    init = [c for c in spec["initContainers"] if c["name"] == "dag-sync-init"]
    sidecar = [c for c in spec["containers"] if c["name"] == "dag-sync"]
    # A KubernetesExecutor task pod runs no agent: its task's bundle fetches the task's release.
    assert len(init) == (0 if component == "workers" else 1) and all(flag(c, "once") == "" for c in init)
    assert len(sidecar) == (0 if component == "workers" else 1)
    airflow_mounts = {(m["name"], m["mountPath"], m.get("subPath")) for m in spec["containers"][0]["volumeMounts"]
                      if m["name"] == "dags"}
    assert all(m.get("readOnly") for m in spec["containers"][0]["volumeMounts"] if m["name"] == "dags")
    volumes = {v["name"] for v in spec["volumes"]}
    for c in agent_containers(pod):
        assert c["image"].startswith("registry.example.com/platform/airflow-dag-sync:") and ":latest" not in c["image"]
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
        assert c["resources"]["requests"] and c["resources"]["limits"]
        mounts = {(m["name"], m["mountPath"], m.get("subPath")) for m in c["volumeMounts"]}
        assert {m["name"] for m in c["volumeMounts"]} <= volumes
        # same volume, same paths as Airflow: the relative symlinks resolve in both
        assert {m for m in mounts if m[0] == "dags"} == airflow_mounts
        assert not any(m.get("readOnly") for m in c["volumeMounts"]
                       if m["name"] not in ("dag-sync-trust", "dag-sync-packages"))
        # issue 26: every agent reads the platform's package list (spec-only packages) from its ConfigMap
        packages_file = Path(flag(c, "packages-file") or "")
        assert ("dag-sync-packages", str(packages_file.parent), None) in mounts
        assert packages_file.name == "packages.yaml"
        assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}
        dags, state = flag(c, "dags-dir"), flag(c, "state-dir")
        assert ("dags", dags, "dags") in mounts and ("dags", state, "state") in mounts
        assert dags and state and not state.startswith(dags.rstrip("/") + "/")
        assert c["envFrom"] == AGENT_ENV_FROM
    for c in sidecar:
        port = int(flag(c, "metrics-port") or 0)
        assert [p["containerPort"] for p in c["ports"]] == [port]
        named = c["ports"][0]["name"]
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": named}
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": named}


def test_dags_folder_is_airflows() -> None:
    v = values()
    dags_mount = next(m for m in v["volumeMounts"] if m.get("subPath") == "dags")
    assert dags_mount["mountPath"] == "/opt/airflow/dags"  # the chart's [core] dags_folder
    assert v["dags"]["gitSync"]["enabled"] is False and v["dags"]["persistence"]["enabled"] is False
    assert v["dagProcessor"]["enabled"] is True


def terraform_service_accounts() -> list[str]:
    with (TERRAFORM / "variables.tf").open() as fh:
        for block in hcl2.load(fh)["variable"]:
            if "airflow_service_accounts" in block:
                default = block["airflow_service_accounts"]["default"]
                return list(default[0] if isinstance(default[0], list) else default)
    raise AssertionError("variable airflow_service_accounts not found")


@pytest.mark.parametrize("env", ENVS)
def test_service_accounts_irsa_and_rbac_agree(env: str) -> None:
    v = values(env)
    names = {c: v[c]["serviceAccount"]["name"] for c in [*COMPONENTS_WITH_SIDECAR, "workers"]}
    assert sorted(names.values()) == sorted(terraform_service_accounts())
    for c in names:
        arn = v[c]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
        # the role name aws_iam_role.airflow gets: airflow-dags-<env>-airflow-read
        assert re.fullmatch(rf"arn:aws:iam::\d{{12}}:role/airflow-dags-{env}-airflow-read", arn), arn
    binding = next(d for d in documents(K8S / "etl-jobs-rbac.yaml") if d["kind"] == "RoleBinding")
    bound = {s["name"] for s in binding["subjects"]}
    assert bound == {names["scheduler"], names["triggerer"], names["workers"]}
    assert all(s["namespace"] == "airflow" and s["kind"] == "ServiceAccount" for s in binding["subjects"])


def test_rbac_is_pods_in_etl_jobs_only() -> None:
    docs = [d for p in manifest_files() for d in documents(p)]
    assert not [d for d in docs if d["kind"] in {"ClusterRole", "ClusterRoleBinding"}]
    role = next(d for d in docs if d["kind"] == "Role")
    assert role["metadata"]["namespace"] == "etl-jobs"
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"]) for r in role["rules"]}
    assert rules == {
        (("",), ("pods",)): {"create", "get", "list", "watch", "delete", "patch"},
        (("",), ("pods/log",)): {"get", "list"},
        (("",), ("pods/exec",)): {"create", "get"},  # KubernetesPodOperator's do_xcom_push
        (("",), ("events",)): {"get", "list"},
    }
    binding = next(d for d in docs if d["kind"] == "RoleBinding")
    assert binding["metadata"]["namespace"] == "etl-jobs" and binding["roleRef"]["name"] == role["metadata"]["name"]


@pytest.mark.parametrize("env", ENVS)
def test_configmap_matches_terraform_environment(env: str) -> None:
    (cm,) = [c for c in chart_configmaps(env) if c["metadata"]["name"] == AGENT_CONFIGMAP]
    with (TERRAFORM / "envs" / f"{env}.tfvars").open() as fh:
        tfvars = {k: (v[0] if isinstance(v, list) else v) for k, v in hcl2.load(fh).items()}
    data = cm["data"]
    assert cm["metadata"] == cm["metadata"] | {"name": "airflow-dag-sync", "namespace": "airflow"}
    assert data["DAGSYNC_ENV"] == env == tfvars["environment"]
    assert data["DAGSYNC_BUCKET"] == tfvars["bucket_name"]
    assert data["AWS_REGION"] == tfvars["region"]
    assert float(data["DAGSYNC_INTERVAL"]) <= 10
    assert all(isinstance(v, str) for v in data.values())


@pytest.mark.parametrize("env", ENVS)
def test_agent_configmap_is_part_of_the_helm_release(env: str) -> None:
    """The ConfigMap the agent reads (envFrom) is the chart's own extraConfigMaps entry, defined in
    dag-sync-values.yaml alone: that file's checksum is what rolls the pods."""
    raw = agent_values(env)["extraConfigMaps"]
    assert list(raw) == [AGENT_CONFIGMAP]
    data = raw[AGENT_CONFIGMAP]["data"]
    assert isinstance(data, str) and "{{" not in data, "data is a string the chart renders with tpl"
    assert set(raw[AGENT_CONFIGMAP]) <= {"labels", "annotations", "data", "useHelmHooks"}
    assert raw[AGENT_CONFIGMAP]["useHelmHooks"] is False  # a release object, not a hook
    assert not list(K8S.rglob("dag-sync-configmap.yaml")), "a kubectl-applied ConfigMap would bypass the release"
    for path in [p for p in VALUES_FILES if p.name not in {"dag-sync-values.yaml", "dag-sync-trust-values.yaml"}]:
        assert "extraConfigMaps" not in (yaml.safe_load(path.read_text()) or {}), path
    for _, pod in pods(env):
        for c in agent_containers(pod):
            assert c["envFrom"] == AGENT_ENV_FROM


def test_the_checksum_annotation_is_on_every_pod_that_reads_the_configmap() -> None:
    """deploy_airflow.sh sets `<component>.podAnnotations.checksum/airflow-dag-sync(-trust)` for exactly
    the components whose pods read the agent's ConfigMaps (they run the agent, or mount its trust file
    for their bundles), and those are chart keys."""
    keys, _ = chart_keys()
    readers = [c for c, pod in pods() if agent_containers(pod) or any(
        m["name"] == "dag-sync-trust" for m in pod["spec"]["containers"][0]["volumeMounts"])]
    assert sorted(readers) == sorted(CHECKSUM_COMPONENTS)
    script = (INFRA / "scripts" / "deploy_airflow.sh").read_text()
    assert f"checksum_components=({' '.join(CHECKSUM_COMPONENTS)})" in script
    assert f"checksum_annotation={CHECKSUM_ANNOTATION}" in script
    assert f"trust_checksum_annotation={TRUST_CHECKSUM_ANNOTATION}" in script
    for component in CHECKSUM_COMPONENTS:
        assert f"{component}.podAnnotations.*" in keys
    assert "extraConfigMaps.*" in keys


def test_task_pods_run_no_agent_and_give_the_bundle_what_it_needs() -> None:
    """A KubernetesExecutor task pod materialises its task's release itself (ReleaseBundle, by id,
    from S3): no agent container; a writable versions folder at Airflow's dag_bundle_storage_path;
    the trust file; the role that reads the environment. Long-running pods keep the agent."""
    v = values()
    assert "extraInitContainers" not in v["workers"] and "extraContainers" not in v["workers"]
    mounts = {m["mountPath"]: m for m in v["volumeMounts"]}
    storage = v["config"]["dag_processor"]["dag_bundle_storage_path"]
    assert mounts[storage]["name"] == "dag-bundles" and not mounts[storage].get("readOnly")
    assert next(x for x in v["volumes"] if x["name"] == "dag-bundles")["emptyDir"]["sizeLimit"]
    assert v["workers"]["serviceAccount"]["annotations"] == v["scheduler"]["serviceAccount"]["annotations"]
    for component in COMPONENTS_WITH_SIDECAR:  # long-running pods sync every package
        assert all("env" not in c for c in v[component]["extraInitContainers"])


@pytest.mark.parametrize("env", ENVS)
def test_the_agent_reads_its_trust_file_from_the_trust_configmap_and_requires_signatures(env: str) -> None:
    """The trust ConfigMap (its own values file, written by `manage.sh ENV trust`) is mounted read-only
    into every agent container at the directory of DAGSYNC_TRUST_FILE, whose file name is its data key;
    signatures are required (DAGSYNC_REQUIRE_SIGNATURES from the same ConfigMap, which Terraform's
    require_signatures writes, not from the agent's own); the committed trust file parses as the agent
    parses it."""
    from airflow_dag_publisher.sync.trust import parse_trust

    raw = trust_values(env)["extraConfigMaps"]
    assert list(raw) == [TRUST_CONFIGMAP]
    assert set(raw[TRUST_CONFIGMAP]) <= {"labels", "annotations", "data", "useHelmHooks"}
    assert "{{" not in raw[TRUST_CONFIGMAP]["data"] and raw[TRUST_CONFIGMAP]["useHelmHooks"] is False
    (agent_cm,) = [c for c in chart_configmaps(env) if c["metadata"]["name"] == AGENT_CONFIGMAP]
    (trust_cm,) = [c for c in chart_configmaps(env) if c["metadata"]["name"] == TRUST_CONFIGMAP]
    assert trust_cm["metadata"]["labels"]["environment"] == env
    path = Path(agent_cm["data"]["DAGSYNC_TRUST_FILE"])
    assert trust_cm["data"]["DAGSYNC_REQUIRE_SIGNATURES"] == "true"
    assert "DAGSYNC_REQUIRE_SIGNATURES" not in agent_cm["data"]  # one source: Terraform's variable
    assert sorted(trust_cm["data"]) == ["DAGSYNC_REQUIRE_SIGNATURES", path.name]
    parse_trust(trust_cm["data"][path.name], source=f"{env} trust")
    volume = next(v for v in values(env)["volumes"] if v["name"] == "dag-sync-trust")
    assert volume == {"name": "dag-sync-trust", "configMap": {"name": TRUST_CONFIGMAP}}
    for _, pod in pods(env):
        for c in agent_containers(pod):
            mounts = [m for m in c["volumeMounts"] if m["name"] == "dag-sync-trust"]
            # a directory mount (no subPath), so Kubernetes keeps the file current in a running pod too
            assert mounts == [{"name": "dag-sync-trust", "mountPath": str(path.parent), "readOnly": True}]
    # Airflow's containers too: a task's bundle verifies its release's signature as the agent does.
    for airflow in (pod["spec"]["containers"][0] for _, pod in pods(env)):
        mounts = [m for m in airflow["volumeMounts"] if m["name"] == "dag-sync-trust"]
        assert mounts == [{"name": "dag-sync-trust", "mountPath": str(path.parent), "readOnly": True}]


def test_only_prometheus_reaches_the_agents_metrics_port() -> None:
    """Issue 26, attack 8: the NetworkPolicy selects exactly the pods the PodMonitor scrapes (those with the
    agent's sidecar) and lets only Prometheus reach the sidecar's port; Airflow's own log servers stay
    reachable from its api-server."""
    (policy,) = documents(K8S / "network-policies.yaml")
    (monitor,) = documents(K8S / "monitoring" / "dag-sync-podmonitor.yaml")
    assert policy["spec"]["podSelector"] == monitor["spec"]["selector"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    sidecar_ports = {p["containerPort"] for _, pod in pods() for c in pod["spec"].get("containers", [])
                     if c["name"] == "dag-sync" for p in c.get("ports", [])}
    assert sidecar_ports == {9108}
    rules = {p["port"]: rule["from"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert rules[9108] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}]
    assert set(rules) == {9108, 8793, 8794}


def test_the_agents_package_list_volume_is_the_generated_configmap() -> None:
    volume = next(v for v in values()["volumes"] if v["name"] == "dag-sync-packages")
    generated = [d for d in documents(K8S / "etl-jobs-packages.yaml") if d["kind"] == "ConfigMap"]
    assert volume == {"name": "dag-sync-packages", "configMap": {"name": generated[0]["metadata"]["name"]}}
    assert generated[0]["metadata"]["namespace"] == "airflow" and list(generated[0]["data"]) == ["packages.yaml"]
