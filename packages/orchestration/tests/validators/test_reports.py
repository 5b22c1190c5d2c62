"""Text, JSON and JUnit reports, and the `validate` command's exit codes and options."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from airflow_dag_publisher.cli.main import main
from airflow_dag_publisher.validators import ValidationReport, dynamic
from airflow_dag_publisher.validators.reports import to_json, to_junit, to_text

from .conftest import BROKEN, GOOD


def test_junit_report_has_one_failed_testcase_per_bad_file(broken_report: ValidationReport) -> None:
    root = ET.fromstring(to_junit(broken_report))
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == broken_report.files
    failed = sorted(c.get("name") or "" for c in cases if c.find("failure") is not None)
    assert failed == broken_report.bad_files()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == str(len(failed))
    keep_pod = next(c for c in cases if c.get("name") == "acme_keep_pod.py").find("failure")
    assert keep_pod is not None and "keep_pod" in (keep_pod.text or "")


def test_json_report_follows_the_cli_contract(broken_report: ValidationReport) -> None:
    doc = json.loads(to_json(broken_report))
    assert doc["ok"] is False
    assert doc["files"] == broken_report.files
    assert all(set(f) == {"file", "rule", "severity", "message"} for f in doc["findings"])
    assert len(doc["findings"]) == len(broken_report.findings)
    assert doc["dynamic"]["ran"] is True


def test_text_report_lists_every_finding_then_a_summary(broken_report: ValidationReport) -> None:
    lines = to_text(broken_report).splitlines()
    assert len(lines) == len(broken_report.findings) + 1
    assert lines[-1].startswith("FAILED: package 'acme'")
    assert "acme_cycle.py: error: [cycle]" in "\n".join(lines)


def test_validate_exits_1_on_errors_and_writes_the_report_file(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.xml"
    code = main(["validate", "--source", str(BROKEN), "--package", "acme", "--no-dynamic", "--no-ruff",
                 "--format", "junit", "--output", str(out)])
    assert code == 1
    assert ET.parse(out).getroot().tag == "testsuites"
    stdout = capsys.readouterr().out
    assert stdout.startswith("FAILED:") and len(stdout.splitlines()) == 1


def test_validate_exits_0_on_good_dags_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "--source", str(GOOD), "--package", "acme", "--no-dynamic", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["ok"] is True and doc["findings"] == []
    assert doc["dynamic"]["skipped_reason"] == "disabled (--no-dynamic)"


def test_package_and_source_come_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PACKAGE_NAME", "acme")
    monkeypatch.setenv("DAG_SOURCE_DIR", str(GOOD))
    assert main(["validate", "--no-dynamic", "--no-ruff"]) == 0
    assert "OK: package 'acme', 3 file(s)" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["validate", "--source", str(GOOD)],  # no package
    ["validate", "--source", str(GOOD), "--package", "Bad-Name"],
    ["validate", "--source", "/nonexistent/dags", "--package", "acme"],
    ["validate", "--source", str(GOOD), "--package", "acme", "--format", "xml"],
    ["validate", "--source", str(GOOD), "--package", "acme", "--timeout", "0"],
])
def test_usage_errors_exit_2(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PACKAGE_NAME", raising=False)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    assert code == 2


def test_without_airflow_the_static_layer_runs_and_says_the_parse_was_skipped(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(dynamic, "airflow_missing", lambda: "airflow is not importable")
    code = main(["validate", "--source", str(BROKEN), "--package", "acme", "--no-ruff", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert doc["dynamic"] == {"ran": False, "skipped_reason": "airflow is not importable", "airflow_version": None,
                              "parse_seconds": {}}
    assert any(f["rule"] == "dynamic-skipped" and f["severity"] == "warning" for f in doc["findings"])
    assert any(f["file"] == "acme_latest_image.py" and f["rule"] == "kpo-image" for f in doc["findings"])


def test_require_airflow_without_airflow_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(dynamic, "airflow_missing", lambda: "airflow is not importable")
    assert main(["validate", "--source", str(GOOD), "--package", "acme", "--require-airflow"]) == 2
    assert "--require-airflow" in capsys.readouterr().err


def test_a_worker_that_cannot_start_skips_the_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_dag_publisher.validators import pool, validate_source

    monkeypatch.setattr(pool, "WORKER_MODULE", "airflow_dag_publisher.validators.no_such_worker")
    report = validate_source(GOOD, "acme", ruff=False)
    assert report.dynamic_skipped and "could not start" in report.dynamic_skipped
    assert report.ok  # a skipped parse is a warning unless --require-airflow
