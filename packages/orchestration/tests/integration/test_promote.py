"""`promote` against SeaweedFS: a release of one environment becomes a release of another with the
exact same bytes (server-side copies by pinned version, nothing read from or uploaded out of a local
folder), the same guardrails and the same conditional commit as publish."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from airflow_dag_publisher import publisher as core
from airflow_dag_publisher.storage import Storage, archive_key

from devstack.seaweedfs import SeaweedFS

from .helpers import Run, assert_manifest_verifies, cli, current_manifest, snapshot, write_dag

pytestmark = pytest.mark.usefixtures("s3_env")
BINARY = bytes(range(256)) * 4


def publish(capsys: pytest.CaptureFixture[str], bucket: str, env: str, package: str, src: Path, *more: str) -> Run:
    run = cli(capsys, "publish", "--env", env, "--bucket", bucket, "--package", package, "--source", str(src),
              "--skip-dynamic-validation", "--json", *more)  # the image recorded is the one the jobs run
    assert run.code == 0, run.out + run.err
    return run


def promote(capsys: pytest.CaptureFixture[str], bucket: str, package: str, *more: str, frm: str = "staging",
            to: str = "prod") -> Run:
    return cli(capsys, "promote", "--from-env", frm, "--env", to, "--bucket", bucket, "--package", package,
               "--json", *more)


def alpha_source(root: Path, n: int = 0) -> Path:
    src = root / f"v{n}"
    write_dag(src, "alpha", "daily", n=n)
    (src / "helpers").mkdir()
    (src / "helpers" / "settings.py").write_text(f"VERSION = {n}\n")
    (src / "helpers" / "lookup.bin").write_bytes(BINARY + bytes([n]))
    return src


def test_promote_copies_the_exact_bytes_server_side_and_records_the_source(
        tmp_path: Path, bucket: str, seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    publish(capsys, bucket, "staging", "alpha", alpha_source(tmp_path))
    client = seaweedfs.client()
    staging = current_manifest(client, bucket, "staging", "alpha")
    staging_bytes = assert_manifest_verifies(client, bucket, staging)

    puts: list[str] = []
    real_put = Storage.put

    def recording_put(self: Storage, key: str, body: bytes, **kwargs: Any) -> Any:
        puts.append(key)
        return real_put(self, key, body, **kwargs)

    def no_local_reads(*_: Any, **__: Any) -> Any:
        raise AssertionError("promote read a local folder")

    monkeypatch.setattr(Storage, "put", recording_put)
    monkeypatch.setattr(core, "read_source", no_local_reads)
    run = promote(capsys, bucket, "alpha")
    assert run.code == 0, run.out + run.err

    # Nothing but the commit point, the release kept under its id and the journal entry was written
    # with a PUT: every file is a copy.
    prod = current_manifest(client, bucket, "prod", "alpha")
    assert [k for k in puts if not k.startswith("_journal/")] == [
        f"_releases/prod/alpha/{prod['release_id']}.json", "prod/alpha/manifest.json"], puts
    prod_bytes = assert_manifest_verifies(client, bucket, prod)
    assert prod_bytes == staging_bytes
    assert {p: hashlib.sha256(b).hexdigest() for p, b in prod_bytes.items()} == \
        {f["path"]: f["sha256"] for f in staging["files"]}
    assert prod["content_digest"] == staging["content_digest"] == run.json()["content_digest"]
    assert prod["promoted_from"] == {"env": "staging", "release_id": staging["release_id"]}
    assert prod["image"] == staging["image"] and prod["git_sha"] == staging["git_sha"]
    assert prod["dag_ids"] == staging["dag_ids"] == ["alpha_daily"]
    assert prod["env"] == "prod" and prod["release_id"] != staging["release_id"]
    assert {f["version_id"] for f in prod["files"]}.isdisjoint({f["version_id"] for f in staging["files"]})
    assert run.json()["uploaded"] == 3 and run.json()["promoted_from"]["release_id"] == staging["release_id"]
    # the live keys of prod hold the same bytes (what `aws s3 cp` of prod would see)
    for path, body in staging_bytes.items():
        assert client.get_object(Bucket=bucket, Key=f"prod/alpha/dags/{path}")["Body"].read() == body

    history = cli(capsys, "history", "--env", "prod", "--bucket", bucket, "--package", "alpha")
    assert f"(promoted from staging {staging['release_id']})" in history.out

    again = promote(capsys, bucket, "alpha")  # the same bytes again: a no-op, no new release
    assert again.code == 0 and again.json()["noop"] is True
    assert current_manifest(client, bucket, "prod", "alpha")["release_id"] == prod["release_id"]


def test_promote_a_named_release_changes_only_what_differs_and_refuses_a_tombstone(
        tmp_path: Path, bucket: str, seaweedfs: SeaweedFS, capsys: pytest.CaptureFixture[str]) -> None:
    first = publish(capsys, bucket, "staging", "alpha", alpha_source(tmp_path, 0)).json()["release_id"]
    publish(capsys, bucket, "staging", "alpha", alpha_source(tmp_path, 1))
    assert promote(capsys, bucket, "alpha").code == 0  # prod gets staging's current (v1)

    run = promote(capsys, bucket, "alpha", "--release", first)  # back to v0's bytes, by name
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["uploaded"] == 3 and doc["unchanged"] == 0 and doc["promoted_from"]["release_id"] == first
    client = seaweedfs.client()
    prod = current_manifest(client, bucket, "prod", "alpha")
    assert assert_manifest_verifies(client, bucket, prod)["helpers/settings.py"] == b"VERSION = 0\n"

    assert cli(capsys, "retire", "--env", "staging", "--bucket", bucket, "--package", "alpha", "--yes").code == 0
    before = snapshot(client, bucket)
    refused = promote(capsys, bucket, "alpha")
    assert refused.code == 1
    error = refused.json()["error"]
    assert error["kind"] == "retired" and "retirement tombstone" in error["message"], error
    missing = promote(capsys, bucket, "alpha", "--release", "20990101T000000Z-000000000000")
    assert missing.code == 2 and missing.json()["error"]["kind"] == "unknown_release"
    assert "--release '20990101T000000Z-000000000000': package 'alpha' has no such release" in \
        missing.json()["error"]["message"]
    same_env = promote(capsys, bucket, "alpha", frm="prod")
    assert same_env.code == 2 and "--from-env and --env are both 'prod'" in same_env.json()["error"]["message"]
    assert snapshot(client, bucket) == before


def test_promote_refuses_a_dag_id_another_package_owns_in_the_target_env(
        tmp_path: Path, bucket: str, seaweedfs: SeaweedFS, capsys: pytest.CaptureFixture[str]) -> None:
    # In prod, package alpha published alpha_ext_job before package alpha_ext existed there.
    write_dag(tmp_path / "alpha", "alpha", "ext_job")
    publish(capsys, bucket, "prod", "alpha", tmp_path / "alpha")
    # In staging, the new package alpha_ext owns that dag_id; promoting it would take it over in prod.
    write_dag(tmp_path / "ext", "alpha_ext", "job")
    publish(capsys, bucket, "staging", "alpha_ext", tmp_path / "ext")
    before = snapshot(seaweedfs.client(), bucket)

    run = promote(capsys, bucket, "alpha_ext")

    assert run.code == 1
    error = run.json()["error"]
    assert error["kind"] == "dag_id_conflict"
    assert "refusing to promote alpha_ext" in error["message"]
    assert "'alpha_ext_job' is already owned by package 'alpha'" in error["message"]
    assert snapshot(seaweedfs.client(), bucket) == before


@pytest.mark.parametrize("winner", ["publish", "promote"])
def test_a_publish_and_a_promote_racing_in_the_target_env_leave_one_winner(
        winner: str, tmp_path: Path, bucket: str, seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The loser read prod's manifest before the winner committed: its conditional commit fails
    with exit 1, and prod's current release is the winner's, whole and verifiable."""
    publish(capsys, bucket, "staging", "alpha", alpha_source(tmp_path, 0))
    publish(capsys, bucket, "prod", "alpha", alpha_source(tmp_path, 1))
    direct = alpha_source(tmp_path, 2)
    client = seaweedfs.client()
    committed: list[str] = []

    def run_winner() -> None:
        if winner == "publish":
            run = publish(capsys, bucket, "prod", "alpha", direct)
        else:
            run = promote(capsys, bucket, "alpha")
        assert run.code == 0, run.err
        committed.append(run.json()["release_id"])

    # The loser's last step before its commit runs the winner to completion first.
    step = "_upload" if winner == "promote" else "_copy_from"
    real_step = getattr(core.Publisher, step)

    def winner_commits_meanwhile(self: core.Publisher, *args: Any, **kwargs: Any) -> Any:
        out = real_step(self, *args, **kwargs)
        if not committed:
            monkeypatch.setattr(core.Publisher, step, real_step)
            run_winner()
        return out

    monkeypatch.setattr(core.Publisher, step, winner_commits_meanwhile)
    if winner == "publish":
        loser = promote(capsys, bucket, "alpha")
    else:
        loser = cli(capsys, "publish", "--env", "prod", "--bucket", bucket, "--package", "alpha", "--source",
                    str(direct), "--skip-dynamic-validation", "--json")

    assert committed, "the winner did not run"
    assert loser.code == 1, loser.out + loser.err
    error = loser.json()["error"]
    assert error["kind"] == "conflict" and "committed" in error["message"] and "first" in error["message"]
    prod = current_manifest(client, bucket, "prod", "alpha")
    assert prod["release_id"] == committed[0]
    files = assert_manifest_verifies(client, bucket, prod)
    expected_version = "2" if winner == "publish" else "0"
    assert files["helpers/settings.py"] == f"VERSION = {expected_version}\n".encode()
    assert ("promoted_from" in prod) == (winner == "promote")


