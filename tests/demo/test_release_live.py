"""`publish --wait` against the demo's real Airflow 3.3 (api-server, scheduler, dag-processor,
triggerer, SimpleAuthManager login) and its sync agent: one `make demo` for the whole module.

- a good release returns 0 once Airflow parsed its DAG from the new files, and a dag_id the release
  removed is gone from Airflow by then;
- a release whose DAG imports a module the Airflow environment lacks (published with the static
  check only, as the CI template does after its own validation) exits 1 within the timeout with
  Airflow's own import error;
- with --rollback-on-failure the package is back on its previous release, confirmed in Airflow;
- a release no Airflow ever parses times out with exit 3 and its own message;
- the CI template's --wait path, run by gitlab-ci-local against the same stack.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.dagfiles import kpo_dag, write_kpo_dag
from tests.demo.test_demo import LOCAL_DEMO, ROOT, RunningDemo, _env, running_demo

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PUBLISHER = str(ROOT / ".venv" / "bin" / "airflow-dag-publisher")
WAIT = 240  # seconds: the agent's 5 s cycle plus a dag-processor pass on a busy 2-core machine
GCL = ROOT / "devstack" / "npm" / "node_modules" / ".bin" / "gitlab-ci-local"


@contextlib.contextmanager
def one_demo_at_a_time() -> Iterator[None]:
    """The lock test_demo.py's tests hold (one demo per checkout, also across xdist workers)."""
    path = ROOT / ".local" / "demo-tests.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# The packages this module publishes: Airflow has one bundle per listed package (onboarding a package
# is its entry in the package list), so the demo runs with a list that has them too.
PACKAGES = ("live_back", "live_broken", "live_good", "live_late", "live_promo", "orders_report")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    listed = yaml.safe_load((ROOT / "infra" / "airflow" / "packages.yaml").read_text())
    listed["packages"] += [{"name": name} for name in PACKAGES]
    packages_file = tmp_path_factory.mktemp("packages") / "packages.yaml"
    packages_file.write_text(yaml.safe_dump(listed))
    env = {**_env(tmp_path_factory.mktemp("aws-user")), "DEMO_PACKAGES_FILE": str(packages_file)}
    with one_demo_at_a_time(), running_demo(env) as running:
        # qa: an environment no agent of the demo serves (the demo declares only dev), made as a user would.
        made = subprocess.run([PUBLISHER, "env", "create", "--env", "qa"], env=publisher_env(running),
                              capture_output=True, text=True, timeout=60, check=False)
        assert made.returncode == 0, made.stdout + made.stderr
        yield running


def demo_exports() -> dict[str, str]:
    """What the running demo's env.sh exports (S3 endpoint and credentials, bucket, environment, signing key), as
    `. .local/demo/env.sh` in a second terminal would set them."""
    script = f"set -a; . {shlex.quote(str(LOCAL_DEMO / 'env.sh'))}; env -0"
    out = subprocess.run(["bash", "-c", script], env={"PATH": "/usr/bin:/bin"}, capture_output=True, timeout=30,
                         check=True).stdout.decode()
    # the demo trusts its key for any package; AIRFLOW_API_*: --wait from a second terminal needs nothing more
    wanted = ("AWS_", "DAG_BUCKET", "ENVIRONMENT", "DAG_SIGNING_KEY", "AIRFLOW_API_")
    return {k: v for k, _, v in (e.partition("=") for e in out.split("\0") if e) if k.startswith(wanted)}


def publisher_env(demo: RunningDemo) -> dict[str, str]:
    """A second terminal's environment: its own, then `. .local/demo/env.sh` (nothing else exported)."""
    env = {k: v for k, v in demo.env.items() if not k.startswith(("AWS_", "AIRFLOW_API_"))}
    exports = demo_exports()
    assert (exports["AIRFLOW_API_URL"], exports["AIRFLOW_API_USERNAME"], exports["AIRFLOW_API_PASSWORD"]) == (
        demo.url, demo.user, demo.password)
    return {**env, **exports}


def publish(demo: RunningDemo, package: str, source: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PUBLISHER, "publish", "--package", package, "--source", str(source),
                           "--skip-dynamic-validation", *more], env=publisher_env(demo), capture_output=True,
                          text=True, timeout=WAIT + 120, check=False)


