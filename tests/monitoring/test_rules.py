"""The alert rules under promtool (Debian's `prometheus` package, installed by `make system-tools`):
`promtool check rules` on the PrometheusRule's groups, `promtool test rules` on the unit tests
committed beside them, every alert tested both firing and silent, and the tests fail when an alert
can no longer fire. The dashboard's queries parse as PromQL too."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring.promql import (
    REPO,
    RULE_TESTS,
    dashboard_expressions,
    dashboard_files,
    rule_expressions,
    rule_groups,
    write_rule_file,
)


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: run `make system-tools` (Debian package prometheus)"
    return path


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def unit_tests() -> dict[str, Any]:
    return yaml.safe_load(RULE_TESTS.read_text())  # type: ignore[no-any-return]


def lay_out(tmp_path: Path, groups: list[dict[str, Any]] | None = None) -> Path:
    """rules.yaml (the PrometheusRule's groups, or `groups`) beside a copy of the unit tests."""
    if groups is None:
        write_rule_file(tmp_path / "rules.yaml")
    else:
        (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    shutil.copyfile(RULE_TESTS, tmp_path / RULE_TESTS.name)
    return tmp_path / RULE_TESTS.name


def test_promtool_check_rules_accepts_the_rule_groups(tmp_path: Path) -> None:
    rules = write_rule_file(tmp_path / "rules.yaml")
    done = run_promtool("check", "rules", str(rules), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rule_expressions())} rules found" in done.stdout


def test_unit_tests_read_the_extracted_rule_file() -> None:
    assert unit_tests()["rule_files"] == ["rules.yaml"]


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    tests = lay_out(tmp_path)
    done = run_promtool("test", "rules", tests.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_is_tested_firing_and_silent() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in unit_tests()["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    alerts = set(rule_expressions())
    assert alerts - firing == set(), "alerts no unit test fires"
    assert alerts - silent == set(), "alerts no unit test keeps silent"
    assert {"DagSyncStale", "DagSyncFailing", "DagSyncErrorsFrequent", "DagSyncReleaseRefused",
            "DagSyncGuardedRemoval", "DagSyncLatencyHigh", "AirflowDagImportErrors",
            "AirflowTaskFailureRatioHigh"} <= alerts


@pytest.mark.parametrize("alert", sorted(rule_expressions()))
def test_unit_tests_fail_when_an_alert_can_no_longer_fire(alert: str, tmp_path: Path) -> None:
    groups = rule_groups()
    for group in groups:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["expr"] = "vector(1) == 0"  # never true
    tests = lay_out(tmp_path, groups)
    done = run_promtool("test", "rules", tests.name, cwd=tmp_path)
    assert done.returncode != 0
    assert re.search(rf"alertname: {alert}\b", done.stdout + done.stderr), done.stdout + done.stderr


def test_dashboard_queries_parse_as_promql(tmp_path: Path) -> None:
    rules = []
    for path in dashboard_files():
        for n, (where, expr) in enumerate(sorted(dashboard_expressions(path).items())):
            rules.append({"record": f"dashboard:query_{n}", "expr": expr, "labels": {"where": where[:60]}})
    assert len(rules) >= 10
    file = tmp_path / "dashboard-queries.yaml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, sort_keys=False))
    done = run_promtool("check", "rules", str(file), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_operations_describes_every_alert_and_every_runbook_exists() -> None:
    operations = REPO / "docs" / "airflow" / "OPERATIONS.md"
    text = operations.read_text()
    table = re.findall(r"^\| (\w+) \| .* \| \[.*\]\(#([\w-]+)\) \|$", text, re.M)
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    rules = {r["alert"]: r for g in rule_groups() for r in g["rules"]}
    assert sorted(name for name, _ in table) == sorted(rules)
    assert {anchor for _, anchor in table} <= anchors
    for name, rule in rules.items():
        doc, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert doc == "docs/airflow/OPERATIONS.md" and anchor in anchors, (name, rule["annotations"]["runbook"])
        assert dict(table)[name] == anchor, f"{name}: the table and the rule point at different runbooks"
