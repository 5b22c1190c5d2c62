"""The sync agent against a real S3 server (SeaweedFS): bytes, propagation, guards, request counts."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_dag_publisher.errors import StorageError
from airflow_dag_publisher.manifest import FileEntry
from airflow_dag_publisher.storage import Storage, make_client, manifest_key
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.releases import Layout

from devstack.seaweedfs import SeaweedFS
from packages.orchestration.tests.sync.support import DirectPublisher, folder_view, sha256

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared_bucket(seaweedfs: SeaweedFS) -> str:
    """One bucket per module (SeaweedFS gives each bucket its own volumes, and has a few dozen);
    every test works in its own environment prefix of it."""
    return seaweedfs.create_bucket(f"sync-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def env() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def storage(shared_bucket: str, s3_env: dict[str, str]) -> Storage:
    """The agent's client: short timeouts, one attempt, so a lost server shows quickly."""
    return Storage(shared_bucket, make_client(connect_timeout=2, read_timeout=2, attempts=1))


@pytest.fixture
def publisher(shared_bucket: str, s3_env: dict[str, str], env: str) -> DirectPublisher:
    return DirectPublisher(Storage(shared_bucket), env)


@pytest.fixture
def dags(tmp_path: Path) -> Path:
    return tmp_path / "airflow" / "dags"


def make_agent(storage: Storage, dags: Path, env: str, **overrides: float) -> SyncAgent:
    config = AgentConfig(bucket=storage.bucket, env=env, **{"cycle_timeout": 20.0, **overrides})  # type: ignore[arg-type]
    agent = SyncAgent(config, storage, Layout(dags))
    agent.open()
    return agent


@pytest.fixture
def agent(storage: Storage, dags: Path, env: str) -> Iterator[SyncAgent]:
    a = make_agent(storage, dags, env)
    yield a
    a.close()


def dag_file(n: int) -> bytes:
    return f"# release {n}\nfrom alpha.helpers import VALUE\nNUMBER = {n}\n".encode()


def test_published_release_lands_byte_for_byte(agent: SyncAgent, publisher: DirectPublisher, dags: Path) -> None:
    files = {"alpha_dag.py": dag_file(1), "helpers.py": b"VALUE = 1\n", "sql/q.sql": b"select 1\n" * 1000}
    publisher.publish("alpha", files)
    publisher.publish("beta", {"beta_dag.py": b"x = 1\n"})
    result = agent.run_cycle()
    assert result.outcome == "success" and sorted(result.applied) == ["alpha", "beta"]
    assert folder_view(dags) == {"alpha": files, "beta": {"beta_dag.py": b"x = 1\n"}}
    link = dags / "alpha"
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert not (dags.parent / ".dagsync-dags").resolve().is_relative_to(dags.resolve())


def test_change_rollback_and_retire_propagate(agent: SyncAgent, publisher: DirectPublisher, dags: Path) -> None:
    first = {"alpha_dag.py": dag_file(1), "helpers.py": b"VALUE = 1\n"}
    second = {"alpha_dag.py": dag_file(2), "helpers2.py": b"VALUE = 2\n"}
    publisher.publish("alpha", first)
    agent.run_cycle()
    publisher.publish("alpha", second)
    assert agent.run_cycle().applied == ["alpha"]
    assert folder_view(dags) == {"alpha": second}
    publisher.publish("alpha", first)  # a rollback is a new release with the old files
    result = agent.run_cycle()
    assert result.applied == ["alpha"] and folder_view(dags) == {"alpha": first}
    publisher.retire("alpha")
    assert agent.run_cycle().removed == ["alpha"]
    assert folder_view(dags) == {}
    publisher.publish("alpha", second)  # a retired package can come back
    agent.run_cycle()
    assert folder_view(dags) == {"alpha": second}


def test_unchanged_files_are_not_downloaded_again(agent: SyncAgent, publisher: DirectPublisher) -> None:
    publisher.publish("alpha", {"a.py": b"a" * 1000, "b.py": b"b" * 1000})
    agent.run_cycle()
    before = agent.metrics.sample("dagsync_bytes_downloaded_total")
    publisher.publish("alpha", {"a.py": b"a" * 1000, "b.py": b"B" * 10})
    agent.run_cycle()
    assert agent.metrics.sample("dagsync_bytes_downloaded_total") - before == 10
    assert agent.metrics.sample("dagsync_files_reused_total") == 1