def api(demo: RunningDemo, path: str) -> Any:
    """GET from Airflow's API as the test's own client (not the publisher's); None for a 404."""
    request = urllib.request.Request(f"{demo.url}{path}", headers={"Authorization": f"Bearer {demo.token()}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def current(demo: RunningDemo, package: str) -> dict[str, Any]:
    out = subprocess.run([PUBLISHER, "show", "--package", package, "--json"], env=publisher_env(demo),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def broken(package: str) -> str:
    return kpo_dag(package, "daily", preamble=f"import {package}_vendor_sdk  # noqa: F401")


def test_wait_returns_once_airflow_parsed_the_new_files_and_a_removed_dag_id_is_gone(
        demo: RunningDemo, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_kpo_dag(src, "live_good", "daily", image="registry.example.com/live-good:1.0.0")
    write_kpo_dag(src, "live_good", "weekly", image="registry.example.com/live-good:1.0.0")
    first = publish(demo, "live_good", src, "--wait", str(WAIT), "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    assert json.loads(first.stdout)["live"]["outcome"] == "live"

    (src / "live_good_weekly.py").unlink()
    daily = write_kpo_dag(src, "live_good", "daily", image="registry.example.com/live-good:1.0.1")
    started = time.monotonic()
    second = publish(demo, "live_good", src, "--wait", str(WAIT))
    took = time.monotonic() - started
    assert second.returncode == 0, second.stdout + second.stderr
    assert "live in Airflow: release" in second.stdout and "parsed from its files (live_good_daily)" in second.stdout
    print(f"\npublish --wait of a changed DAG and a removed one: {took:.1f} s")

    # What the publisher claimed, checked with the test's own client: the parse Airflow holds is of the
    # new file's text, it happened after the release was made, and the removed dag_id is gone.
    release = current(demo, "live_good")
    assert release["dag_ids"] == ["live_good_daily"]
    source = api(demo, "/api/v2/dagSources/live_good_daily")
    assert source["content"] == daily.read_text()
    dag = api(demo, "/api/v2/dags/live_good_daily")
    assert dag["relative_fileloc"] == "live_good/live_good_daily.py" and not dag["is_stale"]
    assert dag["last_parsed_time"][:19] >= release["created_at"][:19]
    weekly = api(demo, "/api/v2/dags/live_good_weekly")
    assert weekly is None or weekly["is_stale"], weekly

    # `rollback --wait` brings the first release back, weekly included, and waits for it too.
    back = subprocess.run([PUBLISHER, "rollback", "--package", "live_good", "--yes", "--wait", str(WAIT), "--json"],
                          env=publisher_env(demo), capture_output=True, text=True, timeout=WAIT + 60, check=False)
    assert back.returncode == 0, back.stdout + back.stderr
    assert json.loads(back.stdout)["live"]["outcome"] == "live"
    weekly = api(demo, "/api/v2/dags/live_good_weekly")
    assert weekly is not None and not weekly["is_stale"]
    assert api(demo, "/api/v2/dagSources/live_good_daily")["content"] == kpo_dag(
        "live_good", "daily", image="registry.example.com/live-good:1.0.0")


def test_promote_wait_confirms_the_promoted_release_in_the_target_environments_airflow(
        demo: RunningDemo, tmp_path: Path) -> None:
    src = tmp_path / "src"
    dag = write_kpo_dag(src, "live_promo", "daily").read_text()
    # Published to qa, which no agent of the demo serves; then promoted into dev, which the demo's Airflow runs.
    assert publish(demo, "live_promo", src, "--env", "qa").returncode == 0
    run = subprocess.run([PUBLISHER, "promote", "--from-env", "qa", "--package", "live_promo", "--wait", str(WAIT),
                          "--json"], env=publisher_env(demo), capture_output=True, text=True, timeout=WAIT + 60,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads(run.stdout)
    assert doc["live"]["outcome"] == "live" and doc["promoted_from"]["env"] == "qa"
    assert api(demo, "/api/v2/dagSources/live_promo_daily")["content"] == dag


def test_wait_exits_1_with_airflows_import_error_for_a_module_the_airflow_image_lacks(
        demo: RunningDemo, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_kpo_dag(src, "live_broken", "daily")
    assert publish(demo, "live_broken", src, "--wait", str(WAIT)).returncode == 0
    (src / "live_broken_daily.py").write_text(broken("live_broken"))

    started = time.monotonic()
    run = publish(demo, "live_broken", src, "--wait", str(WAIT), "--json")
    took = time.monotonic() - started

    assert run.returncode == 1, run.stdout + run.stderr
    assert took < WAIT
    error = json.loads(run.stdout)["error"]
    assert error["kind"] == "import_error" and error["code"] == 1
    assert "Airflow could not import release" in error["message"]
    assert "ModuleNotFoundError: No module named 'live_broken_vendor_sdk'" in error["message"]
    (failure,) = error["details"]["live"]["import_errors"]
    assert failure["filename"] == "live_broken/live_broken_daily.py"
    assert "No module named 'live_broken_vendor_sdk'" in failure["stack_trace"]
    # No rollback asked for: the broken release stays current, and that is what the details name.
    assert current(demo, "live_broken")["release_id"] == error["details"]["release_id"]
    print(f"\npublish --wait of a release Airflow cannot import: exit 1 after {took:.1f} s")


def test_rollback_on_failure_puts_the_previous_release_back_and_its_dag_imports_again(
        demo: RunningDemo, tmp_path: Path) -> None:
    src = tmp_path / "src"
    good = write_kpo_dag(src, "live_back", "daily").read_text()
    assert publish(demo, "live_back", src, "--wait", str(WAIT)).returncode == 0
    before = current(demo, "live_back")
    (src / "live_back_daily.py").write_text(broken("live_back"))

    run = publish(demo, "live_back", src, "--wait", str(WAIT), "--rollback-on-failure")

    assert run.returncode == 1, run.stdout + run.stderr
    assert "ModuleNotFoundError: No module named 'live_back_vendor_sdk'" in run.stderr
    assert f"restores the files of release {before['release_id']}; live in Airflow after" in run.stderr, run.stderr
    after = current(demo, "live_back")
    assert after["release_id"] != before["release_id"]
    assert after["content_digest"] == before["content_digest"]
    assert api(demo, "/api/v2/dagSources/live_back_daily")["content"] == good
    dag = api(demo, "/api/v2/dags/live_back_daily")
    assert not dag["is_stale"] and not dag["has_import_errors"]
    errors = api(demo, "/api/v2/importErrors?limit=100")["import_errors"]
    assert not [e for e in errors if e["filename"].startswith("live_back/")], errors


def test_a_release_no_airflow_parses_times_out_with_exit_3_and_says_what_it_waited_for(
        demo: RunningDemo, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_kpo_dag(src, "live_late", "daily")
    # Environment qa: no sync agent serves it, so the demo's Airflow never sees the release.
    run = publish(demo, "live_late", src, "--env", "qa", "--wait", "6", "--json")
    assert run.returncode == 3, run.stdout + run.stderr
    error = json.loads(run.stdout)["error"]
    assert error["kind"] == "wait_timeout"
    assert error["message"].startswith("timed out after 6 s waiting for Airflow to parse release ")
    assert "live_late_daily: not known to Airflow yet" in error["message"]
    assert error["details"]["live"]["outcome"] == "timeout"


def test_the_ci_templates_wait_path_runs_under_gitlab_ci_local_against_the_demo(
        demo: RunningDemo, tmp_path: Path) -> None:
    from tests.gitlab.test_dag_publish_template import PACKAGE, make_package_repo, on_shell_runner, run_job

    if not GCL.exists():
        pytest.skip("gitlab-ci-local is not installed (make system-tools)")
    exports = demo_exports()
    pipeline = yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text())
    pipeline["variables"]["DAG_BUCKET"] = exports["DAG_BUCKET"]
    repo = make_package_repo(tmp_path, pipeline=on_shell_runner(pipeline))
    variables = {k: v for k, v in exports.items() if k.startswith("AWS_")}
    variables.update({"DAG_PUBLISHER_INSTALL": "skip", "AIRFLOW_API_URL": demo.url,
                      "AIRFLOW_API_USERNAME": demo.user, "AIRFLOW_API_PASSWORD": demo.password,
                      "DAG_SIGNING_KEY": exports["DAG_SIGNING_KEY"]})  # the demo's agent requires signatures
    assert exports["ENVIRONMENT"] == pipeline["publish_dags_dev"]["variables"]["ENVIRONMENT"]

    result = run_job(GCL, repo, "publish_dags_dev", variables)

    assert result.returncode == 0, result.output
    assert f"dag-publish: will wait for Airflow at {demo.url} (--wait 300 --rollback-on-failure)" in result.output
    assert "dag-publish: live in Airflow: release" in result.output, result.output
    published = json.loads(result.artifact("publish_dags_dev", "dag-publish.json").read_text())
    assert published["live"]["outcome"] == "live" and published["live"]["release_id"] == published["release_id"]
    assert "orders_report_daily" in {d["dag_id"] for d in api(demo, "/api/v2/dags?limit=100")["dags"]}
