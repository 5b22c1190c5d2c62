"""`make demo`, end to end: the check run, a second run that starts cleanly after it, the README's
second-terminal publish showing up in Airflow, and a headless Chromium that logs in to the UI and
finds both example DAGs (screenshot: test-artifacts/demo-dags.png).

Each demo run starts SeaweedFS, Airflow's four components and the sync agent under `.local/demo/`,
so the two tests hold a file lock (one demo at a time, also across xdist workers)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.seaweedfs import port_free
from tests.demo import demo_support
from tests.demo.demo_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    EXAMPLE_DAGS,
    LOCAL_DEMO,
    ROOT,
    START_TIMEOUT,
    STOP_TIMEOUT,
    RunningDemo,
    demo_env,
    demo_processes,
    ports,
    running_demo,
    wait_gone,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
# `make screenshot` sets this: the browser test's screenshot is also copied there (committed, shown in the README).
SCREENSHOT_TO = os.environ.get("DEMO_SCREENSHOT_TO", "")


@pytest.fixture
def demo_lock() -> Iterator[None]:
    with demo_support.demo_lock():
        yield


def test_make_demo_check_shows_both_example_dags_and_the_latency(demo_lock: None) -> None:
    started = time.monotonic()
    proc = subprocess.run(["make", "demo", "DEMO_CHECK=1"], cwd=ROOT, env=demo_env(), capture_output=True, text=True,
                          timeout=START_TIMEOUT + STOP_TIMEOUT, start_new_session=True)
    output = proc.stdout + proc.stderr
    (ARTIFACTS / "demo-check.log").parent.mkdir(exist_ok=True)
    (ARTIFACTS / "demo-check.log").write_text(output)
    assert proc.returncode == 0, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    check = re.search(r"^CHECK OK: .*$", output, re.M)
    assert check, output[-4000:]
    for dag_id in EXAMPLE_DAGS:
        assert dag_id in check.group(0)
    latency = re.search(r"publish-to-visible latency ([\d.]+) s", check.group(0))
    assert latency and float(latency.group(1)) < 60, check.group(0)
    print(f"\nmake demo DEMO_CHECK=1: {time.monotonic() - started:.0f} s; {check.group(0)}")

    # Everything it started is gone, its ports are free again.
    assert not wait_gone(), demo_processes()
    assert not (LOCAL_DEMO / "pids.json").exists()
    busy = [p for p in ports(output) if not port_free(p)]
    assert not busy, f"ports still in use after the demo: {busy}"


def test_demo_runs_until_ctrl_c_with_ui_login_and_live_publish(demo_lock: None) -> None:
    """One demo run (they are expensive), four checks: it starts cleanly after the check run or any
    earlier demo; a browser logs in and sees both DAGs; the README's second-terminal publish shows
    up within seconds; Ctrl-C stops everything (in `running_demo`)."""
    with running_demo() as demo:
        output = demo.output()
        assert "previous demo left running" not in output, output
        print(f"\nmake demo: up after {demo.startup_seconds:.0f} s (as seen by the test)")
        browser_lists_both_example_dags(demo)
        readme_second_terminal_publish_shows_up(demo)


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


def _readme_block_of(heading: str, language: str = "bash") -> str:
    """The first ```<language> block after `heading` in the README."""
    text = (ROOT / "README.md").read_text()
    match = re.search(re.escape(heading) + r".*?```" + language + r"\n(.*?)```", text, re.S)
    assert match, f"README: no {language} block after {heading!r}"
    return match.group(1)


def readme_second_terminal_publish_shows_up(running_demo: RunningDemo) -> None:
    script = _readme_block_of("### Publish a change from a second terminal")
    started = time.monotonic()
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=demo_env(), capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    published = time.monotonic()
    new_dag = re.search(r"--name (\w+)", script)
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


def test_readme_shows_the_pod_spec_the_demo_prints() -> None:
    """`python -m devstack.demo --pod-spec` renders KubernetesPodOperator's own pod request; the
    README's copy must be that output (apart from the pod name's random suffix)."""
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "devstack.demo", "--pod-spec"], cwd=ROOT,
                          env=demo_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    readme = _readme_block_of("### Tasks need a Kubernetes cluster", "yaml")

    def normalise(text: str) -> str:
        return re.sub(r"(name: pipeline-processing-example-job)-[a-z0-9]+", r"\1-XXXX", text)

    assert normalise(proc.stdout) == normalise(readme)
    assert "namespace: etl-jobs" in proc.stdout
    assert "image: registry.example.com/data/pipeline-processing:1.4.0" in proc.stdout
