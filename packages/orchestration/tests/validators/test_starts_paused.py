"""The validator warns about a DAG that will start paused: one that says is_paused_upon_creation=True,
or says nothing where `[core] dags_are_paused_at_creation` is True (read by the parse worker from
Airflow's configuration, which keeps the caller's AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow_dag_publisher.validators import WARNING, validate_source
from airflow_dag_publisher.validators.built_checks import starts_paused

from packages.orchestration.tests.integration.helpers import write_dag

SETTING = "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"


@pytest.mark.parametrize(("explicit", "at_creation", "paused"), [
    (True, False, True), (True, True, True), (False, True, False), (False, False, False),
    (None, True, True), (None, False, False),
])
def test_a_dag_starts_paused_as_airflow_would_create_it(explicit: bool | None, at_creation: bool,
                                                       paused: bool) -> None:
    message = starts_paused(SimpleNamespace(dag_id="acme_x", is_paused_upon_creation=explicit), at_creation)
    assert (message is not None) == paused
    if message and explicit is None:
        assert "dags_are_paused_at_creation" in message and SETTING in message


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("acme")
    for name, flag in (("live", "False"), ("held", "True")):
        text = write_dag(folder, "acme", name).read_text()
        (folder / f"acme_{name}.py").write_text(
            text.replace("catchup=False,", f"catchup=False, is_paused_upon_creation={flag},"))
    write_dag(folder, "acme", "plain")  # says nothing
    return folder


def paused_files(source: Path) -> dict[str, str]:
    report = validate_source(source, "acme", timeout=10, workers=1, ruff=False)
    assert report.ok and report.dynamic_skipped is None
    assert {f.severity for f in report.findings} <= {WARNING}
    return {f.file: f.message for f in report.findings if f.rule == "starts-paused"}


def test_under_airflows_default_a_dag_that_says_nothing_starts_paused(source: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SETTING, raising=False)
    found = paused_files(source)
    assert set(found) == {"acme_held.py", "acme_plain.py"}
    assert "is_paused_upon_creation=True" in found["acme_held.py"]


def test_with_the_deployments_setting_only_an_explicit_pause_is_reported(source: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SETTING, "False")
    assert set(paused_files(source)) == {"acme_held.py"}
