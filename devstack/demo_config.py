"""The demo's settings, read from the files production uses so that the two cannot drift:
the Helm values (`infra/airflow/k8s/airflow-values.yaml` with `envs/<env>/values.yaml` layered
over it, as `deploy_airflow.sh` does) give Airflow's configuration and its `airflow_local_settings.py`
(the cluster policies, `airflowLocalSettings`), and the environment's agent ConfigMap
(`extraConfigMaps.airflow-dag-sync` in `envs/<env>/dag-sync-values.yaml`, part of the Helm
release) gives the sync agent's DAGSYNC_* settings, with DAGSYNC_REQUIRE_SIGNATURES from the trust
ConfigMap beside it (`envs/<env>/dag-sync-trust-values.yaml`, Terraform's require_signatures)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S_DIR = ROOT / "infra" / "airflow" / "k8s"
DEMO_ENV = "dev"
AGENT_CONFIGMAP = "airflow-dag-sync"
TRUST_CONFIGMAP = "airflow-dag-sync-trust"
BUNDLE_OPTION = ("dag_processor", "dag_bundle_config_list")
POD_PATH_OPTIONS = (BUNDLE_OPTION, ("dag_processor", "dag_bundle_storage_path"))

PARSE_REQUESTS_CONTAINER = "parse-requests"  # dagProcessor.extraContainers: the parse-requests process
# Airflow's dag-processor with the fleet manager, as the Helm values run every dag-processor
FLEET_MODULE = "airflow_dag_publisher.dag_processor"
FLEET_PROCESSOR = f"python -m {FLEET_MODULE}"

# Used only while a file above is missing (a partial checkout): the documented production numbers.
FALLBACK_AIRFLOW_CONFIG = {
    "core": {"load_examples": "False", "dags_are_paused_at_creation": "False", "dagbag_import_timeout": "30",
             "min_serialized_dag_update_interval": "5"},
    "dag_processor": {"bundle_refresh_check_interval": "60", "min_file_process_interval": "21600",
                      "file_parsing_sort_mode": "random_seeded_by_host", "dag_file_processor_timeout": "50",
                      "print_stats_interval": "600"},
}
FALLBACK_PARSE_REQUESTS = {
    "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps([
        {"name": "dagsync-parse-requests", "classpath": "airflow_dag_publisher.parse_requests.ParseRequestBundle",
         "kwargs": {"refresh_interval": 1}}]),
    "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1"}
FALLBACK_SYNC = {"DAGSYNC_BUCKET": "acme-airflow-dags-dev", "DAGSYNC_ENV": DEMO_ENV, "DAGSYNC_INTERVAL": "5"}


class ConfigError(Exception):
    pass


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _load_yaml(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.relative_to(ROOT)}: not valid YAML: {exc}") from None


def helm_values(env: str = DEMO_ENV, k8s_dir: Path = K8S_DIR) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path in (k8s_dir / "airflow-values.yaml", k8s_dir / "envs" / env / "values.yaml"):
        if path.exists():
            loaded = _load_yaml(path) or {}
            if not isinstance(loaded, dict):
                raise ConfigError(f"{path}: expected a mapping at the top level")
            values = _merge(values, loaded)
    return values


@dataclass(frozen=True)
class DemoSettings:
    airflow_config: dict[str, dict[str, str]]   # section -> option -> value, as in the Helm values
    executor: str
    sync_env: dict[str, str]                    # DAGSYNC_* from the ConfigMap
    sources: tuple[str, ...]                    # the files read, for the banner
    local_settings: str = ""                    # airflowLocalSettings: airflow_local_settings.py's text
    # the parse-requests process beside the dag-processor: its command (after `airflow`) and its own
    # AIRFLOW__* settings, from dagProcessor.extraContainers; None without one
    parse_requests: tuple[str, dict[str, str]] | None = None
    # the dag-processors run airflow_dag_publisher.dag_processor (dagProcessor.args), not `airflow dag-processor`
    fleet_manager: bool = True

    @property
    def bucket(self) -> str:
        return self.sync_env["DAGSYNC_BUCKET"]

    @property
    def env(self) -> str:
        return self.sync_env["DAGSYNC_ENV"]

    def airflow_env(self) -> dict[str, str]:
        """AIRFLOW__SECTION__OPTION for every option the Helm values set (the chart does the same),
        but the two that hold the pods' paths: the bundle list and the bundles' storage (a local
        stack makes its own from the same package list with `python -m airflow_dag_publisher.bundle
        config`, and keeps its bundles in its AIRFLOW_HOME, see devstack.airflow)."""
        out = {f"AIRFLOW__{s.upper()}__{o.upper()}": str(v) for s, opts in self.airflow_config.items()
               for o, v in opts.items() if (s, o) not in POD_PATH_OPTIONS}
        out["AIRFLOW__CORE__EXECUTOR"] = self.executor
        return out

    @property
    def pod_bundle_list(self) -> str | None:
        """The Helm values' `[dag_processor] dag_bundle_config_list` (generated, the pods' paths)."""
        return self.airflow_config.get(BUNDLE_OPTION[0], {}).get(BUNDLE_OPTION[1])


def load_settings(env: str = DEMO_ENV, k8s_dir: Path = K8S_DIR) -> DemoSettings:
    sources: list[str] = []
    values = helm_values(env, k8s_dir)
    if values:
        sources.append(str((k8s_dir / "airflow-values.yaml").relative_to(ROOT)))
    raw_config = values.get("config") or FALLBACK_AIRFLOW_CONFIG
    if not isinstance(raw_config, dict):
        raise ConfigError("Helm values: `config` must be a mapping of sections")
    # A null section or option deletes one of the chart's defaults: it sets nothing.
    config = {str(s): {str(k): _scalar(v) for k, v in (opts or {}).items() if v is not None}
              for s, opts in raw_config.items() if isinstance(opts, dict) or opts is None}
    executor = str(values.get("executor") or "LocalExecutor")
    local_settings = values.get("airflowLocalSettings") or ""
    if not isinstance(local_settings, str) or "{{" in local_settings:
        # The chart renders it with `tpl`; ours is plain Python, which the demo can use as it is.
        raise ConfigError("Helm values: `airflowLocalSettings` must be a string without template actions")

    sync_env = dict(FALLBACK_SYNC)
    for name, configmap in (("dag-sync-values.yaml", AGENT_CONFIGMAP), ("dag-sync-trust-values.yaml", TRUST_CONFIGMAP)):
        agent_values = k8s_dir / "envs" / env / name
        if agent_values.exists():
            data = _configmap_data(agent_values, configmap)
            sync_env.update({str(k): str(v) for k, v in data.items() if str(k).startswith("DAGSYNC_")})
            sources.append(str(agent_values.relative_to(ROOT)))
    parse_requests = _parse_requests(values) if values else ("dag-processor --bundle-name dagsync-parse-requests",
                                                             dict(FALLBACK_PARSE_REQUESTS))
    fleet_manager = _runs_fleet_manager(values) if values else True
    return DemoSettings(config, executor, sync_env, tuple(sources), local_settings, parse_requests, fleet_manager)


def _runs_fleet_manager(values: Mapping[str, Any]) -> bool:
    """dagProcessor.args run the fleet manager (`exec python -m airflow_dag_publisher.dag_processor`)."""
    args = (values.get("dagProcessor") or {}).get("args") or []
    return bool(args) and str(args[-1]).startswith(f"exec {FLEET_PROCESSOR}")


def _parse_requests(values: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
    """The parse-requests container of dagProcessor.extraContainers: (its `airflow ...` command, its
    AIRFLOW__* settings given as plain values). The fleet manager's command counts as `airflow
    dag-processor ...` (a local stack runs it the values' way, see devstack.airflow)."""
    containers = (values.get("dagProcessor") or {}).get("extraContainers") or []
    found = next((c for c in containers if isinstance(c, dict) and c.get("name") == PARSE_REQUESTS_CONTAINER), None)
    if found is None:
        return None
    args = found.get("args") or []
    command = str(args[-1]) if args else ""
    if command.startswith(f"exec {FLEET_PROCESSOR} "):  # the fleet manager's dag-processor
        command = "exec airflow dag-processor " + command.removeprefix(f"exec {FLEET_PROCESSOR} ")
    if not command.startswith("exec airflow "):
        raise ConfigError(f"dagProcessor.extraContainers.{PARSE_REQUESTS_CONTAINER}: expected args ending with "
                          f"`exec airflow ...` or `exec {FLEET_PROCESSOR} ...`")
    env = {str(e["name"]): str(e["value"]) for e in found.get("env") or []
           if isinstance(e, dict) and "value" in e and str(e.get("name", "")).startswith("AIRFLOW__")}
    return command.removeprefix("exec airflow "), env

def _configmap_data(path: Path, configmap: str = AGENT_CONFIGMAP) -> dict[str, Any]:
    """The `data` of one of the agent's ConfigMaps: a YAML string under extraConfigMaps.<name>.data (the
    chart renders it into the ConfigMap as is)."""
    entry = ((_load_yaml(path) or {}).get("extraConfigMaps") or {}).get(configmap) or {}
    text = entry.get("data") if isinstance(entry, dict) else None
    if not isinstance(text, str):
        raise ConfigError(f"{path}: extraConfigMaps.{configmap}.data: expected the ConfigMap's data "
                          "as a string")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: extraConfigMaps.{configmap}.data: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: extraConfigMaps.{configmap}.data: expected KEY: value lines")
    return data


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)