def test_promote_between_the_buckets_of_two_environments(tmp_path: Path, bucket: str, seaweedfs: SeaweedFS,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The Terraform gives each environment its own bucket: --from-bucket names staging's."""
    prod_bucket = seaweedfs.create_bucket(f"{bucket}-prod")
    publish(capsys, bucket, "staging", "alpha", alpha_source(tmp_path))
    client = seaweedfs.client()
    staging = current_manifest(client, bucket, "staging", "alpha")

    run = cli(capsys, "promote", "--from-env", "staging", "--from-bucket", bucket, "--env", "prod", "--bucket",
              prod_bucket, "--package", "alpha", "--json")

    assert run.code == 0, run.out + run.err
    prod = current_manifest(client, prod_bucket, "prod", "alpha")
    assert assert_manifest_verifies(client, prod_bucket, prod) == assert_manifest_verifies(client, bucket, staging)
    assert prod["content_digest"] == staging["content_digest"]
    assert prod["promoted_from"] == {"env": "staging", "release_id": staging["release_id"]}
    listed = client.list_objects_v2(Bucket=bucket, Prefix="prod/").get("Contents", [])
    assert [o["Key"] for o in listed] == ["prod/_environment.json"]  # nothing written to staging's bucket


def test_promote_copies_the_source_releases_archive_by_its_pinned_version(
        tmp_path: Path, bucket: str, seaweedfs: SeaweedFS, capsys: pytest.CaptureFixture[str]) -> None:
    """A source release with an `archive` part (dags.tar.gz, issue 16): the promoted release pins
    prod's copy of those exact bytes."""
    import io
    import tarfile

    from airflow_dag_publisher.manifest import ArchiveRef
    from airflow_dag_publisher.release_reader import read_current

    src = alpha_source(tmp_path)
    publish(capsys, bucket, "staging", "alpha", src)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(src, arcname=".")
    archive = buffer.getvalue()
    client = seaweedfs.client()
    stored = client.put_object(Bucket=bucket, Key=archive_key("staging", "alpha"), Body=archive)
    current = read_current(Storage(bucket), "staging", "alpha")
    assert current.manifest is not None and current.etag
    with_archive = current.manifest.with_changes(archive=ArchiveRef(
        version_id=stored["VersionId"], sha256=hashlib.sha256(archive).hexdigest(), size=len(archive)))
    client.put_object(Bucket=bucket, Key="staging/alpha/manifest.json", Body=with_archive.to_json(),
                      IfMatch=current.etag)
    client.put_object(Bucket=bucket, Key=archive_key("staging", "alpha"), Body=b"a later, different archive")

    run = promote(capsys, bucket, "alpha")

    assert run.code == 0, run.out + run.err
    prod = current_manifest(client, bucket, "prod", "alpha")
    assert prod["archive"]["sha256"] == hashlib.sha256(archive).hexdigest()
    assert prod["archive"]["size"] == len(archive) and prod["archive"]["version_id"] != stored["VersionId"]
    copy = client.get_object(Bucket=bucket, Key=archive_key("prod", "alpha"), VersionId=prod["archive"]["version_id"])
    assert copy["Body"].read() == archive


def test_promote_signs_with_the_signing_key_and_the_agents_trust_accepts_it(
        tmp_path: Path, bucket: str, seaweedfs: SeaweedFS, capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_dag_publisher.manifest import parse_manifest
    from airflow_dag_publisher.signing import signature_problem
    from airflow_dag_publisher.sync.trust import parse_trust

    from devstack.signing_keys import public_pem, trust_yaml, write_key

    key = write_key(tmp_path / "key.pem")
    publish(capsys, bucket, "staging", "alpha", alpha_source(tmp_path))
    done = promote(capsys, bucket, "alpha", "--signing-key", f"file:{key}")
    assert done.code == 0, done.out + done.err
    body = seaweedfs.client().get_object(Bucket=bucket, Key="prod/alpha/manifest.json")["Body"].read()
    manifest = parse_manifest(body, source="prod/alpha/manifest.json")
    assert manifest.signature is not None and manifest.promoted_from is not None
    trusted = parse_trust(trust_yaml({"alpha": [public_pem(key)]}), source="trust.yaml")["alpha"]
    assert signature_problem(manifest, trusted, require=True) is None
