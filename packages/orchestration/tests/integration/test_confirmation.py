"""`rollback` and `retire` take DAGs out of Airflow: on a terminal they say what would change and ask;
without one they need --yes (exit 2 otherwise, nothing changed, no request sent); --dry-run says what
would change and changes nothing. Driven through the real processes (a pseudo-terminal for the question)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.seaweedfs import SeaweedFS

from .helpers import current_manifest, snapshot, write_dag

pytestmark = pytest.mark.usefixtures("s3_env")
BIN = Path(sys.executable).parent
PUBLISHER = str(BIN / "airflow-dag-publisher")


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PUBLISHER, *argv], capture_output=True, text=True, timeout=120, check=False,
                          stdin=subprocess.DEVNULL, env=env)


@pytest.fixture
def two_releases(tmp_path: Path, bucket: str) -> tuple[str, str, str]:
    """alpha with release r1 (alpha_daily), then r2 (alpha_daily changed, alpha_extra added)."""
    src = tmp_path / "src"
    write_dag(src, "alpha", "daily", n=1)
    first = run("publish", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--source", str(src),
                "--skip-dynamic-validation", "--json")
    write_dag(src, "alpha", "daily", n=2)
    write_dag(src, "alpha", "extra")
    second = run("publish", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--source", str(src),
                 "--skip-dynamic-validation", "--json")
    return bucket, json.loads(first.stdout)["release_id"], json.loads(second.stdout)["release_id"]


def test_without_a_terminal_rollback_and_retire_need_yes_and_change_nothing(
        two_releases: tuple[str, str, str], seaweedfs: SeaweedFS) -> None:
    bucket, _, _ = two_releases
    before = snapshot(seaweedfs.client(), bucket)
    for command in ("rollback", "retire"):
        done = run(command, "--env", "dev", "--bucket", bucket, "--package", "alpha")
        assert done.returncode == 2, done.stderr
        assert f"{command} changes what Airflow runs and there is no terminal to confirm it on: pass --yes" \
            in done.stderr and "nothing was changed" in done.stderr
        # refused before any request: an endpoint nobody answers on changes nothing of the verdict
        offline = run(command, "--env", "dev", "--bucket", bucket, "--package", "alpha",
                      env={**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
        assert offline.returncode == 2, offline.stderr
    assert snapshot(seaweedfs.client(), bucket) == before


def test_dry_run_says_which_release_becomes_current_and_which_dags_leave(
        two_releases: tuple[str, str, str], seaweedfs: SeaweedFS) -> None:
    bucket, r1, r2 = two_releases
    before = snapshot(seaweedfs.client(), bucket)
    target = ("--env", "dev", "--bucket", bucket, "--package", "alpha")
    text = run("rollback", *target, "--dry-run")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == [
        f"dry run: roll back package 'alpha' in environment 'dev': a new release with the files of release {r1} "
        f"replaces release {r2}",
        "  DAGs that leave Airflow: alpha_extra",
        "  DAGs that come back:     none",
        "  files: 0 added, 1 changed, 1 deleted, 0 unchanged",
        "nothing was changed"]
    doc = json.loads(run("rollback", *target, "--dry-run", "--json").stdout)
    assert doc["dry_run"] is True and (doc["current_release_id"], doc["restores"]) == (r2, r1)
    assert doc["dag_ids_removed"] == ["alpha_extra"] and doc["changed"] == ["alpha_daily.py"]
    assert doc["deleted"] == ["alpha_extra.py"]
    retire = json.loads(run("retire", *target, "--dry-run", "--json").stdout)
    assert retire["dag_ids_removed"] == ["alpha_daily", "alpha_extra"] and retire["restores"] is None
    assert snapshot(seaweedfs.client(), bucket) == before
    assert run("rollback", *target, "--dry-run", "--yes").returncode == 2


def ask_on_a_terminal(argv: list[str], answer: str, *, meanwhile: list[str] | None = None
                      ) -> tuple[int, str]:
    """Run the command with stdin and stderr on a pseudo-terminal; answer its question; return the exit
    code and what the terminal showed. `meanwhile`: a command run while the question waits."""
    main, child = os.openpty()
    proc = subprocess.Popen([PUBLISHER, *argv], stdin=child, stderr=child, stdout=subprocess.PIPE, text=True)
    os.close(child)
    shown = b""
    deadline = time.monotonic() + 60
    while b"[y/N]" not in shown and time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([main], [], [], 1)
        if ready:
            shown += os.read(main, 4096)
    assert b"[y/N]" in shown, shown.decode()
    if meanwhile:
        assert run(*meanwhile).returncode == 0
    os.write(main, answer.encode() + b"\n")
    out, _ = proc.communicate(timeout=60)
    while select.select([main], [], [], 0.2)[0]:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    return proc.returncode, shown.decode(errors="replace") + out


def test_on_a_terminal_rollback_asks_and_only_yes_changes_anything(
        tmp_path: Path, two_releases: tuple[str, str, str], seaweedfs: SeaweedFS) -> None:
    bucket, _, r2 = two_releases
    target = ["rollback", "--env", "dev", "--bucket", bucket, "--package", "alpha"]
    before = snapshot(seaweedfs.client(), bucket)
    code, shown = ask_on_a_terminal(target, "n")
    assert code == 1 and "DAGs that leave Airflow: alpha_extra" in shown and "not confirmed" in shown, shown
    assert snapshot(seaweedfs.client(), bucket) == before

    code, shown = ask_on_a_terminal(target, "y")
    assert code == 0, shown
    manifest = current_manifest(seaweedfs.client(), bucket, "dev", "alpha")
    assert manifest["previous_release_id"] == r2 and manifest["dag_ids"] == ["alpha_daily"]

    # a publish that lands while the question waits: the confirmed change no longer holds, nothing changes
    src = tmp_path / "again"
    write_dag(src, "alpha", "daily", n=7)
    code, shown = ask_on_a_terminal(target, "y", meanwhile=[
        "publish", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--source", str(src),
        "--skip-dynamic-validation"])
    assert code == 1 and "as when the change was confirmed" in shown, shown
    assert b"1.0.7" in seaweedfs.client().get_object(Bucket=bucket, Key="dev/alpha/dags/alpha_daily.py")["Body"].read()
