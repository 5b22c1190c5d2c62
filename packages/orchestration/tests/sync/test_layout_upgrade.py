"""A state folder written by an agent of the previous layout (release directories named by content
digest, files directly in them) is re-synced once into the current one (named by release id, files
in the package's folder), without any action from the operator."""

from __future__ import annotations

import json
import os
from pathlib import Path

from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.releases import Layout

from packages.orchestration.tests.sync.support import ENV, MemoryRemote, memory_publish


def test_a_previous_layout_is_resynced_into_release_id_directories(tmp_path: Path) -> None:
    remote = MemoryRemote()
    manifest = memory_publish(remote, "alpha", {"alpha_dag.py": b"x = 1\n"}, archive=True)
    dags = tmp_path / "dags"
    layout = Layout(dags)
    # What the previous agent left: <state>/releases/alpha/<digest>/alpha_dag.py and its link.
    digest = manifest.content_digest.removeprefix("sha256:")[:32]
    old = layout.releases_dir / "alpha" / digest
    old.mkdir(parents=True)
    (old / "alpha_dag.py").write_bytes(b"x = 1\n")
    dags.mkdir()
    os.symlink(os.path.relpath(old, dags), dags / "alpha")
    (layout.state_dir / "packages").mkdir(parents=True)
    (layout.state_dir / "packages" / "alpha.json").write_text(json.dumps(
        {"etag": '"v3"', "release_dir": digest, "manifest": manifest.to_dict()}))

    agent = SyncAgent(AgentConfig(bucket="memory", env=ENV), remote, layout)
    agent.open()
    try:
        assert "alpha" not in agent.state.applied  # not in place as the current layout lays it out
        result = agent.run_cycle(reconcile=True)
        assert result.outcome == "success" and result.applied == ["alpha"], result
        target = Path(os.readlink(dags / "alpha"))
        assert target.parts[-3:] == ("alpha", manifest.release_id, "alpha")
        assert (dags / "alpha" / "alpha_dag.py").read_bytes() == b"x = 1\n"
        assert agent.state.applied["alpha"].release_dir == manifest.release_id
    finally:
        agent.close()
