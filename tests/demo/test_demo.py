"""`make demo`, end to end: the check run, a second run that starts cleanly after it, the README's
second-terminal publish showing up in Airflow, and a headless Chromium that logs in to the UI and
finds both example DAGs (screenshot: test-artifacts/demo-dags.png).

Each demo run starts SeaweedFS, Airflow's four components and the sync agent under `.local/demo/`,
so the two tests hold a file lock (one demo at a time, also across xdist workers). Every command
runs from an AWS user's shell (credentials, a profile the machine lacks, config files: see
tests/devstack/aws_user.py), as a new contributor's usually is: the demo must not depend on it."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.seaweedfs import port_free
from tests.devstack.aws_user import aws_user_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
# `make screenshot` sets these: the browser test's screenshots are also copied there (committed, shown in the
# README): the DAG list, and a DAG's versions with the release id each one was parsed from.
SCREENSHOT_TO = os.environ.get("DEMO_SCREENSHOT_TO", "")
VERSIONS_SCREENSHOT_TO = os.environ.get("DEMO_VERSIONS_SCREENSHOT_TO", "")

ROOT = Path(__file__).resolve().parents[2]
LOCAL_DEMO = ROOT / ".local" / "demo"
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLE_DAGS = ("pipeline_processing_example_job", "reporting_seeder_refresh_all")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT = 420     # a whole demo start on a busy 2-core machine (typically 90-140 s)
STOP_TIMEOUT = 90       # teardown is bounded at ~30 s by the demo itself


@pytest.fixture
def demo_lock() -> Iterator[None]:
    path = ROOT / ".local" / "demo-tests.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)   # waits while another worker runs a demo
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _env(home: Path) -> dict[str, str]:
    """The environment of a user's shell: this one's, without pytest's and make's variables, with
    an AWS user's settings (their files under `home`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DAGSYNC_", "PYTEST_"))}
    env.pop("MAKEFLAGS", None)
    env.pop("MFLAGS", None)
    return aws_user_env(home, env)


def _demo_processes() -> list[str]:
    """Command lines of live processes that belong to this checkout's demo (its data folder is in
    their arguments, they are Airflow components run from the demo's AIRFLOW_HOME, or it is the demo
    itself run from this checkout). Another checkout's demo on the same machine is not ours, nor
    is `devstack.demo --pod-spec` (a test beside these)."""
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
        the_demo = cwd == str(ROOT) and "devstack.demo" in cmdline and "--pod-spec" not in cmdline
        if marker in cmdline or cwd.startswith(marker) or the_demo:
            found.append(f"{proc.name}: {cmdline.strip()}")
    return found


def _ports(output: str) -> list[int]:
    return [int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)", output)]


def _wait_gone(timeout: float = 30) -> list[str]:
    started = time.monotonic()
    seen: list[str] = []
    while (left := _demo_processes()) and time.monotonic() < started + timeout:
        seen = left
        time.sleep(0.5)
    if seen:
        print(f"\nwaited {time.monotonic() - started:.1f} s for demo processes to end: {seen}")
    return left


