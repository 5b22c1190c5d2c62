"""The release archive on the publisher's side, against SeaweedFS: every release with files pins one
archive of exactly its files (deterministic bytes, VersionId, sha256, size), a rollback pins one too
(the old release's archive copied back, or built from its files when it predates archives), and an
agent syncs from it."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from airflow_dag_publisher.archive import build_archive
from airflow_dag_publisher.manifest import ReleaseManifest
from airflow_dag_publisher.publisher import Publisher, PublishOptions, ReleaseMeta, Validation
from airflow_dag_publisher.release_reader import Environment
from airflow_dag_publisher.sources import LocalFile
from airflow_dag_publisher.storage import LISTING_DELIMITER, Storage, archive_key
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.releases import Layout

from devstack.seaweedfs import SeaweedFS
from packages.orchestration.tests.sync.support import DirectPublisher, folder_view

pytestmark = pytest.mark.usefixtures("s3_env")
META = ReleaseMeta(published_by="tests", tool_version="tests")
STATIC = PublishOptions(validation=Validation.STATIC)


def local(files: dict[str, bytes]) -> list[LocalFile]:
    return [LocalFile(p, hashlib.sha256(d).hexdigest(), len(d), d) for p, d in sorted(files.items())]


def release(n: int) -> dict[str, bytes]:
    return {"helper.py": f"HELPER = {n}\n".encode(), "lib/util.py": f"UTIL = {n}\n".encode(),
            "sql/q.sql": b"select 1\n"}


def archive_bytes(storage: Storage, manifest: ReleaseManifest) -> bytes:
    assert manifest.archive is not None
    obj = storage.get(archive_key(manifest.env, manifest.package), version_id=manifest.archive.version_id).obj
    assert obj is not None
    assert hashlib.sha256(obj.body).hexdigest() == manifest.archive.sha256 and len(obj.body) == manifest.archive.size
    return obj.body


@pytest.fixture
def publisher(bucket: str, seaweedfs: SeaweedFS) -> Publisher:
    env = f"a{uuid.uuid4().hex[:8]}"
    seaweedfs.declare_environment(bucket, env)
    return Publisher(Storage(bucket), env, "alpha")


def publish(publisher: Publisher, files: dict[str, bytes]) -> ReleaseManifest:
    result = publisher.publish_files(local(files), META, STATIC, environment=Environment())
    assert result.manifest is not None and not result.warnings, result.warnings
    return result.manifest


def test_a_release_pins_the_archive_of_exactly_its_files(publisher: Publisher) -> None:
    first = publish(publisher, release(1))
    assert first.archive is not None and first.archive.format == "tar.gz"
    assert archive_bytes(publisher.storage, first) == build_archive(release(1).items())
    again = publisher.publish_files(local(release(1)), META, STATIC, environment=Environment())
    assert again.noop and again.manifest == first
    second = publish(publisher, {**release(1), "helper.py": b"HELPER = 2\n"})
    assert second.archive is not None and second.archive.version_id != first.archive.version_id
    assert archive_bytes(publisher.storage, second) == build_archive({**release(1), "helper.py": b"HELPER = 2\n"}
                                                                     .items())


def test_a_rollback_pins_the_archive_of_the_restored_files(publisher: Publisher) -> None:
    first = publish(publisher, release(1))
    publish(publisher, release(2))
    back = publisher.rollback(META, to=first.release_id).manifest
    assert back is not None and back.archive is not None and first.archive is not None
    assert back.archive.sha256 == first.archive.sha256 and back.archive.version_id != first.archive.version_id
    assert archive_bytes(publisher.storage, back) == build_archive(release(1).items())
    retired = publisher.retire(META).manifest
    assert retired is not None and retired.archive is None


def test_a_rollback_to_a_release_from_before_archives_builds_its_archive(publisher: Publisher) -> None:
    old = DirectPublisher(publisher.storage, publisher.env).publish("alpha", release(1))
    assert old.archive is None
    publish(publisher, release(2))
    back = publisher.rollback(META, to=old.release_id).manifest
    assert back is not None and archive_bytes(publisher.storage, back) == build_archive(release(1).items())


def test_an_agent_syncs_a_published_release_from_its_archive(publisher: Publisher, tmp_path: Path) -> None:
    publish(publisher, release(1))
    bucket = publisher.storage.bucket
    agent = SyncAgent(AgentConfig(bucket=bucket, env=publisher.env), Storage(bucket), Layout(tmp_path / "dags"))
    agent.open()
    try:
        result = agent.run_cycle(reconcile=True)
    finally:
        agent.close()
    assert result.applied == ["alpha"] and folder_view(tmp_path / "dags") == {"alpha": release(1)}
    assert agent.metrics.sample("dagsync_archives_downloaded_total") == 1
    assert result.requests == 4  # the journal, the listing, the manifest, the archive


def test_the_reconciliation_listing_holds_two_entries_per_package(publisher: Publisher) -> None:
    """The archive key rolls into the package's one common prefix with its DAG files, so the listing
    does not grow with archives (on SeaweedFS, a page ending on a common prefix drops the next keys of
    that package: two entries per package keep every page ending on a manifest)."""
    publish(publisher, release(1))
    Publisher(publisher.storage, publisher.env, "beta").publish_files(local(release(2)), META, STATIC,
                                                                      environment=Environment())
    resp = publisher.storage.client.list_objects_v2(Bucket=publisher.storage.bucket, Prefix=f"{publisher.env}/",
                                                    Delimiter=LISTING_DELIMITER)
    env = publisher.env
    assert [o["Key"] for o in resp["Contents"]] == [  # and the environment's one settings file
        f"{env}/_environment.json", f"{env}/alpha/manifest.json", f"{env}/beta/manifest.json"]
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == [f"{env}/alpha/d", f"{env}/beta/d"]
    assert [m.package for m in publisher.storage.list_manifests(env)] == ["alpha", "beta"]
