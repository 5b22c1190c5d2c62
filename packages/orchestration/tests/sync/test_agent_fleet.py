"""The agent at fleet scale, against the in-memory bucket: a cold start fetches each package as one
archive, packages are built concurrently through one download pool, a hostile archive is refused
for its package only, and `--once --dag-id` syncs only the owner in a few requests."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from airflow_dag_publisher.errors import kind_of
from airflow_dag_publisher.storage import Download, Fetched, archive_key
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.releases import Layout

from packages.orchestration.tests.sync.hostile_archives import HOSTILE_ARCHIVES
from packages.orchestration.tests.sync.support import ENV, MemoryRemote, folder_view, memory_publish

T = TypeVar("T")


def files_of(package: str, count: int = 4, release: int = 1) -> dict[str, bytes]:
    return {f"{package}_dag.py" if i == 0 else f"lib/m{i}.py": f"# {package} {i} r{release}\n".encode()
            for i in range(count)}


def make_agent(remote: MemoryRemote, dags: Path, **overrides: float) -> SyncAgent:
    config = AgentConfig(bucket=remote.bucket, env=ENV, **{"cycle_timeout": 30.0, **overrides})  # type: ignore[arg-type]
    agent = SyncAgent(config, remote, Layout(dags))
    agent.open()
    return agent


def test_a_cold_start_fetches_each_package_as_one_archive(tmp_path: Path) -> None:
    remote = MemoryRemote()
    packages = [f"p{n:02d}" for n in range(12)]
    for p in packages:
        memory_publish(remote, p, files_of(p), archive=True)
    memory_publish(remote, "old_style", files_of("old_style"))  # published before archives: file by file
    agent = make_agent(remote, tmp_path / "dags")
    try:
        result = agent.run_cycle(reconcile=True)
    finally:
        agent.close()
    assert sorted(result.applied) == sorted([*packages, "old_style"]) and not result.refused
    assert folder_view(tmp_path / "dags") == {p: files_of(p) for p in [*packages, "old_style"]}
    # the journal, the listing, one manifest per package, one archive per package, 4 files of old_style
    assert result.requests == 2 + 13 + 12 + 4
    assert agent.metrics.sample("dagsync_archives_downloaded_total") == 12
    assert agent.metrics.sample("dagsync_files_downloaded_total") == 13 * 4


def test_one_changed_file_is_downloaded_alone_after_an_archive_start(tmp_path: Path) -> None:
    remote = MemoryRemote()
    memory_publish(remote, "alpha", files_of("alpha"), archive=True)
    agent = make_agent(remote, tmp_path / "dags")
    try:
        agent.run_cycle(reconcile=True)
        changed = {**files_of("alpha"), "alpha_dag.py": b"# changed\n"}
        memory_publish(remote, "alpha", changed, archive=True)
        result = agent.run_cycle(reconcile=False)
    finally:
        agent.close()
    assert result.applied == ["alpha"] and result.requests == 3  # journal, manifest, the one file
    assert folder_view(tmp_path / "dags") == {"alpha": changed}
    assert agent.metrics.sample("dagsync_archives_downloaded_total") == 1
    assert agent.metrics.sample("dagsync_files_reused_total") == 3


class SlowRemote(MemoryRemote):
    """Each archive or file download takes `delay` seconds; records how many ran at once."""

    delay: float = 0.15
    running: int = 0
    most: int = 0

    def _slowly(self, fetch: Callable[[], T]) -> T:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay)
            return fetch()
        finally:
            with self._lock:
                self.running -= 1

    def get(self, key: str, *, version_id: str | None = None, if_none_match: str | None = None,
            max_bytes: int | None = None) -> Fetched:
        def fetch() -> Fetched:
            return super(SlowRemote, self).get(key, version_id=version_id, if_none_match=if_none_match,
                                               max_bytes=max_bytes)
        return self._slowly(fetch) if version_id is not None else fetch()  # archives, not manifests

    def download(self, key: str, version_id: str, dest: str, *, max_bytes: int,
                 check: Callable[[], None] | None = None) -> Download:
        return self._slowly(lambda: super(SlowRemote, self).download(key, version_id, dest, max_bytes=max_bytes,
                                                                     check=check))


def test_packages_are_built_concurrently_through_one_download_pool(tmp_path: Path) -> None:
    remote = SlowRemote()
    packages = [f"p{n:02d}" for n in range(16)]
    for p in packages:
        memory_publish(remote, p, files_of(p), archive=True)
    agent = make_agent(remote, tmp_path / "dags", workers=4)
    try:
        started = time.monotonic()
        result = agent.run_cycle(reconcile=True)
        took = time.monotonic() - started
    finally:
        agent.close()
    assert sorted(result.applied) == packages
    assert remote.most == 4  # the pool's size: never more, and used to the full
    assert took < len(packages) * remote.delay / 2, took  # one after another would take 16 x 0.15 s


@pytest.mark.parametrize("name", sorted(HOSTILE_ARCHIVES))
def test_a_hostile_archive_is_refused_for_its_package_only(name: str, tmp_path: Path) -> None:
    make, kind = HOSTILE_ARCHIVES[name]
    remote = MemoryRemote()
    v1 = files_of("hostile")
    memory_publish(remote, "hostile", v1)
    memory_publish(remote, "good", files_of("good"), archive=True)
    agent = make_agent(remote, tmp_path / "root" / "dags")
    try:
        agent.run_cycle(reconcile=True)
        v2 = files_of("hostile", release=2)
        memory_publish(remote, "hostile", v2, archive=make(v2))
        memory_publish(remote, "good", files_of("good", release=2), archive=True)
        result = agent.run_cycle(reconcile=True)
    finally:
        agent.close()
    assert result.outcome == "success" and result.applied == ["good"], result
    assert list(result.refused) == ["hostile"]
    assert agent.metrics.sample("dagsync_refused_manifests_total", package="hostile", reason=kind) == 1
    assert folder_view(tmp_path / "root" / "dags") == {"hostile": v1, "good": files_of("good", release=2)}
    written = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")}
    assert {w for w in written if not w.startswith(("root/dags", "root/.dagsync-dags"))} == {"root"}
    assert not os.path.exists("/tmp/dagsync-archive-escape.py")
    assert os.listdir(tmp_path / "root" / ".dagsync-dags" / "staging") == []


def test_a_failed_download_fails_the_cycle_and_keeps_the_releases_already_built(tmp_path: Path) -> None:
    remote = MemoryRemote()
    for p in ("a_one", "b_two", "c_three"):
        memory_publish(remote, p, files_of(p), archive=True)
    remote.objects.pop(archive_key(ENV, "b_two"))
    original = remote.get

    def get(key: str, *, version_id: str | None = None, if_none_match: str | None = None,
            max_bytes: int | None = None) -> Fetched:
        if key == archive_key(ENV, "c_three"):
            from airflow_dag_publisher.errors import StorageError

            raise StorageError("S3 went away")
        return original(key, version_id=version_id, if_none_match=if_none_match, max_bytes=max_bytes)

    remote.get = get  # type: ignore[method-assign]
    agent = make_agent(remote, tmp_path / "dags", workers=1)
    try:
        result = agent.run_cycle(reconcile=True)
    finally:
        agent.close()
    assert result.outcome == "error" and "S3 went away" in str(result.error)
    assert result.error is not None and kind_of(result.error) == "storage"
    assert result.refused.keys() <= {"b_two"}  # its archive is missing: refused, not retried until it changes
    assert set(folder_view(tmp_path / "dags")) <= {"a_one"}
    assert not any(t.name.startswith("dagsync-") for t in threading.enumerate())


# -- --once --dag-id ---------------------------------------------------------------------------------
def fleet(remote: MemoryRemote, count: int) -> None:
    for n in range(count):
        p = f"team{n:03d}_jobs"
        memory_publish(remote, p, files_of(p), archive=True, journal=False, dag_ids=(f"{p}_daily_load",))


def test_once_dag_id_syncs_only_the_owner_in_a_few_requests_whatever_the_fleet(tmp_path: Path) -> None:
    for count in (10, 300):
        remote = MemoryRemote()
        fleet(remote, count)
        agent = make_agent(remote, tmp_path / str(count) / "dags")
        try:
            result = agent.run_cycle(reconcile=True, dag_id="team007_jobs_daily_load")
        finally:
            agent.close()
        assert result.owner == "team007_jobs" and result.applied == ["team007_jobs"]
        # manifests of team007_jobs_daily (none) and team007_jobs, then its archive
        assert result.requests == 3, (count, result.requests)
        assert folder_view(tmp_path / str(count) / "dags") == {"team007_jobs": files_of("team007_jobs")}


def test_once_dag_id_over_a_warm_folder_downloads_nothing(tmp_path: Path) -> None:
    remote = MemoryRemote()
    fleet(remote, 5)
    agent = make_agent(remote, tmp_path / "dags")
    try:
        agent.run_cycle(reconcile=True)
        again = agent.run_cycle(reconcile=True, dag_id="team003_jobs_daily_load")
    finally:
        agent.close()
    assert again.owner == "team003_jobs" and again.applied == [] and again.requests == 2


def test_a_dag_id_no_manifest_lists_falls_back_to_a_full_sync(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                                ) -> None:
    remote = MemoryRemote()
    fleet(remote, 5)
    agent = make_agent(remote, tmp_path / "dags")
    try:
        result = agent.run_cycle(reconcile=True, dag_id="team003_jobs_no_such_dag")
    finally:
        agent.close()
    assert result.owner is None and len(result.applied) == 5
    assert "no package's manifest lists dag_id team003_jobs_no_such_dag" in caplog.text
    assert "syncing every package instead" in caplog.text
