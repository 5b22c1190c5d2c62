"""The Prometheus Operator objects in infra/airflow/k8s/monitoring: strictly valid against their CRD
schemas (the validator itself refuses what the API server would), and wired to what the Helm values
run (the agent's port and pods, the chart's statsd-exporter)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring import crd_schema
from tests.monitoring.promql import DASHBOARDS, MONITORING, RULES

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "infra" / "airflow" / "k8s" / "airflow-values.yaml"
# The chart's `component` pod label of each Helm values section that carries the agent's sidecar
CHART_COMPONENTS = {"scheduler": "scheduler", "dagProcessor": "dag-processor", "triggerer": "triggerer"}
OPERATOR_VERSION = "0.93.0"


def objects() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(MONITORING.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out[doc["kind"]] = doc
    return out


def load(kind: str) -> dict[str, Any]:
    return copy.deepcopy(objects()[kind])


def test_monitoring_folder_holds_the_three_objects_and_a_dashboard() -> None:
    assert set(objects()) == {"PrometheusRule", "PodMonitor", "ServiceMonitor"}
    assert all(o["metadata"]["namespace"] == "airflow" for o in objects().values())
    assert [p.name for p in DASHBOARDS.glob("*.json")] == ["airflow-dag-delivery.json"]
    # kubectl apply -f infra/airflow/k8s/monitoring/ reads only the objects: nothing else at the top
    assert {p.suffix for p in MONITORING.iterdir() if p.is_file()} == {".yaml"}


@pytest.mark.parametrize("kind", ["PrometheusRule", "PodMonitor", "ServiceMonitor"])
def test_objects_are_valid_against_their_crd_schema(kind: str) -> None:
    assert crd_schema.errors(load(kind)) == []


def test_vendored_schemas_are_the_pinned_operator_version() -> None:
    docs = crd_schema.vendored()
    assert {kind for _, kind in docs} == {"PrometheusRule", "PodMonitor", "ServiceMonitor"}
    assert {d["operator_version"] for d in docs.values()} == {OPERATOR_VERSION}
    assert f"`v{OPERATOR_VERSION}`" in (crd_schema.DATA.parent / "SOURCE.md").read_text()


@pytest.mark.parametrize(("kind", "mutate", "where"), [
    ("PrometheusRule", lambda o: o["spec"]["groups"][0]["rules"][0].update(alrt="x"), "spec.groups.0.rules.0"),
    ("PrometheusRule", lambda o: o["spec"]["groups"][0].update(interval="often"), "spec.groups.0.interval"),
    ("PrometheusRule", lambda o: o["spec"]["groups"][0]["rules"][0].update({"for": "5 minutes"}),
     "spec.groups.0.rules.0.for"),
    ("PrometheusRule", lambda o: o["spec"]["groups"][1].update(name=o["spec"]["groups"][0]["name"]), "spec.groups"),
    ("PrometheusRule", lambda o: o["spec"].update(group=[]), "spec"),
    ("PrometheusRule", lambda o: o["metadata"].update(labelz={}), "metadata"),
    ("PrometheusRule", lambda o: o["metadata"].update(name="Airflow_Rules"), "metadata.name"),
    ("PodMonitor", lambda o: o["spec"]["podMetricsEndpoints"][0].update(portt="x"), "spec.podMetricsEndpoints.0"),
    ("PodMonitor", lambda o: o["spec"]["podMetricsEndpoints"][0].update(scheme="ftp"),
     "spec.podMetricsEndpoints.0.scheme"),
    ("PodMonitor", lambda o: o["spec"]["selector"]["matchExpressions"][0].update(operator=3),
     "spec.selector.matchExpressions.0.operator"),
    ("ServiceMonitor", lambda o: o["spec"]["endpoints"][0].update(interval="30 seconds"), "spec.endpoints.0.interval"),
    ("ServiceMonitor", lambda o: o["spec"].pop("selector"), "spec"),
])
def test_schema_check_refuses_what_the_api_server_would(kind: str, mutate: Any, where: str) -> None:
    obj = load(kind)
    mutate(obj)
    found = crd_schema.errors(obj)
    assert found, f"{kind} accepted after the change at {where}"
    assert any(e.startswith(f"{where}:") for e in found), found


@pytest.mark.parametrize(("api_version", "kind"), [("monitoring.coreos.com/v1", "Probe"),
                                                    ("monitoring.coreos.com/v1beta1", "PrometheusRule")])
def test_schema_check_knows_only_the_vendored_kinds(api_version: str, kind: str) -> None:
    assert not crd_schema.is_custom_resource({"apiVersion": api_version, "kind": kind})
    with pytest.raises(crd_schema.UnknownKind, match=kind):
        crd_schema.errors({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})


def helm_values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())  # type: ignore[no-any-return]


def test_pod_monitor_scrapes_the_sidecar_port_of_every_component_that_runs_it() -> None:
    values = helm_values()
    monitor = load("PodMonitor")["spec"]
    (endpoint,) = monitor["podMetricsEndpoints"]
    for section in CHART_COMPONENTS:
        (sidecar,) = [c for c in values[section]["extraContainers"] if c["name"] == "dag-sync"]
        port = f"--metrics-port={sidecar['ports'][0]['containerPort']}"
        assert port in sidecar["args"]
        assert sidecar["ports"][0]["name"] == endpoint["port"] == "dagsync-metrics"
    (expression,) = monitor["selector"]["matchExpressions"]
    assert expression["key"] == "component" and expression["operator"] == "In"
    assert sorted(expression["values"]) == sorted(CHART_COMPONENTS.values())
    assert monitor["selector"]["matchLabels"] == {"tier": "airflow"}
    assert monitor["namespaceSelector"] == {"matchNames": ["airflow"]}
    assert endpoint["path"] == "/metrics"
    # workers (KubernetesExecutor) run the agent only as an init container: nothing to scrape
    assert not values["workers"].get("extraContainers")


def test_alerts_name_the_pod_monitors_job() -> None:
    monitor = load("PodMonitor")["metadata"]
    job = f'{monitor["namespace"]}/{monitor["name"]}'  # the operator's job label for a PodMonitor
    rules = yaml.safe_load(RULES.read_text())["spec"]["groups"]
    jobs = {r["alert"]: r["expr"] for g in rules for r in g["rules"] if "job=" in str(r["expr"])}
    assert jobs and all(f'job="{job}"' in expr for expr in jobs.values()), jobs


def test_service_monitor_scrapes_the_charts_statsd_exporter() -> None:
    assert helm_values()["statsd"]["enabled"] is True
    spec = load("ServiceMonitor")["spec"]
    assert spec["selector"]["matchLabels"] == {"tier": "airflow", "component": "statsd"}
    assert [e["port"] for e in spec["endpoints"]] == ["statsd-scrape"]


def test_dashboard_has_the_panels_operations_asks_for() -> None:
    doc = json.loads((DASHBOARDS / "airflow-dag-delivery.json").read_text())
    panels = {p["title"]: p for p in doc["panels"] if p["type"] != "row"}
    exprs = {title: " ".join(t["expr"] for t in p["targets"]) for title, p in panels.items()}
    wanted = {
        "dagsync_sync_latency_seconds_bucket": "histogram_quantile(0.95",
        "dagsync_cycles_total": "by (outcome)",
        "dagsync_refused_manifests_total": "reason",
        "dagsync_package_release_info": "by (package, release_id)",
        "airflow_dag_processing_import_errors": "max",
    }
    for metric, how in wanted.items():
        assert any(metric in e and how in e for e in exprs.values()), f"no panel shows {metric} ({how})"
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["datasource"] == {"type": "prometheus", "uid": "${datasource}"} for p in panels.values())
    assert doc["uid"] == "airflow-dag-delivery" and doc["schemaVersion"] >= 36
