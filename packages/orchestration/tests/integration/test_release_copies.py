"""Every committed release is addressable by its id: `_releases/<env>/<package>/<release_id>.json`
holds its manifest's bytes, written before the commit by publish, rollback, retire and promote
(against SeaweedFS, through the CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow_dag_publisher.errors import ErrorKind, StorageError
from airflow_dag_publisher.publisher import Publisher, ReleaseMeta
from airflow_dag_publisher.storage import Storage, release_key

from devstack.seaweedfs import SeaweedFS

from .helpers import cli, current_manifest, snapshot, write_dag

pytestmark = pytest.mark.usefixtures("s3_env")


def _copy(client: Any, bucket: str, env: str, package: str, release_id: str) -> bytes:
    body: bytes = client.get_object(Bucket=bucket, Key=release_key(env, package, release_id))["Body"].read()
    return body


def _live(client: Any, bucket: str, env: str, package: str) -> bytes:
    body: bytes = client.get_object(Bucket=bucket, Key=f"{env}/{package}/manifest.json")["Body"].read()
    return body


def _publish(capsys: pytest.CaptureFixture[str], bucket: str, source: Path, env: str = "dev") -> str:
    run = cli(capsys, "publish", "--env", env, "--bucket", bucket, "--package", "alpha", "--source", str(source),
              "--skip-dynamic-validation", "--json")
    assert run.code == 0, run.err
    release_id: str = run.json()["release_id"]
    return release_id


def test_publish_rollback_retire_and_promote_each_keep_their_release_under_its_id(
        tmp_path: Path, bucket: str, seaweedfs: SeaweedFS, capsys: pytest.CaptureFixture[str]) -> None:
    client = seaweedfs.client()
    ids = []
    for n in range(3):
        write_dag(tmp_path, "alpha", "daily", n)
        ids.append(_publish(capsys, bucket, tmp_path))
        assert _copy(client, bucket, "dev", "alpha", ids[-1]) == _live(client, bucket, "dev", "alpha")
    # The core's protocol (the CLI's confirmations are the CLI's own business)
    storage = Storage(bucket)
    meta = ReleaseMeta(published_by="tests", tool_version="0")
    rolled = Publisher(storage, "dev", "alpha").rollback(meta, to=ids[0]).release_id
    assert rolled is not None and rolled not in ids
    assert _copy(client, bucket, "dev", "alpha", rolled) == _live(client, bucket, "dev", "alpha")
    Publisher(storage, "staging", "alpha").promote(meta, "dev")
    promoted = current_manifest(client, bucket, "staging", "alpha")
    assert json.loads(_copy(client, bucket, "staging", "alpha", promoted["release_id"])) == promoted
    Publisher(storage, "dev", "alpha").retire(meta)
    tombstone = current_manifest(client, bucket, "dev", "alpha")
    assert tombstone["retired"] and json.loads(_copy(client, bucket, "dev", "alpha", tombstone["release_id"])) \
        == tombstone
    # Every release ever committed is there, and nothing under <env>/ grew for it.
    kept = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="_releases/dev/alpha/")["Contents"]}
    assert kept == {release_key("dev", "alpha", r) for r in [*ids, rolled, tombstone["release_id"]]}
    listing = Storage(bucket).list_manifests("dev")
    assert [m.package for m in listing] == ["alpha"]


def test_the_copy_is_written_before_the_commit_and_a_failed_copy_commits_nothing(
        tmp_path: Path, bucket: str, seaweedfs: SeaweedFS, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    client = seaweedfs.client()
    write_dag(tmp_path, "alpha", "daily", 0)
    first = _publish(capsys, bucket, tmp_path)
    order: list[str] = []
    failing: list[bool] = []
    real_put = Storage.put

    def recording(self: Storage, key: str, body: bytes, **kwargs: Any) -> Any:
        order.append(key)
        if failing and key.startswith("_releases/") and first not in key:
            raise StorageError(f"s3://{bucket}/{key}: injected failure", kind=ErrorKind.NETWORK)
        return real_put(self, key, body, **kwargs)

    monkeypatch.setattr(Storage, "put", recording)
    write_dag(tmp_path, "alpha", "daily", 1)
    second = _publish(capsys, bucket, tmp_path)
    commit = order.index("dev/alpha/manifest.json")
    assert order.index(release_key("dev", "alpha", second)) < commit
    assert order.index(release_key("dev", "alpha", first)) < commit  # the current one's (already there)

    failing.append(True)
    before = snapshot(client, bucket)
    write_dag(tmp_path, "alpha", "daily", 2)
    run = cli(capsys, "publish", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--source",
              str(tmp_path), "--skip-dynamic-validation", "--json")
    assert run.code == 3, run.out + run.err
    assert current_manifest(client, bucket, "dev", "alpha")["release_id"] == second
    after = snapshot(client, bucket)
    assert {r[0] for r in after} - {r[0] for r in before} <= {"dev/alpha/dags/alpha_daily.py", "dev/alpha/dags.tar.gz"}


def test_a_release_committed_without_a_copy_gets_one_at_the_next_commit(
        tmp_path: Path, bucket: str, seaweedfs: SeaweedFS, capsys: pytest.CaptureFixture[str]) -> None:
    """A release an older publisher committed (no copy) becomes addressable when the next commit
    replaces it: before that, it is the current manifest, which a worker reads instead."""
    client = seaweedfs.client()
    write_dag(tmp_path, "alpha", "daily", 0)
    old = _publish(capsys, bucket, tmp_path)
    client.delete_object(Bucket=bucket, Key=release_key("dev", "alpha", old))
    write_dag(tmp_path, "alpha", "daily", 1)
    _publish(capsys, bucket, tmp_path)
    assert json.loads(_copy(client, bucket, "dev", "alpha", old))["release_id"] == old
