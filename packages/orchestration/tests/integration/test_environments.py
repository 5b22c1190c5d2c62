"""Environments exist explicitly: a command naming an environment whose `<env>/_environment.json` is
absent exits 2 before writing anything and names those that exist ("did you mean prod?"); `env create`
makes one (and never changes one); a publish never creates one. Driven through the real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_dag_publisher.environments import read_settings
from airflow_dag_publisher.errors import ErrorKind, UsageError
from airflow_dag_publisher.storage import Storage, environment_key

from devstack.seaweedfs import SeaweedFS

from .helpers import snapshot, write_dag

pytestmark = pytest.mark.usefixtures("s3_env")
BIN = Path(sys.executable).parent


def run(*argv: str, script: str = "airflow-dag-publisher") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / script), *argv], capture_output=True, text=True, timeout=120, check=False)


def test_a_typod_environment_is_refused_by_every_command_naming_the_ones_that_exist(
        tmp_path: Path, bucket: str, seaweedfs: SeaweedFS) -> None:
    source = tmp_path / "src"
    write_dag(source, "alpha", "daily")
    target = ("--bucket", bucket, "--package", "alpha")
    published = run("publish", "--env", "prod", *target, "--source", str(source), "--skip-dynamic-validation")
    assert published.returncode == 0, published.stderr
    before = snapshot(seaweedfs.client(), bucket)

    refused = {
        "publish": run("publish", "--env", "prdo", *target, "--source", str(source), "--skip-dynamic-validation"),
        "list": run("list", "--env", "prdo", "--bucket", bucket),
        "history": run("history", "--env", "prdo", *target),
        "show": run("show", "--env", "prdo", *target),
        "diff": run("diff", "--env", "prdo", *target, "--source", str(source)),
        "rollback": run("rollback", "--env", "prdo", *target, "--yes"),
        "retire": run("retire", "--env", "prdo", *target, "--yes"),
        "promote to": run("promote", "--from-env", "prod", "--env", "prdo", *target),
        "promote from": run("promote", "--from-env", "prdo", "--env", "dev", *target),
        "agent": run("--bucket", bucket, "--env", "prdo", "--dags-dir", str(tmp_path / "dags"), "--once",
                     script="airflow-dag-sync"),
    }
    for command, done in refused.items():
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert f"environment 'prdo' does not exist in s3://{bucket}/ (no prdo/_environment.json)" in done.stderr, \
            (command, done.stderr)
        assert "environments there: dev, prod, staging — did you mean prod?" in done.stderr, (command, done.stderr)
        assert "Traceback" not in done.stderr
    assert snapshot(seaweedfs.client(), bucket) == before  # nothing written, no environment created
    assert not (tmp_path / "dags").exists() or not any((tmp_path / "dags").iterdir())

    as_json = run("list", "--env", "prdo", "--bucket", bucket, "--json")
    error = json.loads(as_json.stdout)["error"]
    assert (as_json.returncode, error["code"], error["kind"]) == (2, 2, "no_environment")


def test_env_create_makes_an_environment_once_and_never_changes_one(tmp_path: Path, bucket: str) -> None:
    made = run("env", "create", "--env", "qa", "--bucket", bucket)
    assert made.returncode == 0 and made.stdout.strip() == (
        f"s3://{bucket}/qa/_environment.json: environment 'qa' created (require_signatures: false)"), made.stderr
    again = run("env", "create", "--env", "qa", "--bucket", bucket, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["created"] is False
    stricter = run("env", "create", "--env", "qa", "--bucket", bucket, "--require-signatures")
    assert stricter.returncode == 1 and "already exists in" in stricter.stderr
    assert read_settings(Storage(bucket), "qa").require_signatures is False
    signed = run("env", "create", "--env", "secure", "--bucket", bucket, "--require-signatures", "--json")
    assert json.loads(signed.stdout) == {"schema_version": 1, "env": "secure", "require_signatures": True,
                                         "created": True, "url": f"s3://{bucket}/secure/_environment.json"}
    listed = run("env", "list", "--bucket", bucket, "--json")
    assert json.loads(listed.stdout) == ["dev", "prod", "qa", "secure", "staging"]
    source = tmp_path / "src"
    write_dag(source, "alpha", "daily")
    assert run("publish", "--env", "qa", "--bucket", bucket, "--package", "alpha", "--source", str(source),
               "--skip-dynamic-validation").returncode == 0


def test_env_create_needs_a_versioned_bucket_that_exists(seaweedfs: SeaweedFS) -> None:
    plain = seaweedfs.create_bucket("plain-env-bucket", versioning=False, environments=())
    refused = run("env", "create", "--env", "dev", "--bucket", plain)
    assert refused.returncode == 2 and "versioning" in refused.stderr
    missing = run("env", "create", "--env", "dev", "--bucket", "no-such-env-bucket")
    assert missing.returncode == 2 and "bucket s3://no-such-env-bucket does not exist" in missing.stderr


def test_a_folder_without_the_file_is_not_an_environment_and_costs_one_listing(seaweedfs: SeaweedFS) -> None:
    name = seaweedfs.create_bucket("env-folders", environments=("dev",))
    storage = Storage(name)
    storage.put("legacy/alpha/manifest.json", b"{}")  # data, but no _environment.json: not an environment
    before = storage.requests
    assert read_settings(storage, "dev").env == "dev"
    assert storage.requests - before == 1  # an existing environment: one GET, no listing
    before = storage.requests
    with pytest.raises(UsageError) as caught:
        read_settings(storage, "legacy")
    assert caught.value.kind is ErrorKind.NO_ENVIRONMENT
    assert "; environments there: dev. An environment is created" in str(caught.value)
    # the GET, one ListObjectsV2 with Delimiter="/", one HEAD per top-level folder (dev, legacy)
    assert storage.requests - before == 4
    storage.put(environment_key("legacy"), b'{"schema_version": 1, "env": "legacy"}')
    assert read_settings(storage, "legacy").require_signatures is False
