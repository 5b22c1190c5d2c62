"""The Prometheus names Airflow's metrics get in the official chart: Airflow sends StatsD
(`<statsd_prefix>.<name>`, prefix `airflow` by default) to the chart's statsd-exporter, which maps
each name with the chart's mapping file (vendored in data/airflow-chart/, see SOURCE.md) or, when no
mapping matches, escapes it (every character outside [A-Za-z0-9_] becomes `_`).

The StatsD names come from Airflow itself: the metrics registry the installed Airflow ships
(`metrics_template.yaml`, which `Stats` consults on every call) and its default `statsd_prefix`
(config_templates/config.yml). The mapping follows statsd_exporter's mapper (pkg/mapper): glob
mappings first (`*` matches within one dot-separated field), then regex mappings in file order
(unanchored search); a timer becomes a summary (`<name>`, `<name>_sum`, `<name>_count`).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).resolve().parent / "data" / "airflow-chart"
MAPPINGS = DATA / "statsd-mappings.yml"


@dataclass(frozen=True)
class AirflowMetric:
    statsd: str  # the name Airflow sends, prefix included
    kind: str  # counter, gauge, timer
    prometheus: str  # the name statsd-exporter gives it


def airflow_root() -> Path:
    spec = importlib.util.find_spec("airflow")
    assert spec and spec.submodule_search_locations, "Airflow is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


def registry_file() -> Path:
    candidates = sorted(airflow_root().glob("**/observability/metrics/metrics_template.yaml"))
    assert candidates, f"no metrics_template.yaml under {airflow_root()}"
    return candidates[0]


def statsd_prefix() -> str:
    config = yaml.safe_load((airflow_root() / "config_templates" / "config.yml").read_text())
    return str(config["metrics"]["options"]["statsd_prefix"]["default"])


def _glob_regex(pattern: str) -> re.Pattern[str]:
    fields = [re.escape(f).replace(r"\*", "[^.]*") for f in pattern.split(".")]
    return re.compile(r"\.".join(fields) + r"\Z")


def escape(name: str) -> str:
    """statsd_exporter's EscapeMetricName."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", re.sub(r"-{2,}", "-", name))  # a dash after a dash is dropped
    return "_" + out if out[:1].isdigit() else out


@cache
def _mappings() -> list[dict[str, Any]]:
    return list(yaml.safe_load(MAPPINGS.read_text())["mappings"])


def prometheus_name(statsd: str) -> str:
    globs = [m for m in _mappings() if m.get("match_type", "glob") == "glob"]
    regexes = [m for m in _mappings() if m.get("match_type") == "regex"]
    for mapping in globs:
        match = _glob_regex(str(mapping["match"])).match(statsd)
        if match:
            return str(mapping["name"])
    for mapping in regexes:
        match = re.search(str(mapping["match"]), statsd)
        if match:
            return match.expand(str(mapping["name"]).replace("$", "\\"))
    return escape(statsd)


@cache
def airflow_metrics() -> tuple[AirflowMetric, ...]:
    """Every metric of Airflow's registry whose name has no variable part."""
    prefix = statsd_prefix()
    out = []
    for entry in yaml.safe_load(registry_file().read_text())["metrics"]:
        name = str(entry["name"])
        if "{" in name:
            continue
        statsd = f"{prefix}.{name}"
        out.append(AirflowMetric(statsd=statsd, kind=str(entry["type"]), prometheus=prometheus_name(statsd)))
    return tuple(out)


def exported_names() -> dict[str, AirflowMetric]:
    """Prometheus series name -> the Airflow metric it comes from."""
    out: dict[str, AirflowMetric] = {}
    for metric in airflow_metrics():
        names = [metric.prometheus]
        if metric.kind == "timer":
            names += [f"{metric.prometheus}_sum", f"{metric.prometheus}_count"]
        for name in names:
            out.setdefault(name, metric)
    return out
