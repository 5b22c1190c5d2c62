"""`airflow-dag-sync` as a process: flags and DAGSYNC_* variables, --once exit codes, metrics
endpoints, graceful SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from airflow_dag_publisher.storage import Storage
from airflow_dag_publisher.sync.main import main

from devstack.seaweedfs import SeaweedFS, free_port
from packages.orchestration.tests.sync.support import DirectPublisher, folder_view

pytestmark = pytest.mark.slow
SYNC = str(Path(sys.executable).parent / "airflow-dag-sync")


@pytest.fixture(scope="module")
def shared_bucket(seaweedfs: SeaweedFS) -> str:
    return seaweedfs.create_bucket(f"cli-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def env() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def publisher(shared_bucket: str, s3_env: dict[str, str], env: str) -> DirectPublisher:
    return DirectPublisher(Storage(shared_bucket), env)


def run_once(env_vars: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SYNC, "--once", *args], env={**os.environ, **env_vars}, capture_output=True, text=True,
                          timeout=60, check=False)


def test_once_syncs_from_environment_variables_and_exits_zero(publisher: DirectPublisher, shared_bucket: str,
                                                              env: str, tmp_path: Path) -> None:
    publisher.publish("alpha", {"a.py": b"a = 1\n"})
    dags = tmp_path / "dags"
    done = run_once({"DAGSYNC_BUCKET": shared_bucket, "DAGSYNC_ENV": env, "DAGSYNC_DAGS_DIR": str(dags),
                     "DAGSYNC_LOG_FORMAT": "json"})
    assert done.returncode == 0, done.stderr
    assert folder_view(dags) == {"alpha": {"a.py": b"a = 1\n"}}
    assert '"package": "alpha"' in done.stderr and '"level": "info"' in done.stderr


def test_once_exits_three_when_s3_is_unreachable(tmp_path: Path, env: str) -> None:
    done = run_once({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}, "--bucket", "dags", "--env", env,
                    "--dags-dir", str(tmp_path / "dags"), "--s3-timeout", "1")
    assert done.returncode == 3 and "airflow-dag-sync: error: " in done.stderr and "s3://dags/_journal/" in done.stderr
    assert "Traceback" not in done.stderr


# A bug planted in the agent's process (sitecustomize runs before the console script's own code).
PLANTED_BUG = """
from airflow_dag_publisher.sync import planner

def read_journal(*args, **kwargs):
    raise RuntimeError("planted bug in the planner")

