"""The fleet manager of `python -m airflow_dag_publisher.dag_processor`: how often its idle steps look.
A real dag-processor runs it in every end-to-end test (devstack.airflow starts the shipped command), and
tests/e2e/test_parse_what_changed.py checks what it parses and when."""

from __future__ import annotations

import pytest
from airflow.cli.commands import dag_processor_command
from airflow.dag_processing.manager import DagFileProcessorManager
from airflow_dag_publisher import dag_processor
from airflow_dag_publisher.dag_processor import FleetDagFileProcessorManager, install, queue_check_interval


def test_the_queue_is_checked_at_the_reparse_interval_bounded_to_a_minute() -> None:
    assert queue_check_interval(21600) == 60.0
    assert queue_check_interval(30) == 30.0
    assert queue_check_interval(0) == 1.0


def test_install_makes_airflows_command_build_the_fleet_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dag_processor_command, "DagFileProcessorManager", DagFileProcessorManager)
    assert install()
    assert dag_processor_command.DagFileProcessorManager is FleetDagFileProcessorManager
    monkeypatch.setattr(dag_processor_command, "DagFileProcessorManager", object)  # an Airflow that moved it
    assert not install()
    assert dag_processor_command.DagFileProcessorManager is object


class Calls:
    def __init__(self) -> None:
        self.queue = 0
        self.purge = 0
        self.claims = 0
        self.callbacks = 0


Managed = tuple[FleetDagFileProcessorManager, Calls, list[float], dict[str, bool]]


@pytest.fixture
def manager(monkeypatch: pytest.MonkeyPatch) -> Managed:
    calls = Calls()
    clock = [1000.0]
    rows = {"priority": False, "callbacks": False}
    monkeypatch.setattr(DagFileProcessorManager, "prepare_file_queue",
                        lambda self, known_files: setattr(calls, "queue", calls.queue + 1))
    monkeypatch.setattr(DagFileProcessorManager, "purge_inactive_dag_warnings",
                        lambda self: setattr(calls, "purge", calls.purge + 1))
    monkeypatch.setattr(DagFileProcessorManager, "claim_priority_files",
                        lambda self: (setattr(calls, "claims", calls.claims + 1), ["f"])[1])
    monkeypatch.setattr(DagFileProcessorManager, "fetch_callbacks",
                        lambda self: (setattr(calls, "callbacks", calls.callbacks + 1), ["c"])[1])
    monkeypatch.setattr(dag_processor.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(dag_processor, "has_rows",
                        lambda model: rows["priority" if model.__tablename__.startswith("dag_priority")
                                           else "callbacks"])
    m = FleetDagFileProcessorManager.__new__(FleetDagFileProcessorManager)  # no database, no API server
    object.__setattr__(m, "_file_process_interval", 21600)
    object.__setattr__(m, "parsing_cleanup_interval", 60)
    object.__setattr__(m, "_next_queue_check", 0.0)
    object.__setattr__(m, "_next_purge", 0.0)
    return m, calls, clock, rows


def test_an_idle_loop_prepares_the_queue_and_purges_once_a_minute(
        manager: Managed) -> None:
    m, calls, clock, _ = manager
    for _ in range(120):  # two minutes of Airflow's one-second loop
        m.prepare_file_queue({})
        m.purge_inactive_dag_warnings()
        clock[0] += 1
    assert (calls.queue, calls.purge) == (2, 2)


def test_claims_run_only_when_their_table_holds_a_row(
        manager: Managed) -> None:
    m, calls, _, rows = manager
    assert m.claim_priority_files() == [] and m.fetch_callbacks() == []
    assert (calls.claims, calls.callbacks) == (0, 0)
    rows["priority"] = True
    assert m.claim_priority_files() == ["f"] and m.fetch_callbacks() == []
    rows["callbacks"] = True
    assert m.fetch_callbacks() == ["c"]
    assert (calls.claims, calls.callbacks) == (1, 1)
