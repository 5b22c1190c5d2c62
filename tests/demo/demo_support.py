"""Running `make demo` from the tests: one demo at a time (a file lock, also across xdist workers),
started in its own process group, stopped with SIGINT as Ctrl-C would, and checked to leave nothing
behind. Shared by test_demo.py and test_release_live.py."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.seaweedfs import port_free

ROOT = Path(__file__).resolve().parents[2]
LOCAL_DEMO = ROOT / ".local" / "demo"
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLE_DAGS = ("pipeline_processing_example_job", "reporting_seeder_refresh_all")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT = 420     # a whole demo start on a busy 2-core machine (typically 90-140 s)
STOP_TIMEOUT = 90       # teardown is bounded at ~30 s by the demo itself


@contextlib.contextmanager
def demo_lock() -> Iterator[None]:
    path = ROOT / ".local" / "demo-tests.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)   # waits while another worker runs a demo
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DAGSYNC_", "PYTEST_"))}
    env.pop("MAKEFLAGS", None)
    env.pop("MFLAGS", None)
    return env


def demo_processes() -> list[str]:
    """Command lines of live processes that belong to a demo (its data folder is in their arguments,
    or they are Airflow components run from the demo's AIRFLOW_HOME)."""
    found = []
    marker = str(LOCAL_DEMO)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        # this checkout's demo only: other checkouts on the machine run their own, on other ports
        if marker in cmdline or cwd.startswith(marker) or ("devstack.demo" in cmdline and cwd == str(ROOT)):
            found.append(f"{proc.name}: {cmdline.strip()}")
    return found


def ports(output: str) -> list[int]:
    return [int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)", output)]


def wait_gone(timeout: float = 30) -> list[str]:
    started = time.monotonic()
    seen: list[str] = []
    while (left := demo_processes()) and time.monotonic() < started + timeout:
        seen = left
        time.sleep(0.5)
    if seen:
        print(f"\nwaited {time.monotonic() - started:.1f} s for demo processes to end: {seen}")
    return left


@dataclass
class RunningDemo:
    proc: subprocess.Popen[str]
    output_path: Path
    url: str
    user: str
    password: str
    startup_seconds: float

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def token(self) -> str:
        body = json.dumps({"username": self.user, "password": self.password}).encode()
        request = urllib.request.Request(f"{self.url}/auth/token", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return str(json.load(answer)["access_token"])

    def dag_ids(self) -> set[str]:
        request = urllib.request.Request(f"{self.url}/api/v2/dags?limit=1000",
                                         headers={"Authorization": f"Bearer {self.token()}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return {d["dag_id"] for d in json.load(answer)["dags"]}


@contextlib.contextmanager
def running_demo() -> Iterator[RunningDemo]:
    """`make demo` (no check) in its own process group, stopped with SIGINT as Ctrl-C in its
    terminal would; then nothing it started may be left, and its ports must be free."""
    assert not demo_processes(), f"a demo is already running: {demo_processes()}"
    ARTIFACTS.mkdir(exist_ok=True)
    output_path = ARTIFACTS / "demo-run.log"
    started = time.monotonic()
    with open(output_path, "w") as out:
        proc = subprocess.Popen(["make", "demo"], cwd=ROOT, env=demo_env(), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "Press Ctrl-C to stop." not in output_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the demo did not come up (exit {proc.poll()}):\n{output_path.read_text()[-4000:]}")
            time.sleep(1)
        text = output_path.read_text()
        url = re.search(r"Airflow UI\s+(http://127\.0\.0\.1:\d+)", text)
        login = re.search(r"login\s+(\S+) / (\S+)", text)
        assert url and login, text
        yield RunningDemo(proc, output_path, url.group(1), login.group(1), login.group(2),
                          time.monotonic() - started)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                pytest.fail("the demo did not stop within 90 s of Ctrl-C")
    output = output_path.read_text()
    assert "Traceback" not in output, output[-4000:]
    assert re.search(r"\] stopped$", output, re.M), output[-2000:]
    assert not wait_gone(), demo_processes()
    busy = [p for p in ports(output) if not port_free(p)]
    assert not busy, f"ports still in use after Ctrl-C: {busy}"




def demo_exports(path: Path = LOCAL_DEMO / "env.sh") -> dict[str, str]:
    """The variables the running demo's env.sh exports (S3 endpoint, credentials, bucket, environment)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export ") and "=" in line and not line.startswith("export PATH="):
            key, _, value = line[len("export "):].partition("=")
            out[key] = shlex.split(value)[0] if value else ""
    return out
