"""The broken-DAG corpus: every kind of breakage is an error naming its file; good DAGs give none."""

from __future__ import annotations

import pytest
from airflow_dag_publisher.validators import ERROR, ValidationReport

from .conftest import TEST_TIMEOUT

# file -> a rule that must be among its errors (the file name says what is broken)
EXPECTED = {
    "acme_syntax_error.py": "syntax",
    "acme_missing_module.py": "import",
    "acme_endless_loop.py": "timeout",
    "acme_sleep_forever.py": "timeout",
    "acme_ignores_alarm.py": "timeout",
    "acme_no_prefix.py": "dag-id-prefix",
    "acme_computed_dag_id.py": "dag-id-prefix",
    "acme_ext_prefix.py": "dag-id-prefix",
    "acme_duplicate_a.py": "duplicate-dag-id",
    "acme_duplicate_b.py": "duplicate-dag-id",
    "acme_cycle.py": "cycle",
    "acme_latest_image.py": "kpo-image",
    "acme_untagged_image.py": "kpo-image",
    "acme_image_from_variable.py": "kpo-image",
    "acme_wrong_namespace.py": "kpo-namespace",
    "acme_no_resources.py": "kpo-resources",
    "acme_partial_resources.py": "kpo-resources",
    "acme_keep_pod.py": "kpo-on-finish-action",
    "acme_no_logs.py": "kpo-get-logs",
    "acme_variable_get.py": "module-level-variable",
    "acme_connection_at_parse.py": "module-level-connection",
    "acme_schedule_interval.py": "import",
    "acme_source_relative_import.py": "import",
    "acme_relative_import.py": "import",
    "acme_imports_billing.py": "cross-package-import",
    "acme_python_task.py": "operator-not-allowed",
    "acme_sys_exit.py": "import",
    "acme_os_exit.py": "worker-died",
    "acme_kills_worker.py": "worker-died",
}


def _error_rules(report: ValidationReport, file: str) -> set[str]:
    return {f.rule for f in report.findings_for(file) if f.severity == ERROR}


def test_corpus_has_at_least_fifteen_kinds_of_broken_files() -> None:
    assert len(set(EXPECTED.values())) >= 15
    assert len(EXPECTED) >= 25


@pytest.mark.parametrize("file, rule", sorted(EXPECTED.items()))
def test_broken_file_gets_an_error_naming_it(broken_report: ValidationReport, file: str, rule: str) -> None:
    assert file in broken_report.files
    assert rule in _error_rules(broken_report, file), broken_report.findings_for(file)


def test_every_broken_file_and_only_those_fail(broken_report: ValidationReport) -> None:
    assert set(broken_report.bad_files()) == set(EXPECTED)
    assert not broken_report.ok
    assert broken_report.dynamic_skipped is None


def test_helper_module_imported_by_bare_name_is_reported_as_source_folder_only(
        broken_report: ValidationReport) -> None:
    messages = [f.message for f in broken_report.findings_for("acme_source_relative_import.py")]
    assert any("acme.helpers" in m for m in messages)
    assert any("No module named 'helpers'" in m for m in messages)


def test_airflow2_argument_is_an_error_from_the_airflow_parse(broken_report: ValidationReport) -> None:
    findings = broken_report.findings_for("acme_schedule_interval.py")
    assert any(f.rule == "import" and "schedule_interval" in f.message for f in findings)
    assert any(f.rule == "airflow2-argument" and f.severity == ERROR for f in findings)
    assert any(f.rule == "ruff-AIR301" for f in findings)


def test_arguments_checked_as_airflow_built_them(broken_report: ValidationReport) -> None:
    # the image comes from a module variable, the dag_id from a join, get_logs from a constant:
    # the static layer cannot see them, the Airflow parse does
    assert broken_report.dag_ids["acme_computed_dag_id.py"] == ["daily_report"]
    image = broken_report.findings_for("acme_image_from_variable.py")
    assert any("registry.example.com:5000/acme/jobs" in f.message for f in image)


def test_duplicate_dag_id_names_the_other_file(broken_report: ValidationReport) -> None:
    a = [f.message for f in broken_report.findings_for("acme_duplicate_a.py") if f.rule == "duplicate-dag-id"]
    assert a == ["dag_id 'acme_shared' is also defined in acme_duplicate_b.py"]


def test_file_sleeping_forever_is_stopped_at_the_timeout_and_others_are_still_judged(
        broken_report: ValidationReport) -> None:
    timeout = [f for f in broken_report.findings_for("acme_sleep_forever.py") if f.rule == "timeout"]
    assert timeout and "import timeout" in timeout[0].message
    # judged after and beside the hanging files: every other file got its verdict from Airflow
    assert set(broken_report.parse_seconds) == set(broken_report.files) - {"acme_syntax_error.py"}
    assert broken_report.parse_seconds["acme_ignores_alarm.py"] < TEST_TIMEOUT + 2.0 + 3.0


def test_files_that_end_their_interpreter_do_not_stop_the_run(broken_report: ValidationReport) -> None:
    died = broken_report.findings_for("acme_kills_worker.py")
    assert any("signal 9" in f.message for f in died)
    assert any("exit status 3" in f.message for f in broken_report.findings_for("acme_os_exit.py"))
    assert "acme_wrong_namespace.py" in broken_report.bad_files()


def test_messages_do_not_leak_the_temporary_dags_folder(broken_report: ValidationReport) -> None:
    assert not [f for f in broken_report.findings if "adp-validate-" in f.message]


def test_good_dags_give_no_findings(good_report: ValidationReport) -> None:
    assert good_report.findings == []
    assert good_report.ok
    assert good_report.all_dag_ids == ["acme_daily_load", "acme_hourly_sync"]
    assert good_report.dynamic_skipped is None and good_report.airflow_version
