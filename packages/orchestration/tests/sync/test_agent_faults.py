"""A fault of this node's disk is not the release's fault: the agent retries the package at its next
reconciliation and counts it as `local_storage`, and never remembers the release as refused."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from airflow_dag_publisher.errors import ErrorKind, LocalStorageError
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.releases import Layout
from airflow_dag_publisher.sync.state import AppliedRelease

from packages.orchestration.tests.sync.support import ENV, MemoryRemote, folder_view, memory_publish


def make_agent(remote: MemoryRemote, dags: Path) -> SyncAgent:
    agent = SyncAgent(AgentConfig(bucket=remote.bucket, env=ENV, cycle_timeout=30.0), remote, Layout(dags))
    agent.open()
    return agent


def test_a_denied_state_folder_is_retried_and_counted_not_refused(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    remote = MemoryRemote()
    memory_publish(remote, "alpha", {"alpha_dag.py": b"A = 1\n"})
    memory_publish(remote, "beta", {"beta_dag.py": b"B = 1\n"})
    agent = make_agent(remote, tmp_path / "dags")
    save = agent.store.save_package

    def denied(package: str, applied: AppliedRelease) -> None:
        if package == "alpha":  # the state folder refuses alpha's state file (a wrong owner, a broken mount)
            raise PermissionError(errno.EACCES, "Permission denied", str(agent.store.packages_dir / "alpha.json"))
        save(package, applied)

    monkeypatch.setattr(agent.store, "save_package", denied)
    try:
        first = agent.run_cycle(reconcile=True)
        assert first.outcome == "success" and first.error is None
        assert first.applied == ["beta"] and not first.refused  # not a refused release
        assert "Permission denied" in first.deferred["alpha"]
        assert agent.metrics.sample("dagsync_refused_manifests_total", package="alpha", reason="local_storage") == 1
        assert "alpha" not in agent.state.refused and "alpha" not in agent.state.applied  # nothing held against it

        monkeypatch.setattr(agent.store, "save_package", save)  # the disk is back
        second = agent.run_cycle(reconcile=True)
        assert second.applied == ["alpha"] and not second.refused and not second.deferred
        assert folder_view(tmp_path / "dags") == {"alpha": {"alpha_dag.py": b"A = 1\n"},
                                                  "beta": {"beta_dag.py": b"B = 1\n"}}
        assert (agent.store.packages_dir / "alpha.json").is_file()
    finally:
        agent.close()


def test_a_state_folder_failing_the_whole_cycle_is_a_local_storage_error(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    remote = MemoryRemote()
    memory_publish(remote, "alpha", {"alpha_dag.py": b"A = 1\n"})
    agent = make_agent(remote, tmp_path / "dags")

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(agent.store, "save_journal", full)
    try:
        result = agent.run_cycle(reconcile=True)
    finally:
        agent.close()
    assert result.outcome == "error" and isinstance(result.error, LocalStorageError)
    assert result.error.kind is ErrorKind.LOCAL_STORAGE and "No space left" in str(result.error)