def test_no_change_cycle_makes_one_s3_request(agent: SyncAgent, publisher: DirectPublisher,
                                              storage: Storage) -> None:
    for n in range(3):
        publisher.publish(f"pkg{n}", {"d.py": b"x"})
    agent.run_cycle()
    counted: list[str] = []
    storage.client.meta.events.register("before-send.s3.*", lambda **kw: counted.append(kw["request"].url))
    result = agent.run_cycle()
    assert result.outcome == "noop" and not result.reconciled
    assert result.requests == 1 and len(counted) == 1, counted
    assert "list-type=2" in counted[0] and "_journal" in counted[0]


def test_warm_restart_downloads_nothing(storage: Storage, publisher: DirectPublisher, dags: Path, env: str) -> None:
    publisher.publish("alpha", {"a.py": b"a"})
    first = make_agent(storage, dags, env)
    first.run_cycle()
    first.close()
    second = make_agent(storage, dags, env)
    result = second.run_cycle()
    second.close()
    assert result.reconciled and result.outcome == "noop"
    assert second.metrics.sample("dagsync_files_downloaded_total") == 0
    assert result.requests == 2  # one journal listing + one manifest listing, no GET


def test_lost_journal_entry_is_found_by_reconciliation(storage: Storage, publisher: DirectPublisher,
                                                       dags: Path, env: str) -> None:
    agent = make_agent(storage, dags, env, reconcile_interval=0.5)
    agent.run_cycle()
    publisher.publish("alpha", {"a.py": b"a"}, journal=False)
    assert agent.run_cycle(reconcile=False).outcome == "noop"
    time.sleep(0.6)
    assert agent.run_cycle().applied == ["alpha"]
    agent.close()


def hostile(publisher: DirectPublisher, storage: Storage, kind: str) -> None:
    good = {"p.py": b"print(1)\n"}
    if kind == "invalid_json":
        publisher.commit("hostile", b"{not json")
        return
    if kind == "huge":
        entries = [{"path": f"f{i}.py", "sha256": "0" * 64, "size": 1, "version_id": "v"} for i in range(100_000)]
        publisher.commit("hostile", json.dumps({"schema_version": 1, "files": entries}).encode())
        return
    if kind == "schema":
        manifest = publisher.publish("hostile", good, journal=False)
        raw = json.loads(manifest.to_json())
        raw["schema_version"] = 99
        publisher.commit("hostile", json.dumps(raw).encode())
        return
    if kind == "wrong_sha256":
        bad = {"p.py": b"print(2)\n"}
        publisher.publish("hostile", bad, mutate=lambda m: m.with_changes(
            files=(FileEntry("p.py", sha256(b"other"), len(bad["p.py"]), m.files[0].version_id),),
            content_digest=""))
        return
    if kind == "missing_version":
        publisher.publish("hostile", good, mutate=lambda m: m.with_changes(
            files=(FileEntry("p.py", m.files[0].sha256, m.files[0].size, "no-such-version-id"),), content_digest=""))
        return
    path = {"dotdot": "../escaped.py", "absolute": "/etc/escaped.py", "nested_dotdot": "a/../../x.py"}[kind]
    raw = json.loads(publisher.publish("hostile", good, journal=False).to_json())
    raw["files"][0]["path"] = path
    publisher.commit("hostile", json.dumps(raw).encode())


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "nested_dotdot", "wrong_sha256", "missing_version",
                                  "invalid_json", "huge", "schema"])
