"""A real Prometheus (Debian's `prometheus`) on loopback scrapes a running `airflow-dag-sync` (against
SeaweedFS) with the shipped rules loaded, while a package is published with `airflow-dag-publisher`.

Every metric name the rules and the dashboard read must be one that is exported: an agent name must
be among the series Prometheus scraped from the agent's job (a renamed metric fails here), an Airflow
name among the names Airflow's own metrics registry gets through the chart's statsd mapping
(tests/monitoring/statsd_names.py: no Airflow runs here). The rules evaluate without error against
the live data, and every dashboard query is accepted by Prometheus's query API.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.demo_procs import stop_process
from devstack.seaweedfs import SeaweedFS, free_port
from packages.orchestration.tests.integration.helpers import write_dag
from tests.monitoring import statsd_names
from tests.monitoring.promql import (
    dashboard_expressions,
    dashboard_files,
    metric_names,
    rule_expressions,
    write_rule_file,
)

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
JOB = "airflow/airflow-dag-sync"  # the PodMonitor's job label (namespace/name)
PACKAGE = "monpkg"
BROKEN = "brokenpkg"
LATENCY = "dagsync_sync_latency_seconds"
LATENCY_SERIES = {f"{LATENCY}_bucket", f"{LATENCY}_sum", f"{LATENCY}_count"}
WAIT_SECONDS = 60.0


@dataclass
class Stack:
    prometheus: str  # base URL
    agent: str
    tmp: Path
    env: dict[str, str]


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait(what: str, check: Any, timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    for _ in range(int(timeout / 0.25) + 1):
        try:
            last = check()
        except OSError as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            break
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


def api(stack: Stack, path: str, **params: str) -> Any:
    url = f"{stack.prometheus}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    status, body = _get(url)
    doc = json.loads(body)
    assert status == 200 and doc["status"] == "success", f"{path} {params}: {status} {doc}"
    return doc["data"]


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)




@pytest.fixture(scope="module")
def stack(seaweedfs: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus is missing: run `make system-tools` (Debian package prometheus)"
    tmp = tmp_path_factory.mktemp("monitoring")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(seaweedfs.env())
    environment = f"m{uuid.uuid4().hex[:8]}"
    env.update({"AWS_CONFIG_FILE": str(tmp / "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-creds"),
                "ENVIRONMENT": environment,
                "DAG_BUCKET": seaweedfs.create_bucket(f"mon-{uuid.uuid4().hex[:12]}", environments=(environment,))})
    agent_port, prom_port = free_port(), free_port()
    agent = _start([str(BIN / "airflow-dag-sync"), "--bucket", env["DAG_BUCKET"], "--env", env["ENVIRONMENT"],
                    "--dags-dir", str(tmp / "dags"), "--interval", "0.5", "--reconcile-interval", "2",
                    "--metrics-port", str(agent_port),
                    "--metrics-address", "127.0.0.1"], tmp / "agent.log", env)
    write_rule_file(tmp / "rules.yaml")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yaml"],
        "scrape_configs": [{"job_name": JOB, "static_configs": [
            {"targets": [f"127.0.0.1:{agent_port}"], "labels": {"namespace": "airflow", "pod": "scheduler-0"}}]}],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom = _start([prometheus, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                   f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"], tmp / "prometheus.log", env)
    try:
        agent_url, prom_url = f"http://127.0.0.1:{agent_port}", f"http://127.0.0.1:{prom_port}"
        _wait("the agent's /readyz", lambda: agent.poll() is None and _get(f"{agent_url}/readyz")[0] == 200)
        _wait("Prometheus /-/ready", lambda: prom.poll() is None and _get(f"{prom_url}/-/ready")[0] == 200)
        yield Stack(prometheus=prom_url, agent=agent_url, tmp=tmp, env=env)
    finally:
        stop_process(prom)
        stop_process(agent)
        for name in ("agent.log", "prometheus.log"):
            print(f"--- {name}\n{(tmp / name).read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def published(stack: Stack, seaweedfs: SeaweedFS) -> Stack:
    """A real publish of one package; then a release the agent must refuse (a manifest that is not
    JSON) and a removal it must not do (the published package's manifest deleted): labelled counters
    have series only once counted. Returns when Prometheus holds all of them."""
    source = stack.tmp / "source"
    write_dag(source, PACKAGE, "daily")
    done = subprocess.run([str(BIN / "airflow-dag-publisher"), "publish", "--package", PACKAGE, "--source",
                           str(source), "--skip-dynamic-validation"], env=stack.env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    query = f'dagsync_package_release_info{{job="{JOB}",package="{PACKAGE}"}}'
    _wait("the release in Prometheus", lambda: api(stack, "query", query=query)["result"])
    s3, bucket, env = seaweedfs.client(), stack.env["DAG_BUCKET"], stack.env["ENVIRONMENT"]
    s3.put_object(Bucket=bucket, Key=f"{env}/{BROKEN}/manifest.json", Body=b"{not json")
    s3.put_object(Bucket=bucket, Key=f"_journal/{env}/{int(time.time() * 1000):016d}-{BROKEN}", Body=b"")
    s3.delete_object(Bucket=bucket, Key=f"{env}/{PACKAGE}/manifest.json")
    for metric in ("dagsync_refused_manifests_total", "dagsync_guarded_removals_total"):
        _wait(f"{metric} in Prometheus", lambda m=metric: api(stack, "query", query=f'{m}{{job="{JOB}"}}')["result"])
    time.sleep(2.5)  # a few more scrapes and rule evaluations
    return stack


def scraped_agent_names(stack: Stack) -> set[str]:
    series = api(stack, "series", **{"match[]": f'{{job="{JOB}"}}'})
    return {s["__name__"] for s in series}


def used_names() -> dict[str, set[str]]:
    """metric name -> where it is read (alert names, dashboard panels)."""
    out: dict[str, set[str]] = {}
    sources = {f"alert {name}": expr for name, expr in rule_expressions().items()}
    for path in dashboard_files():
        sources.update({f"{path.name}: {where}": expr for where, expr in dashboard_expressions(path).items()})
    for where, expr in sources.items():
        for name in metric_names(expr):
            out.setdefault(name, set()).add(where)
    return out


def test_every_metric_the_rules_and_dashboard_read_is_exported(published: Stack) -> None:
    scraped = scraped_agent_names(published)
    assert {"dagsync_cycles_total", "dagsync_package_release_info", "up"} <= scraped
    airflow = statsd_names.exported_names()
    used = used_names()
    assert {n for n in used if n.startswith("airflow_")} >= {"airflow_dag_processing_import_errors",
                                                             "airflow_ti_failures", "airflow_ti_successes"}
    missing = {}
    for name, where in sorted(used.items()):
        if name in LATENCY_SERIES:  # test_sync_latency_histogram_has_a_sample_after_a_publish
            continue
        known = airflow if name.startswith("airflow_") else scraped
        if name not in known:
            missing[name] = sorted(where)
    assert missing == {}, f"read by the rules or the dashboard, exported by nothing: {missing}"


def test_a_renamed_metric_would_be_reported(published: Stack) -> None:
    scraped = scraped_agent_names(published)
    assert "dagsync_refused_manifest_total" not in scraped  # the check compares exact names
    assert "airflow_dag_processing_import_error" not in statsd_names.exported_names()


def test_rules_evaluate_without_error_on_live_data(published: Stack) -> None:
    def evaluated() -> list[dict[str, Any]]:
        rules = [r for g in api(published, "rules")["groups"] for r in g["rules"]]
        return rules if rules and all(r["health"] != "unknown" for r in rules) else []

    rules = _wait("a first evaluation of every rule", evaluated)
    assert {r["name"] for r in rules} == set(rule_expressions())
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []

    def firing() -> set[tuple[str, str]]:
        alerts = api(published, "alerts")["alerts"]
        return {(a["labels"]["alertname"], a["labels"].get("package") or a["labels"].get("reason", ""))
                for a in alerts if a["state"] == "firing"}

    # the refusal and the kept package, first counted seconds ago, fire at once; nothing else does
    expected = {("DagSyncReleaseRefused", BROKEN), ("DagSyncGuardedRemoval", "manifest_vanished")}
    assert _wait("the two alerts", lambda: firing() if firing() >= expected else set()) == expected


def test_dashboard_queries_run_against_prometheus(published: Stack) -> None:
    for path in dashboard_files():
        for where, expr in dashboard_expressions(path).items():
            api(published, "query", query=expr)  # raises unless Prometheus accepts it
            assert where


def test_sync_latency_histogram_has_a_sample_after_a_publish(published: Stack) -> None:
    assert scraped_agent_names(published) >= LATENCY_SERIES
    result = api(published, "query", query=f'sum({LATENCY}_count{{job="{JOB}"}})')["result"]
    assert result and float(result[0]["value"][1]) >= 1
    buckets = api(published, "query", query=f'{LATENCY}_bucket{{job="{JOB}"}}')["result"]
    bounds = {float(b["metric"]["le"]) for b in buckets}  # prometheus_client writes le="1.0"
    assert {1, 2, 5, 10, 15, 30, 60, 120, 300, 600, float("inf")} <= bounds
    used = {n for n in used_names() if n.startswith(LATENCY)}
    assert used and used <= scraped_agent_names(published)
