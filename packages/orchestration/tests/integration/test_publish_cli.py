"""The publisher's commands against a real S3 server (SeaweedFS), as a user runs them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devstack.seaweedfs import SeaweedFS

from .helpers import assert_manifest_verifies, cli, current_manifest, snapshot, write_dag

pytestmark = pytest.mark.usefixtures("s3_env")


def publish(capsys: pytest.CaptureFixture[str], bucket: str, package: str, source: Path, *extra: str):  # type: ignore[no-untyped-def]
    return cli(capsys, "publish", "--env", "dev", "--bucket", bucket, "--package", package, "--source", str(source),
               "--skip-dynamic-validation", "--json", *extra)


def test_two_packages_are_listed_with_their_dag_ids(tmp_path: Path, bucket: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    write_dag(tmp_path / "a", "alpha", "daily")
    write_dag(tmp_path / "b", "beta", "hourly")
    write_dag(tmp_path / "b", "beta", "weekly")
    assert publish(capsys, bucket, "alpha", tmp_path / "a").code == 0
    assert publish(capsys, bucket, "beta", tmp_path / "b").code == 0
    listing = cli(capsys, "list", "--env", "dev", "--bucket", bucket, "--json").json()
    assert [(r["package"], r["dag_ids"], r["retired"]) for r in listing] == [
        ("alpha", ["alpha_daily"], False), ("beta", ["beta_hourly", "beta_weekly"], False)]
    assert all(r["release_id"] and r["created_at"].endswith("Z") for r in listing)


def test_republishing_unchanged_content_is_a_noop_that_writes_nothing(
        tmp_path: Path, bucket: str, seaweedfs: SeaweedFS, capsys: pytest.CaptureFixture[str]) -> None:
    write_dag(tmp_path, "alpha", "daily")
    first = publish(capsys, bucket, "alpha", tmp_path).json()
    before = snapshot(seaweedfs.client(), bucket)
    again = publish(capsys, bucket, "alpha", tmp_path)
    assert again.code == 0
    assert again.json() == {"release_id": first["release_id"], "uploaded": 0, "deleted": 0, "unchanged": 1,
                            "noop": True}
    assert snapshot(seaweedfs.client(), bucket) == before


def test_same_size_edit_publishes_one_file(tmp_path: Path, bucket: str, seaweedfs: SeaweedFS,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    write_dag(tmp_path, "alpha", "daily", n=1)
    (tmp_path / "helper.py").write_text("VALUE = 1\n")
    first = publish(capsys, bucket, "alpha", tmp_path).json()
    write_dag(tmp_path, "alpha", "daily", n=2)  # same size, different bytes
    second = publish(capsys, bucket, "alpha", tmp_path).json()
    assert second["uploaded"] == 1 and second["unchanged"] == 1 and not second["noop"]
    manifest = current_manifest(seaweedfs.client(), bucket, "dev", "alpha")
    assert manifest["previous_release_id"] == first["release_id"]
    files = assert_manifest_verifies(seaweedfs.client(), bucket, manifest)
    assert b"1.0.2" in files["alpha_daily.py"]


def test_history_rollback_and_retire(tmp_path: Path, bucket: str, seaweedfs: SeaweedFS,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    client = seaweedfs.client()
    base = ("--env", "dev", "--bucket", bucket, "--package", "alpha")
    write_dag(tmp_path, "alpha", "daily", n=1)
    r1 = publish(capsys, bucket, "alpha", tmp_path).json()["release_id"]
    bytes_r1 = assert_manifest_verifies(client, bucket, current_manifest(client, bucket, "dev", "alpha"))
    write_dag(tmp_path, "alpha", "daily", n=2)
    write_dag(tmp_path, "alpha", "extra")
    r2 = publish(capsys, bucket, "alpha", tmp_path).json()["release_id"]

    history = cli(capsys, "history", *base, "--json").json()
    assert [m["release_id"] for m in history] == [r2, r1]

    back = cli(capsys, "rollback", *base, "--to", r1, "--yes", "--json")
    assert back.code == 0, back.err
    assert back.json()["restored_from"] == r1
    manifest = current_manifest(client, bucket, "dev", "alpha")
    assert manifest["previous_release_id"] == r2 and manifest["dag_ids"] == ["alpha_daily"]
    assert assert_manifest_verifies(client, bucket, manifest) == bytes_r1
    live = client.list_objects_v2(Bucket=bucket, Prefix="dev/alpha/dags/")
    assert [o["Key"] for o in live.get("Contents", [])] == ["dev/alpha/dags/alpha_daily.py"]

    retired = cli(capsys, "retire", *base, "--yes", "--json")
    assert retired.code == 0, retired.err
    row = cli(capsys, "list", "--env", "dev", "--bucket", bucket, "--json").json()[0]
    assert row["retired"] is True and row["dag_ids"] == []
    assert cli(capsys, "retire", *base, "--yes", "--json").json()["noop"] is True

    tomb = cli(capsys, "rollback", *base, "--to", row["release_id"], "--yes")
    assert tomb.code == 1 and "tombstone" in tomb.err
    assert cli(capsys, "rollback", *base, "--yes").code == 0  # back to the rolled-back release
    assert current_manifest(client, bucket, "dev", "alpha")["dag_ids"] == ["alpha_daily"]


def test_environment_variables_stand_in_for_flags(tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    write_dag(tmp_path / "dags", "alpha", "daily")
    for k, v in {"ENVIRONMENT": "dev", "PACKAGE_NAME": "alpha", "DAG_BUCKET": bucket,
                 "DAG_SOURCE_DIR": str(tmp_path / "dags"), "IMAGE_TAG": "registry.example.com/alpha:1.0.0"}.items():
        monkeypatch.setenv(k, v)
    run = cli(capsys, "publish", "--skip-dynamic-validation", "--json")
    assert run.code == 0, run.err
    history = cli(capsys, "history", "--json").json()
    assert history[0]["image"] == "registry.example.com/alpha:1.0.0"


def test_json_output_is_the_only_thing_on_stdout(tmp_path: Path, bucket: str, seaweedfs: SeaweedFS) -> None:
    import json
    import subprocess
    import sys

    write_dag(tmp_path, "alpha", "daily")
    exe = Path(sys.executable).parent / "airflow-dag-publisher"
    out = subprocess.run([str(exe), "publish", "--env", "dev", "--bucket", bucket, "--package", "alpha",
                          "--source", str(tmp_path), "--skip-dynamic-validation", "--json"],
                         capture_output=True, text=True, env={**os.environ}, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["uploaded"] == 1


def test_publish_repins_a_file_whose_live_copy_a_losing_publish_overwrote(
        tmp_path: Path, bucket: str, seaweedfs: SeaweedFS, capsys: pytest.CaptureFixture[str]) -> None:
    """Lifecycle rules expire noncurrent versions: a release must not keep pinning one."""
    client = seaweedfs.client()
    write_dag(tmp_path, "alpha", "daily")
    publish(capsys, bucket, "alpha", tmp_path)
    # A publisher that lost the race (or was killed) uploaded other bytes over the live key.
    client.put_object(Bucket=bucket, Key="dev/alpha/dags/alpha_daily.py", Body=b"# from a losing publish\n")
    again = publish(capsys, bucket, "alpha", tmp_path)
    assert again.code == 0 and again.json()["uploaded"] == 1 and not again.json()["noop"]
    assert "re-uploading 1 unchanged file" in again.err
    manifest = current_manifest(client, bucket, "dev", "alpha")
    live = client.head_object(Bucket=bucket, Key="dev/alpha/dags/alpha_daily.py")
    assert live["VersionId"] == manifest["files"][0]["version_id"]
    assert_manifest_verifies(client, bucket, manifest)
    assert publish(capsys, bucket, "alpha", tmp_path).json()["noop"] is True


def test_rollback_json_reports_the_release_it_restored(tmp_path: Path, bucket: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    base = ("--env", "dev", "--bucket", bucket, "--package", "alpha")
    write_dag(tmp_path, "alpha", "daily", n=1)
    r1 = publish(capsys, bucket, "alpha", tmp_path).json()["release_id"]
    write_dag(tmp_path, "alpha", "daily", n=2)
    r2 = publish(capsys, bucket, "alpha", tmp_path).json()["release_id"]
    back = cli(capsys, "rollback", *base, "--yes", "--json").json()  # default: the release before the current one
    assert back["restored_from"] == r1 and back["release_id"] not in (r1, r2)
    text = cli(capsys, "rollback", *base, "--yes")
    assert f"restores the files of release {r2}" in text.out  # the previous release is now r3's parent, r2