def test_hostile_manifest_is_refused_while_other_packages_sync(agent: SyncAgent, publisher: DirectPublisher,
                                                               storage: Storage, dags: Path, tmp_path: Path,
                                                               kind: str) -> None:
    publisher.publish("hostile", {"h.py": b"good = 1\n"})
    agent.run_cycle()
    hostile(publisher, storage, kind)
    publisher.publish("neighbour", {"n.py": b"n = 1\n"})
    result = agent.run_cycle()
    assert result.outcome == "success" and result.applied == ["neighbour"]
    assert "hostile" in result.refused
    assert folder_view(dags) == {"hostile": {"h.py": b"good = 1\n"}, "neighbour": {"n.py": b"n = 1\n"}}
    reason = {"wrong_sha256": "checksum", "huge": "too_large"}.get(kind, kind if kind in (
        "missing_version", "invalid_json", "schema") else "unsafe_path")
    assert agent.metrics.sample("dagsync_refused_manifests_total", package="hostile", reason=reason) == 1
    assert not list(tmp_path.rglob("escaped.py")) and not Path("/etc/escaped.py").exists()
    assert agent.run_cycle(reconcile=True).refused == {}  # refused once per manifest, not every cycle


def test_vanished_manifest_and_empty_listing_remove_nothing(agent: SyncAgent, publisher: DirectPublisher,
                                                           storage: Storage, dags: Path) -> None:
    publisher.publish("alpha", {"a.py": b"a"})
    publisher.publish("beta", {"b.py": b"b"})
    agent.run_cycle()
    storage.delete(manifest_key(publisher.env, "alpha"))
    publisher.journal("alpha")
    agent.run_cycle()
    agent.run_cycle(reconcile=True)
    assert set(folder_view(dags)) == {"alpha", "beta"}
    storage.delete(manifest_key(publisher.env, "beta"))
    agent.run_cycle(reconcile=True)  # the listing is now empty
    assert folder_view(dags) == {"alpha": {"a.py": b"a"}, "beta": {"b.py": b"b"}}
    assert agent.metrics.sample("dagsync_guarded_removals_total", reason="manifest_vanished") == 1
    assert agent.metrics.sample("dagsync_guarded_removals_total", reason="empty_listing") == 2


def test_s3_lost_mid_cycle_keeps_complete_releases_and_recovers(
        seaweedfs: SeaweedFS, storage: Storage, publisher: DirectPublisher, dags: Path, env: str) -> None:
    agent = make_agent(storage, dags, env, cycle_timeout=8.0, workers=2)
    first = {f"f{i}.py": f"v = {i}\n".encode() for i in range(40)}
    publisher.publish("alpha", first)
    agent.run_cycle()
    second = {f"f{i}.py": f"v = {i * 2}\n".encode() for i in range(40)}
    publisher.publish("alpha", second)
    publisher.publish("beta", {"b.py": b"b"})
    # Freeze the server once the cycle has downloaded a few files of the new release.
    got = threading.Event()
    count = {"n": 0}

    def freeze_after_some(**_: object) -> None:
        count["n"] += 1
        if count["n"] == 6:
            seaweedfs.pause()
            got.set()

    storage.client.meta.events.register("before-send.s3.GetObject", freeze_after_some)
    try:
        result = agent.run_cycle()
        assert got.is_set() and result.outcome == "error"
        view = folder_view(dags)
        assert view.get("alpha") in (first, second) and view.get("beta") in (None, {"b.py": b"b"})
        assert not any((agent.layout.staging_dir).iterdir())
    finally:
        storage.client.meta.events.unregister("before-send.s3.GetObject", freeze_after_some)
        seaweedfs.resume()
    result = agent.run_cycle()
    assert result.outcome == "success" and result.reconciled
    assert folder_view(dags) == {"alpha": second, "beta": {"b.py": b"b"}}
    agent.close()


def test_s3_stopped_then_restarted_agent_recovers(seaweedfs: SeaweedFS, storage: Storage,
                                                  publisher: DirectPublisher, dags: Path, env: str) -> None:
    agent = make_agent(storage, dags, env)
    publisher.publish("alpha", {"a.py": b"1"})
    agent.run_cycle()
    seaweedfs.stop()
    try:
        result = agent.run_cycle()
        assert result.outcome == "error" and isinstance(result.error, StorageError)
        assert "reach" in str(result.error) or "timed out" in str(result.error)
        assert result.error.kind in ("network", "timeout", "aborted")
        assert folder_view(dags) == {"alpha": {"a.py": b"1"}}
    finally:
        seaweedfs.restart()
    publisher.publish("alpha", {"a.py": b"2"})
    assert agent.run_cycle().outcome == "success"
    assert folder_view(dags) == {"alpha": {"a.py": b"2"}}
    agent.close()
