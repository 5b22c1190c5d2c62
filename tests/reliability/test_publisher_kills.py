"""Publishers killed with SIGKILL at random points while the sync agent mirrors the bucket: the
DAGs folder only ever shows complete releases, the current manifest always verifies, every
package's history stays one chain, and the next normal publish succeeds."""

from __future__ import annotations

import contextlib
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from airflow_dag_publisher.storage import Storage

from tests.reliability import figures
from tests.reliability.support import (
    Agent,
    FolderSampler,
    chain_problems,
    current_release,
    publish_cmd,
    release_files,
    release_problem,
    release_token,
    run_publish,
    token,
    verified_files,
    wait_for,
    write_source,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("s3_env")]

PACKAGES = ("alpha", "beta")
SHORT_KILLS = 6
REPO = Path(__file__).resolve().parents[2]


def kill_at_step(cmd: list[str], step: int, timeout: float = 60) -> tuple[int, str]:
    """Run the instrumented publisher and SIGKILL it as it announces its `step`-th S3 write
    (announced before and after each write). Returns (exit code, the step it was killed at)."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.instrumented_publish", *cmd[1:]],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            env=dict(os.environ), cwd=REPO, start_new_session=True)
    assert proc.stdout is not None
    seen, last, buffer = 0, "finished", b""
    end = time.monotonic() + timeout
    while seen < step and time.monotonic() < end:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if not ready:
            continue
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer and seen < step:
            line, buffer = buffer.split(b"\n", 1)
            seen += 1
            last = _step_name(line.decode())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    code = proc.wait(timeout=30)
    proc.stdout.close()
    return code, (last if code == -signal.SIGKILL else "finished")


def _step_name(line: str) -> str:
    when, _, key = line.partition(" ")
    if when not in ("before-put", "after-put", "before-delete", "after-delete"):
        return "after its output"
    what = ("upload" if "/dags/" in key else "commit" if key.endswith("manifest.json")
            else "journal" if key.startswith("_journal/") else "write")
    if when == "before-delete":
        return "during cleanup"
    return f"{'during' if when.startswith('before') else 'after'} {what}"


def test_killed_publishers_never_expose_a_partial_release(tmp_path: Path, shared_bucket: str, env: str) -> None:
    rng = random.Random(int(os.environ.get("RELIABILITY_SEED", "0")) or None)
    kills = SHORT_KILLS * figures.scale()
    storage = Storage(shared_bucket)
    serial = 0

    def next_source(package: str) -> tuple[Path, str]:
        nonlocal serial
        serial += 1
        mask = rng.randrange(1 << 4)
        return write_source(tmp_path / "src" / f"{package}-{serial}", release_files(package, serial, mask)), \
            token(serial, mask)

    def publish_normally(package: str) -> float:
        source, tok = next_source(package)
        started = time.monotonic()
        run = run_publish(shared_bucket, env, package, source)
        assert run.returncode == 0, f"a normal publish after the kills failed: {run.stderr}"
        assert "Traceback" not in run.stderr
        assert release_token(verified_files(storage, current_release(storage, env, package))) == tok  # type: ignore[arg-type]
        return time.monotonic() - started

    t0 = time.monotonic()
    durations = [publish_normally(p) for p in PACKAGES]
    print("bootstrap publishes", durations)
    window = max(durations) * 1.3
    dags = tmp_path / "airflow" / "dags"
    before_commit = after_commit = finished = normal = checks = 0
    steps: Counter[str] = Counter()
    with Agent(shared_bucket, env, dags, tmp_path / "agent.log", interval=0.2,
               extra=("--reconcile-interval", "2")) as agent:
        assert wait_for(lambda: all((dags / p).is_symlink() for p in PACKAGES), timeout=30), agent.log_text()
        with FolderSampler(dags, PACKAGES, period=0.005) as sampler:
            deadline = time.monotonic() + 600 * figures.scale()
            for _ in range(kills):
                if time.monotonic() > deadline:
                    break
                package = rng.choice(PACKAGES)
                held = current_release(storage, env, package)
                source, _tok = next_source(package)
                cmd = publish_cmd(shared_bucket, env, package, source)
                if rng.random() < 0.5:  # at a random time: anywhere from start-up to the end
                    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            stdin=subprocess.DEVNULL, env=dict(os.environ), start_new_session=True)
                    time.sleep(rng.uniform(0.05, window))
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    code, where = proc.wait(timeout=30), "at a random time"
                else:  # at a random S3 write: 2 announcements per write, up to 6 files + manifest + journal
                    code, where = kill_at_step(cmd, rng.randint(1, 2 * (len(list(source.rglob("*.*"))) + 4)))
                now = current_release(storage, env, package)
                assert now is not None
                problem = release_problem(package, verified_files(storage, now))
                assert problem is None, f"the current manifest of {package} does not verify: {problem}"
                checks += 1
                if code != -signal.SIGKILL:
                    finished += 1
                else:
                    steps[where] += 1
                    if held is not None and now.release_id == held.release_id:
                        before_commit += 1
                    else:
                        after_commit += 1
                publish_normally(package)
                normal += 1
                print(f"kill {normal}: {where} ({code}) at {time.monotonic() - t0:.1f}s")
            finals = {p: release_token(verified_files(storage, current_release(storage, env, p)))  # type: ignore[arg-type]
                      for p in PACKAGES}

            def converged() -> bool:
                return all(sampler.seen[p].get(finals[p], 0) > 0 and _links_to(dags, p, finals[p]) for p in PACKAGES)

            assert wait_for(converged, timeout=30), f"the agent did not reach {finals}: {agent.log_text()[-3000:]}"
        assert agent.alive(), agent.log_text()[-3000:]
    chains = {p: chain_problems(storage, env, p) for p in PACKAGES}
    releases = sum(n for n, _ in chains.values())
    killed = before_commit + after_commit
    figures.record("publisher kills",
                   f"{killed} publishers killed ({before_commit} before the commit, {after_commit} after it; "
                   + ", ".join(f"{n} {k}" for k, n in sorted(steps.items()))
                   + f"; {finished} finished first), {normal} normal publishes after them, "
                   f"{checks} manifests verified, "
                   f"{sampler.samples:,} folder samples, {len(sampler.torn)} torn, {len(sampler.strays)} strays, "
                   f"{releases} releases in {len(PACKAGES)} chains, "
                   f"{sum(len(p) for _, p in chains.values())} chain breaks")
    assert sampler.torn == [], sampler.torn[:5]
    assert sampler.strays == set()
    assert {p: probs for p, (_, probs) in chains.items() if probs} == {}
    assert sampler.samples > 0 and killed > 0


def _links_to(dags: Path, package: str, tok: str) -> bool:
    helper = dags / package / "helper.py"
    try:
        return f'"{tok}"'.encode() in helper.read_bytes()
    except OSError:
        return False
