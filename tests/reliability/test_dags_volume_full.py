"""The DAGs volume full (a 2 MiB tmpfs): the agent keeps the old release, reports the failure,
keeps syncing packages that fit, and applies the big release once space returns."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_dag_publisher.storage import Storage

from tests.reliability import figures
from tests.reliability.support import Agent, BucketWriter, read_tree, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("s3_env")]


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs at tmp_path/vol (root only); skipped with the reason where it cannot be made."""
    vol = tmp_path / "vol"
    vol.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the DAGs-volume-full scenario)")
    made = _mount("-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(vol))
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield vol
    finally:
        if subprocess.run(["umount", str(vol)], capture_output=True, timeout=30, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(vol)], capture_output=True, timeout=30, check=False)


def test_full_dags_volume_keeps_the_old_release_and_recovers(small_volume: Path, tmp_path: Path,
                                                              shared_bucket: str, env: str) -> None:
    writer = BucketWriter(Storage(shared_bucket), env)
    small = {"alpha_daily.py": b"VALUE = 1\n", "helper.py": b"H = 1\n"}
    big = {"alpha_daily.py": b"VALUE = 2\n", "helper.py": b"H = 2\n", "data/big.sql": b"-- x\n" * 600_000}
    writer.release("alpha", small)
    writer.release("beta", {"beta_daily.py": b"B = 1\n"})
    dags = small_volume / "dags"
    with Agent(shared_bucket, env, dags, tmp_path / "agent.log", interval=0.3,
               extra=("--reconcile-interval", "2")) as agent:
        assert wait_for(lambda: _view(dags / "alpha") == small and (dags / "beta").is_symlink(), timeout=60), \
            agent.log_text()[-2000:]
        errors = agent.metric("dagsync_cycles_total", outcome="error")
        writer.release("alpha", big)  # 3 MB: does not fit in 2 MiB
        reported = wait_for(lambda: agent.metric("dagsync_cycles_total", outcome="error") > errors
                            or agent.metric("dagsync_refused_manifests_total", package="alpha") > 0
                            or not agent.alive(), timeout=30, period=0.1)
        kept = _view(dags / "alpha") == small
        writer.release("beta", {"beta_daily.py": b"B = 2\n"})
        beta2 = {"beta_daily.py": b"B = 2\n"}
        wait_for(lambda: _view(dags / "beta") == beta2 or not agent.alive(), timeout=30)
        neighbour = _view(dags / "beta") == beta2
        alive_while_full = agent.alive()
        grown = _mount("-o", "remount,size=16m", str(small_volume)).returncode == 0
        if grown:
            wait_for(lambda: _view(dags / "alpha") == big or not agent.alive(), timeout=60)
        recovered = _view(dags / "alpha") == big
        log = agent.log_text()
        alive = agent.alive()
    figures.record("DAGs volume full",
                   f"2 MiB tmpfs, a 3 MB release: failure reported: {reported}, old release kept: {kept}, "
                   f"agent up while full: {alive_while_full}, neighbour synced: {neighbour}, "
                   f"applied after growing to 16 MiB: {recovered}")
    assert reported and kept, log[-2000:]
    assert alive_while_full and alive, log[-2000:]
    assert neighbour and recovered, log[-2000:]


def _view(link: Path) -> dict[str, bytes] | None:
    try:
        return read_tree(Path(os.path.realpath(link)))
    except OSError:
        return None
