"""The two name finders the scrape test relies on: metric names in PromQL, and the Prometheus names
Airflow's StatsD metrics get through the chart's statsd-exporter mapping."""

from __future__ import annotations

import pytest

from tests.monitoring import statsd_names
from tests.monitoring.promql import metric_names


@pytest.mark.parametrize(("expr", "names"), [
    ('up{job="a/b"} == 0', {"up"}),
    ("time() - dagsync_last_success_timestamp_seconds > 180", {"dagsync_last_success_timestamp_seconds"}),
    ('sum by (namespace, le) (rate(x_bucket{ns=~"$n", le!="+Inf"}[30m])) > 60', {"x_bucket"}),
    ("sum(rate(a[5m])) by (pod) / on(pod) group_left(node) b unless c offset 15m", {"a", "b", "c"}),
    ("histogram_quantile(0.95, sum by (le) (rate(h_bucket[1m]))) > 1e3 and bool d", {"h_bucket", "d"}),
    ('label_replace(m, "dst", "$1", "src", "(.*)") or vector(0) * Inf', {"m"}),
    ("count by (package) (count by (package, release_id) (info)) > 1", {"info"}),
    ("e[10m:1m] offset -5m", {"e"}),
])
def test_metric_names_in_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_a_selector_by_name_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="__name__"):
        metric_names('{__name__="dagsync_packages"}')


@pytest.mark.parametrize(("statsd", "prometheus"), [
    ("airflow.dag_processing.import_errors", "airflow_dag_processing_import_errors"),  # no mapping: escaped
    ("airflow.ti_failures", "airflow_ti_failures"),
    ("airflow.dag.etl_daily.load.duration", "airflow_task_duration"),  # glob mapping
    ("airflow.dag.etl_daily.load.extra.duration", "airflow_dag_etl_daily_load_extra_duration"),  # * is one field
    ("airflow.pool.open_slots.default_pool", "airflow_pool_open_slots"),
    ("airflow.operator_failures_KubernetesPodOperator", "airflow_operator_failures"),  # regex mapping
    ("airflow.some-name--with---dashes", "airflow_some_name_with_dashes"),
    ("9lives", "_9lives"),
])
def test_statsd_exporter_names(statsd: str, prometheus: str) -> None:
    assert statsd_names.prometheus_name(statsd) == prometheus


def test_airflow_names_come_from_airflows_registry_with_its_prefix() -> None:
    assert statsd_names.statsd_prefix() == "airflow"
    names = statsd_names.exported_names()
    assert names["airflow_dag_processing_import_errors"].kind == "gauge"
    assert names["airflow_ti_failures"].kind == names["airflow_ti_successes"].kind == "counter"
    assert len(names) > 100
