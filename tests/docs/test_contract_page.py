"""The contract page (docs/airflow/README.md, "The contract") says what the code does: every error kind
with its exit code, every option that reads an environment variable, every agent flag with its
DAGSYNC_ variable, every metric and refusal reason, and the files it names exist."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from airflow_dag_publisher.cli.main import build_parser
from airflow_dag_publisher.errors import EXIT_CODES
from airflow_dag_publisher.sync.main import build_parser as sync_parser
from airflow_dag_publisher.sync.main import env_name
from airflow_dag_publisher.sync.metrics import Metrics
from airflow_dag_publisher.sync.planner import REFUSAL_REASONS

REPO = Path(__file__).resolve().parents[2]
PAGE = (REPO / "docs" / "airflow" / "README.md").read_text(encoding="utf-8")
CONTRACT = PAGE[PAGE.index("## The contract"):PAGE.index("## Constraints kept")]


def section(title: str) -> str:
    start = CONTRACT.index(f"### {title}")
    end = CONTRACT.find("\n### ", start + 1)
    return CONTRACT[start:end if end > 0 else None]


def table_rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| ") and not line.startswith("| ---")]


def test_every_error_kind_is_listed_with_its_exit_code() -> None:
    listed: dict[str, int] = {}
    for code, kinds in table_rows(section("JSON errors"))[1:]:
        for kind in re.findall(r"`([a-z_]+)`", kinds):
            listed[kind] = int(code)
    assert listed == {kind.value: code for kind, code in EXIT_CODES.items()}


def test_every_publisher_option_with_a_variable_is_listed_with_it() -> None:
    rows = table_rows(section("airflow-dag-publisher: options and environment variables"))
    pairs = {(re.findall(r"`(--[a-z0-9-]+)", option)[0], variable.strip("`")) for option, variable, _ in rows[1:]
             if option.startswith("`--")}
    sub = next(a for a in build_parser({})._actions if isinstance(a, argparse._SubParsersAction))
    for parser in sub.choices.values():
        for action in parser._actions:
            found = re.search(r"\(env ([A-Z0-9_]+)", action.help or "")
            if found:
                assert (action.option_strings[-1], found.group(1)) in pairs, action.option_strings


def test_every_agent_flag_is_listed_with_its_variable() -> None:
    rows = table_rows(section("airflow-dag-sync: options and environment variables"))
    listed = {re.findall(r"`(-[^`]+)`", option)[-1]: variable.strip("`") for option, variable, _ in rows[1:]}
    flags = [a.option_strings[-1] for a in sync_parser({})._actions
             if a.option_strings and a.dest not in ("help", "version")]
    assert listed == {flag: env_name(flag) for flag in flags}


def test_every_metric_and_refusal_reason_is_listed() -> None:
    metrics = section("The agent's metrics")
    names = {family.name for family in Metrics().registry.collect() if family.name.startswith("dagsync_")}
    assert names and all(f"`{name}" in metrics for name in names), sorted(n for n in names if f"`{n}" not in metrics)
    reasons = metrics[metrics.index("The `reason` of"):]
    assert set(re.findall(r"`([a-z_]+)`", reasons)) >= {reason.value for reason in REFUSAL_REASONS}


def test_each_thing_to_change_has_one_file_and_it_exists() -> None:
    rows = table_rows(CONTRACT[:CONTRACT.index("### ")])[1:]
    assert len(rows) == 5
    src = REPO / "packages" / "orchestration" / "src" / "airflow_dag_publisher"
    for _what, where in rows:
        path = re.findall(r"`([^`]+\.py)`", where)[0].replace("packages/orchestration/src/airflow_dag_publisher/", "")
        assert (src / path.removeprefix(".../")).is_file(), where
