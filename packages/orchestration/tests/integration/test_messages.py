"""Messages a user reads, through the real processes: no broken grammar, one line per failure, the same
words for the same mistake, and exit codes that say whether retrying can help."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from airflow_dag_publisher.storage import Storage

from devstack.seaweedfs import SeaweedFS, free_port
from packages.orchestration.tests.sync.support import DirectPublisher

from .helpers import write_dag

pytestmark = pytest.mark.usefixtures("s3_env")
BIN = Path(sys.executable).parent


def publisher(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "airflow-dag-publisher"), *argv], capture_output=True, text=True, timeout=120,
                          check=False)


def test_promote_of_a_package_without_a_current_release_reads_well(bucket: str) -> None:
    done = publisher("promote", "--from-env", "dev", "--env", "staging", "--bucket", bucket, "--package", "alpha")
    assert done.returncode == 1, done.stderr
    assert "package 'alpha' has no current release in environment 'dev'" in done.stderr
    assert "has no a" not in done.stderr


def test_show_or_diff_of_a_release_the_history_lacks_is_exit_2(tmp_path: Path, bucket: str) -> None:
    write_dag(tmp_path, "alpha", "daily")
    target = ("--env", "dev", "--bucket", bucket, "--package", "alpha")
    assert publisher("publish", *target, "--source", str(tmp_path), "--skip-dynamic-validation").returncode == 0
    for argv in (("show", *target, "v1.2"), ("diff", *target, "nope"), ("rollback", *target, "--to", "nope", "--yes")):
        done = publisher(*argv, "--json")
        error = json.loads(done.stdout)["error"]
        assert (done.returncode, error["kind"]) == (2, "unknown_release"), (argv, error)
        assert "see `history`" in error["message"]


def test_a_missing_source_folder_is_said_the_same_way_by_validate_publish_and_diff(tmp_path: Path,
                                                                                     bucket: str) -> None:
    missing = str(tmp_path / "nope")
    said = {
        "validate": publisher("validate", "--package", "alpha", "--source", missing),
        "publish": publisher("publish", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--source",
                             missing),
    }
    for command, done in said.items():
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.strip() == f"airflow-dag-publisher: error: --source {missing}: no such directory", command
    (tmp_path / "file").write_text("x")
    a_file = publisher("validate", "--package", "alpha", "--source", str(tmp_path / "file"))
    assert a_file.returncode == 2 and a_file.stderr.strip().endswith(": not a directory")


def test_the_agent_says_1_file_and_each_s3_failure_once(tmp_path: Path, seaweedfs: SeaweedFS) -> None:
    bucket = seaweedfs.create_bucket(f"msg-{uuid.uuid4().hex[:8]}")
    DirectPublisher(Storage(bucket), "dev").publish("alpha", {"a.py": b"a = 1\n"})
    agent = [str(BIN / "airflow-dag-sync"), "--bucket", bucket, "--env", "dev"]
    once = subprocess.run([*agent, "--dags-dir", str(tmp_path / "dags"), "--once"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert once.returncode == 0, once.stderr
    assert "(1 file downloaded, 0 reused)" in once.stderr and "1 files" not in once.stderr

    closed = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    failed = subprocess.run([*agent, "--dags-dir", str(tmp_path / "other"), "--once"], env=closed,
                            capture_output=True, text=True, timeout=60, check=False)
    assert failed.returncode == 3
    assert failed.stderr.count("cannot reach the S3 endpoint") == 1, failed.stderr

    loop = subprocess.Popen([*agent, "--dags-dir", str(tmp_path / "loop"), "--interval", "0.3", "--max-backoff",
                             "0.5"], env=closed, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    loop.send_signal(signal.SIGTERM)
    _, err = loop.communicate(timeout=60)
    failures = [line for line in err.splitlines() if "cannot reach the S3 endpoint" in line]
    assert failures and all("sync cycle failed" in line and "outcome=error" in line for line in failures), err
    assert "cycle error" not in err and "could not check" not in err


def test_validate_of_a_package_the_package_list_lacks_warns_with_the_next_steps(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[4]
    listed = publisher("validate", "--package", "reporting_seeder", "--source",
                       str(root / "packages" / "reporting_seeder" / "airflow_dags"), "--no-dynamic", "--no-ruff")
    assert listed.returncode == 0 and "package-not-listed" not in listed.stdout, listed.stdout
    unlisted = tmp_path / "repo" / "packages" / "orders_report" / "airflow_dags"
    unlisted.mkdir(parents=True)
    (tmp_path / "repo" / "infra" / "airflow").mkdir(parents=True)
    (tmp_path / "repo" / "infra" / "airflow" / "packages.yaml").write_text(
        (root / "infra" / "airflow" / "packages.yaml").read_text())
    write_dag(unlisted, "orders_report", "daily")
    done = publisher("validate", "--package", "orders_report", "--source", str(unlisted), "--no-dynamic", "--no-ruff")
    assert done.returncode == 0, done.stdout  # a warning: the files themselves pass
    line = next(line for line in done.stdout.splitlines() if "package-not-listed" in line)
    assert "package 'orders_report' is not in" in line and "infra/airflow/packages.yaml" in line
    assert "`make cluster-policy k8s-packages bundles`" in line
