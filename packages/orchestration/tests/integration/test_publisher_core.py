"""The publish protocol in the core (publisher.py), against SeaweedFS: one read of the source, the
validated bytes are the published bytes, one listing of the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow_dag_publisher import publisher as core
from airflow_dag_publisher.sources import LocalFile
from airflow_dag_publisher.storage import Storage

from devstack.dagfiles import kpo_dag
from devstack.seaweedfs import SeaweedFS

from .helpers import cli, current_manifest, snapshot, write_dag

pytestmark = pytest.mark.usefixtures("s3_env")
BAD = kpo_dag("alpha", "daily").replace('namespace="etl-jobs"', 'namespace="default"')
GOOD = kpo_dag("alpha", "daily")


def test_a_file_changed_on_disk_after_it_was_read_cannot_slip_past_the_validator(
        tmp_path: Path, bucket: str, seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    dag = tmp_path / "alpha_daily.py"
    dag.write_text(BAD)
    real_read = core.read_source

    def read_then_fix_on_disk(source: Path, **kwargs: Any) -> list[LocalFile]:
        files = real_read(source, **kwargs)
        dag.write_text(GOOD)  # what a validator reading the disk again would see
        return files

    monkeypatch.setattr(core, "read_source", read_then_fix_on_disk)
    before = snapshot(seaweedfs.client(), bucket)
    run = cli(capsys, "publish", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--source",
              str(tmp_path), "--skip-dynamic-validation")
    assert run.code == 1 and "namespace is 'default'" in run.err and "nothing was published" in run.err
    assert snapshot(seaweedfs.client(), bucket) == before


def test_the_published_bytes_are_the_bytes_read_once(tmp_path: Path, bucket: str, seaweedfs: SeaweedFS,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    dag = tmp_path / "alpha_daily.py"
    dag.write_text(GOOD)
    real_read = core.read_source
    reads: list[Path] = []

    def read_then_break_on_disk(source: Path, **kwargs: Any) -> list[LocalFile]:
        reads.append(source)
        files = real_read(source, **kwargs)
        dag.write_text(BAD)
        return files

    monkeypatch.setattr(core, "read_source", read_then_break_on_disk)
    run = cli(capsys, "publish", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--source",
              str(tmp_path), "--skip-dynamic-validation", "--json")
    assert run.code == 0, run.err
    assert reads == [tmp_path]
    manifest = current_manifest(seaweedfs.client(), bucket, "dev", "alpha")
    key = "dev/alpha/dags/alpha_daily.py"
    body = seaweedfs.client().get_object(Bucket=bucket, Key=key, VersionId=manifest["files"][0]["version_id"])
    assert body["Body"].read() == GOOD.encode()


def test_a_publish_lists_the_environment_once(tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    write_dag(tmp_path / "beta", "beta", "daily")
    assert cli(capsys, "publish", "--env", "dev", "--bucket", bucket, "--package", "beta", "--source",
               str(tmp_path / "beta"), "--skip-dynamic-validation").code == 0
    listings: list[str] = []
    real_list = Storage.list_manifests

    def counting(self: Storage, env: str) -> Any:
        listings.append(env)
        return real_list(self, env)

    monkeypatch.setattr(Storage, "list_manifests", counting)
    write_dag(tmp_path / "alpha", "alpha", "daily")
    run = cli(capsys, "publish", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--source",
              str(tmp_path / "alpha"), "--skip-dynamic-validation")
    assert run.code == 0, run.err
    assert listings == ["dev"]


def test_the_core_validates_whatever_a_library_user_passes(bucket: str, s3_env: dict[str, str]) -> None:
    publisher = core.Publisher(Storage(bucket), "dev", "alpha")
    files = [LocalFile("alpha_daily.py", *_digest(BAD.encode()), BAD.encode())]
    meta = core.ReleaseMeta(published_by="test", tool_version="0")
    with pytest.raises(core.ValidationFailed, match="namespace is 'default'") as caught:
        publisher.publish_files(files, meta, core.PublishOptions(validation=core.Validation.STATIC))
    assert caught.value.kind == "validation" and not caught.value.report.ok


def _digest(data: bytes) -> tuple[str, int]:
    import hashlib

    return hashlib.sha256(data).hexdigest(), len(data)