planner.read_journal = read_journal
"""


def test_once_exits_four_on_a_bug_naming_the_crash_log(publisher: DirectPublisher, shared_bucket: str, env: str,
                                                       tmp_path: Path) -> None:
    publisher.publish("alpha", {"a.py": b"a = 1\n"})
    hook, crash_dir = tmp_path / "hook", tmp_path / "tmp"
    hook.mkdir()
    crash_dir.mkdir()
    (hook / "sitecustomize.py").write_text(PLANTED_BUG)
    done = run_once({"PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])),
                     "TMPDIR": str(crash_dir)}, "--bucket", shared_bucket, "--env", env,
                    "--dags-dir", str(tmp_path / "dags"))
    assert done.returncode == 4, done.stderr  # a bug: never worth retrying (3 would make an init container retry)
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "internal error: RuntimeError: planted bug in the planner" in last and "this is a bug" in last
    crash = Path(last.rsplit("the traceback is in ", 1)[1].rstrip(")"))
    assert crash.parent == crash_dir
    assert "raise RuntimeError(\"planted bug in the planner\")" in crash.read_text()
    assert not (tmp_path / "dags" / "alpha").exists()


@pytest.mark.parametrize(("args", "environ", "message"), [
    (["--env", "dev", "--dags-dir", "d"], {}, "--bucket"),
    (["--bucket", "dags", "--env", "Dev!", "--dags-dir", "d"], {}, "--env"),
    (["--bucket", "dags", "--env", "dev", "--dags-dir", "d", "--reconcile-interval", "61"], {}, "<= 60"),
    (["--bucket", "dags", "--env", "dev", "--dags-dir", "d"], {"DAGSYNC_INTERVAL": "soon"}, "DAGSYNC_INTERVAL"),
    (["--bucket", "dags", "--env", "dev", "--dags-dir", "d", "--state-dir", "d/state"], {}, "inside --dags-dir"),
    (["--bucket", "dags", "--env", "dev", "--dags-dir", "d", "--dag-id", "x" * 251], {}, "--dag-id (DAGSYNC_DAG_ID)"),
])
def test_bad_options_exit_two_naming_the_option(args: list[str], environ: dict[str, str], message: str,
                                                tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--once", *args], environ=environ) == 2
    assert message in capsys.readouterr().err


def test_dag_id_needs_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--bucket", "dags", "--env", "dev", "--dags-dir", "d"], environ={"DAGSYNC_DAG_ID": "a_b"}) == 2
    assert "--dag-id (DAGSYNC_DAG_ID) needs --once" in capsys.readouterr().err


def test_once_dag_id_syncs_only_the_package_that_owns_it(publisher: DirectPublisher, shared_bucket: str, env: str,
                                                         tmp_path: Path) -> None:
    for package in ("team_a", "team_a_jobs", "team_b"):
        publisher.publish(package, {f"{package}_dag.py": f"# {package}\n".encode(), "lib.py": b"X = 1\n"},
                          archive=True)
    dags = tmp_path / "dags"
    vars_ = {"DAGSYNC_BUCKET": shared_bucket, "DAGSYNC_ENV": env, "DAGSYNC_DAGS_DIR": str(dags)}
    # team_a_jobs's manifest lists team_a_jobs_dag, not team_a_jobs_nightly_dag: the owner is team_a
    publisher.publish("team_a", {"team_a_dag.py": b"# team_a\n", "lib.py": b"X = 1\n"}, archive=True,
                      mutate=lambda m: m.with_changes(dag_ids=("team_a_jobs_nightly_dag",)))
    done = run_once({**vars_, "DAGSYNC_DAG_ID": "team_a_jobs_nightly_dag"})
    assert done.returncode == 0, done.stderr
    assert set(folder_view(dags)) == {"team_a"}
    assert "synced package team_a, which owns dag_id team_a_jobs_nightly_dag (4 requests)" in done.stderr
    done = run_once(vars_, "--dag-id", "team_c_unknown")
    assert done.returncode == 0, done.stderr
    assert "no package's manifest lists dag_id team_c_unknown" in done.stderr and "syncing every package" in done.stderr
    assert set(folder_view(dags)) == {"team_a", "team_a_jobs", "team_b"}


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_loop_serves_metrics_and_stops_on_sigterm(publisher: DirectPublisher, shared_bucket: str, env: str,
                                                   tmp_path: Path) -> None:
    port = free_port()
    dags = tmp_path / "dags"
    proc = subprocess.Popen([SYNC, "--bucket", shared_bucket, "--env", env, "--dags-dir", str(dags),
                             "--interval", "0.2", "--metrics-port", str(port), "--metrics-address", "127.0.0.1"],
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        status = 0
        while time.monotonic() < deadline and status != 200:
            time.sleep(0.2)
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                status = 0
        assert status == 200
        publisher.publish("alpha", {"a.py": b"1"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "alpha" not in folder_view(dags):
            time.sleep(0.1)
        assert folder_view(dags) == {"alpha": {"a.py": b"1"}}
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        _, text = _get(f"http://127.0.0.1:{port}/metrics")
        for line in ('dagsync_cycles_total{outcome="success"} 1', 'dagsync_packages 1',
                     'dagsync_package_release_info{package="alpha"', "dagsync_cycles_total{outcome=\"noop\"}",
                     "dagsync_last_success_timestamp_seconds", "dagsync_bytes_downloaded_total 1"):
            assert line in text, line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()


def test_require_signatures_without_a_trust_file_is_a_usage_error(shared_bucket: str, env: str,
                                                                  tmp_path: Path) -> None:
    done = run_once({"DAGSYNC_REQUIRE_SIGNATURES": "true"}, "--bucket", shared_bucket, "--env", env, "--dags-dir",
                    str(tmp_path / "dags"))
    assert done.returncode == 2, done.stderr
    assert "--require-signatures (DAGSYNC_REQUIRE_SIGNATURES) needs --trust-file (DAGSYNC_TRUST_FILE)" in done.stderr
    assert not (tmp_path / "dags").exists()


def test_once_that_applies_no_package_of_an_environment_that_has_some_exits_one(
        publisher: DirectPublisher, shared_bucket: str, env: str, tmp_path: Path) -> None:
    """Every package refused (here: unsigned releases where a trust file requires signatures) leaves the
    folder empty: an init container must not pass. One package applied and another refused is exit 0,
    the refusal logged and counted."""
    publisher.publish("alpha", {"a.py": b"a = 1\n"})
    publisher.publish("beta", {"b.py": b"b = 1\n"})
    trust = tmp_path / "trust.yaml"
    trust.write_text("{}\n")
    dags = tmp_path / "dags"
    base = ("--bucket", shared_bucket, "--env", env, "--dags-dir", str(dags), "--trust-file", str(trust))
    none = run_once({}, *base, "--require-signatures")
    assert none.returncode == 1, none.stderr
    last = none.stderr.strip().splitlines()[-1]
    assert last.startswith("airflow-dag-sync: error: no package of the environment was applied (2 not synced): ")
    assert "alpha: " in last and "beta: " in last and "signature" in last
    assert not any(p.name in ("alpha", "beta") for p in dags.iterdir())

    # an environment with no package at all, or one applied and one refused: exit 0
    (tmp_path / "empty").mkdir()
    empty = run_once({}, "--bucket", shared_bucket, "--env", "dev", "--dags-dir", str(tmp_path / "empty"))
    assert empty.returncode == 0, empty.stderr
    publisher.publish("beta", {"b.py": b"b = 2\n"},  # bytes that are not the ones the release pins: refused
                      mutate=lambda m: m.with_changes(files=tuple(replace(f, sha256="0" * 64) for f in m.files)))
    some = run_once({}, "--bucket", shared_bucket, "--env", env, "--dags-dir", str(tmp_path / "some"))
    assert some.returncode == 0, some.stderr
    assert "package beta was not synced" in some.stderr
    assert folder_view(tmp_path / "some") == {"alpha": {"a.py": b"a = 1\n"}}