def test_make_demo_check_shows_both_example_dags_and_the_latency(demo_lock: None, tmp_path: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run(["make", "demo", "DEMO_CHECK=1"], cwd=ROOT, env=_env(tmp_path), capture_output=True,
                          text=True, timeout=START_TIMEOUT + STOP_TIMEOUT, start_new_session=True)
    output = proc.stdout + proc.stderr
    (ARTIFACTS / "demo-check.log").parent.mkdir(exist_ok=True)
    (ARTIFACTS / "demo-check.log").write_text(output)
    assert proc.returncode == 0, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    ignoring = re.search(r"^demo: ignoring (.*) from your shell", output, re.M)   # said, and done
    assert ignoring and "AWS_PROFILE" in ignoring.group(1) and "AWS_ACCESS_KEY_ID" in ignoring.group(1), output[:2000]
    check = re.search(r"^CHECK OK: .*$", output, re.M)
    assert check, output[-4000:]
    for dag_id in EXAMPLE_DAGS:
        assert dag_id in check.group(0)
    latency = re.search(r"publish-to-visible latency (-?[\d.]+) s", check.group(0))
    assert latency and 0 <= float(latency.group(1)) < 60, check.group(0)
    assert "every release signed and verified" in check.group(0)  # the agent requires signatures
    assert output.count("; signed by sha256:") == len(EXAMPLE_DAGS), output[-4000:]  # one job per package
    print(f"\nmake demo DEMO_CHECK=1: {time.monotonic() - started:.0f} s; {check.group(0)}")

    # Everything it started is gone, its ports are free again.
    assert not _wait_gone(), _demo_processes()
    assert not (LOCAL_DEMO / "pids.json").exists()
    busy = [p for p in _ports(output) if not port_free(p)]
    assert not busy, f"ports still in use after the demo: {busy}"


def test_ctrl_c_on_make_demo_piped_into_tee_stops_every_service(demo_lock: None, tmp_path: Path) -> None:
    """`make demo | tee demo.log`, then Ctrl-C once every service has started: the terminal sends SIGINT to
    the whole pipeline, tee included, so the demo's next line meets a closed pipe. Its teardown must
    not depend on stdout: every process it recorded is gone, its ports free."""
    assert not _demo_processes(), f"a demo is already running: {_demo_processes()}"
    log = tmp_path / "demo.log"
    # bash without job control: make, the demo and tee share the group SIGINT goes to, as in a terminal
    proc = subprocess.Popen(["bash", "-c", f"make demo | tee {log}"], cwd=ROOT, env=_env(tmp_path),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "started airflow-dag-sync and Airflow's" not in (log.read_text() if log.exists() else ""):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text() if log.exists() else ""
            time.sleep(0.5)
        recorded = json.loads((LOCAL_DEMO / "pids.json").read_text())
        assert {"seaweedfs", "dag-sync", "api-server", "scheduler", "dag-processor", "triggerer"} <= {
            name.removeprefix("airflow-") for name in recorded}, recorded
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=STOP_TIMEOUT)
        left = _wait_gone(STOP_TIMEOUT)   # the demo outlives make and tee while it stops what it started
        assert not left, left
        alive = [f"{name} ({entry['pid']})" for name, entry in recorded.items() if _alive(entry["pid"])]
        assert not alive, alive
        assert not (LOCAL_DEMO / "pids.json").exists()
        busy = [p for p in _ports(log.read_text()) if not port_free(p)]
        assert not busy, f"ports still in use after Ctrl-C: {busy}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"


@dataclass
class RunningDemo:
    proc: subprocess.Popen[str]
    output_path: Path
    url: str
    user: str
    password: str
    startup_seconds: float
    env: dict[str, str]

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
def running_demo(env: dict[str, str]) -> Iterator[RunningDemo]:
    """`make demo` (no check) in its own process group, stopped with SIGINT as Ctrl-C in its
    terminal would; then nothing it started may be left, and its ports must be free."""
    assert not _demo_processes(), f"a demo is already running: {_demo_processes()}"
    ARTIFACTS.mkdir(exist_ok=True)
    output_path = ARTIFACTS / "demo-run.log"
    started = time.monotonic()
    with open(output_path, "w") as out:
        proc = subprocess.Popen(["make", "demo"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
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
                          time.monotonic() - started, env)
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
    assert not _wait_gone(), _demo_processes()
    busy = [p for p in _ports(output) if not port_free(p)]
    assert not busy, f"ports still in use after Ctrl-C: {busy}"


def test_demo_runs_until_ctrl_c_with_ui_login_and_live_publish(demo_lock: None, tmp_path: Path) -> None:
    """One demo run (they are expensive), four checks: it starts cleanly after the check run or any
    earlier demo; a browser logs in and sees both DAGs; the README's second-terminal publish shows
    up within seconds; Ctrl-C stops everything (in `running_demo`)."""
    with running_demo(_env(tmp_path)) as demo:
        output = demo.output()
        assert "previous demo left running" not in output, output
        print(f"\nmake demo: up after {demo.startup_seconds:.0f} s (as seen by the test)")
        browser_lists_both_example_dags(demo)
        readme_second_terminal_publish_shows_up(demo)
        dag_versions_are_releases(demo, tmp_path)


def browser_lists_both_example_dags(running_demo: RunningDemo) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian chromium is missing: run `make system-tools`"
    screenshot = ARTIFACTS / "demo-dags.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{running_demo.url}/dags", timeout=60_000)
            page.get_by_label("Username").fill(running_demo.user)
            page.get_by_label("Password").fill(running_demo.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/dags*", timeout=60_000)
            for dag_id in EXAMPLE_DAGS:
                page.get_by_text(dag_id, exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
    if SCREENSHOT_TO:
        target = ROOT / SCREENSHOT_TO
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, target)


def _api(demo: RunningDemo, method: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{demo.url}{path}", data=data, method=method, headers={
        "Authorization": f"Bearer {demo.token()}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as answer:
        return json.load(answer)  # type: ignore[no-any-return]


def _release_ids(demo: RunningDemo, dag_id: str) -> list[str]:
    """The bundle versions of a DAG's versions, oldest first, from Airflow's own API."""
    answer = _api(demo, "GET", f"/api/v2/dags/{dag_id}/dagVersions?order_by=version_number")
    return [str(v["bundle_version"]) for v in answer["dag_versions"]]  # type: ignore[union-attr]


def dag_versions_are_releases(running_demo: RunningDemo, tmp_path: Path) -> None:
    """Each DAG version Airflow records is one release: its bundle is the package, its bundle version the
    release id. A run of the first version (so Airflow keeps it), then a release that changes the DAG's
    image, published from a second terminal: the DAG has two versions, named by their release ids; the
    UI's Code tab lists them and shows the selected one's release id (screenshot)."""
    from playwright.sync_api import sync_playwright

    dag_id = EXAMPLE_DAGS[0]
    first = _release_ids(running_demo, dag_id)[-1]
    _api(running_demo, "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
    # pipeline_processing is spec-only: the new release is its jobs.yaml rendered with another image, as CI does
    source = tmp_path / "pipeline_processing"
    source.mkdir()
    shutil.copyfile(ROOT / "packages" / "pipeline_processing" / "jobs.yaml", source / "jobs.yaml")
    image = re.search(r"^image: (\S+)$", (source / "jobs.yaml").read_text(), re.M)
    assert image
    changed = image.group(1).rsplit(":", 1)[0] + ":9.9.9"
    script = (f". .local/demo/env.sh && airflow-dag-publisher generate --spec {source}/jobs.yaml --image {changed} >&2"
              f" && airflow-dag-publisher publish --package pipeline_processing --source {source}/airflow_dags "
              f"--spec {source}/jobs.yaml --image {changed} --skip-dynamic-validation --json")
    time.sleep(5)  # the run's task instances exist: Airflow keeps the version they ran
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=running_demo.env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    second = json.loads(proc.stdout)["release_id"]
    deadline = time.monotonic() + 120
    while (ids := _release_ids(running_demo, dag_id)) != [first, second]:
        assert time.monotonic() < deadline, f"{dag_id}: DAG versions {ids}, expected releases {[first, second]}"
        time.sleep(1)
    screenshot = ARTIFACTS / "demo-dag-versions.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 800})
            page.goto(f"{running_demo.url}/dags", timeout=60_000)
            page.get_by_label("Username").fill(running_demo.user)
            page.get_by_label("Password").fill(running_demo.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/dags*", timeout=60_000)
            page.goto(f"{running_demo.url}/dags/{dag_id}/code", timeout=60_000)
            page.get_by_text(second).first.wait_for(timeout=60_000)
            page.get_by_role("combobox").last.click()
            page.get_by_role("option").nth(1).wait_for(timeout=30_000)
            assert [o.inner_text().split()[0] for o in page.get_by_role("option").all()] == ["v2", "v1"]
            page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    if VERSIONS_SCREENSHOT_TO:
        target = ROOT / VERSIONS_SCREENSHOT_TO
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, target)


def _readme_block_of(heading: str, language: str = "bash") -> str:
    """The first ```<language> block after `heading` in the README."""
    text = (ROOT / "README.md").read_text()
    match = re.search(re.escape(heading) + r".*?```" + language + r"\n(.*?)```", text, re.S)
    assert match, f"README: no {language} block after {heading!r}"
    return match.group(1)


def readme_second_terminal_publish_shows_up(running_demo: RunningDemo) -> None:
    script = _readme_block_of("### Publish a change from a second terminal")
    started = time.monotonic()
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=running_demo.env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    published = time.monotonic()
    new_dag = re.search(r"- name: (\w+)", script)
    assert new_dag
    dag_id = f"reporting_seeder_{new_dag.group(1)}"
    deadline = published + 120
    while dag_id not in (ids := running_demo.dag_ids()):
        assert time.monotonic() < deadline, f"{dag_id} not visible 120 s after the publish; Airflow lists {ids}"
        time.sleep(1)
    now = time.monotonic()
    print(f"\nREADME second-terminal publish: the commands took {published - started:.1f} s; {dag_id} visible "
          f"{now - published:.1f} s after they returned")
    assert now - published < 60
    assert set(EXAMPLE_DAGS) <= ids


def test_readme_shows_the_pod_spec_the_demo_prints(tmp_path: Path) -> None:
    """`python -m devstack.demo --pod-spec` renders KubernetesPodOperator's own pod request; the
    README's copy must be that output (apart from the pod name's random suffix)."""
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "devstack.demo", "--pod-spec"], cwd=ROOT,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    readme = _readme_block_of("### Tasks need a Kubernetes cluster", "yaml")

    def normalise(text: str) -> str:
        return re.sub(r"(name: pipeline-processing-example-job)-[a-z0-9]+", r"\1-XXXX", text)

    assert normalise(proc.stdout) == normalise(readme)
    assert "namespace: etl-jobs" in proc.stdout
    assert "image: registry.example.com/data/pipeline-processing:1.4.0" in proc.stdout
