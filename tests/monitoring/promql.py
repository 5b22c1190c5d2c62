"""The metric names a PromQL expression reads, and the expressions of the shipped monitoring files.

PromQL has no parser in Python here, so names are found lexically, which is enough for the grammar
the rules and the dashboard use: strings, label matchers `{...}`, ranges `[...]`, label lists after
by/without/on/ignoring/group_left/group_right and `offset <duration>` are removed; what remains
that looks like a name is a function or aggregation when an opening parenthesis follows it, a
keyword, or a metric name. A selector by `__name__` is refused rather than guessed at.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "infra" / "airflow" / "k8s" / "monitoring"
RULES = MONITORING / "prometheus-rules.yaml"
RULE_TESTS = MONITORING / "tests" / "prometheus-rules.test.yaml"
DASHBOARDS = MONITORING / "dashboards"
# Grafana's variables, as a dashboard query is sent to Prometheus
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h", "$namespace": ".*"}

KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
                      "group_right", "atan2", "inf", "nan"})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_OFFSET = re.compile(r"\boffset\s+-?[0-9a-z]+")
_NAME = re.compile(r"(?<![\w.:$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` selects (without the label matchers)."""
    if "__name__" in expr:
        raise ValueError(f"selects by __name__, which this lexer does not follow: {expr}")
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _LABEL_LIST.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    names = set()
    for match in _NAME.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def rule_groups() -> list[dict[str, Any]]:
    """`spec.groups` of the PrometheusRule: the plain rule file promtool and Prometheus read."""
    doc = yaml.safe_load(RULES.read_text())
    return list(doc["spec"]["groups"])


def write_rule_file(path: Path) -> Path:
    path.write_text(yaml.safe_dump({"groups": rule_groups()}, sort_keys=False))
    return path


def rule_expressions() -> dict[str, str]:
    """alert (or record) name -> expression."""
    return {rule.get("alert") or rule["record"]: str(rule["expr"]) for group in rule_groups()
            for rule in group["rules"]}


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def dashboard_panels(path: Path) -> list[dict[str, Any]]:
    panels = []
    for panel in json.loads(path.read_text())["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows hold their panels
    return panels


def dashboard_expressions(path: Path) -> dict[str, str]:
    """`<panel title> / <refId>` -> expression, with Grafana's variables replaced by values."""
    out = {}
    for panel in dashboard_panels(path):
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            out[f"{panel['title']} / {target['refId']}"] = expr
    doc = json.loads(path.read_text())
    for variable in doc.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = re.fullmatch(r"label_values\((?P<metric>[^,]+),\s*\w+\)", query)
            assert match, f"{path.name}: variable {variable['name']}: {query!r} is not label_values(metric, label)"
            out[f"variable {variable['name']}"] = match["metric"]
    return out
