"""`make demo`: the whole system on one machine.

    python -m devstack.demo            start everything, wait for both example DAGs in Airflow,
                                       print the UI address and the login, stay up until Ctrl-C
    python -m devstack.demo --check    the same, then verify, print the result, stop, exit 0 or 1
    python -m devstack.demo --pod-spec [DAG_FILE]
                                       print the pod KubernetesPodOperator would create

Steps: SeaweedFS (S3) and the versioned bucket; Airflow 3 (api-server, scheduler, dag-processor,
triggerer) and the sync agent, configured from the Helm values and the agent's ConfigMap; then
both example packages published by the CI template's own publish job; then the wait until Airflow
lists their DAGs. Everything lives under `.local/demo/`; Ctrl-C stops what this run started.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from devstack.airflow_demo import ADMIN_USER, airflow_version
from devstack.demo_config import ConfigError, load_settings
from devstack.demo_stack import ROOT, DagWatcher, DemoError, DemoStack, Publishing
from devstack.local_env import isolate_process

READY_TIMEOUT = 300.0      # Airflow's four components on a busy 2-core machine
PUBLISH_TIMEOUT = 600.0    # both publish jobs (validation parses each DAG with Airflow)
VISIBLE_TIMEOUT = 180.0    # publish -> visible; production promises 60 s
LATENCY_LIMIT = 60.0       # what --check accepts


class Console:
    """The demo's output. Stopping what the demo started never depends on it: when the reader of stdout
    has gone (`make demo | tee demo.log`, and Ctrl-C stopped tee with everything else), a write that
    fails points stdout at /dev/null and the demo carries on, its teardown included."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        self.line(f"[{time.monotonic() - self.started:6.1f}s] {text}")

    def line(self, text: str = "") -> None:
        try:
            print(text, flush=True)
        except OSError:  # BrokenPipeError (EPIPE), or a terminal that went away (EIO)
            lose_stdout()


def lose_stdout() -> None:
    """From now on stdout writes go nowhere (and the interpreter's last flush at exit cannot fail)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run(check: bool) -> int:
    out = Console()
    # The demo runs its own S3: the caller's AWS settings reach none of its parts (devstack.local_env).
    ignored = isolate_process()
    try:
        settings = load_settings()
    except ConfigError as exc:
        out.line(f"demo: FAILED: {exc}")
        return 1
    stack = DemoStack(settings, say=out.step)
    out.line(f"demo: Airflow {airflow_version()}, configured from {', '.join(settings.sources) or 'defaults'}")
    if ignored:
        out.line(f"demo: ignoring {', '.join(ignored)} from your shell (the demo uses its own S3 on loopback)")
    code = 1
    try:
        code = _start_and_serve(stack, out, check)
    except DemoError as exc:
        out.line(f"demo: FAILED: {exc}")
        code = 1
    except KeyboardInterrupt:
        out.line("")
        out.step("interrupted")
        code = 0 if not check else 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # teardown is bounded; do not cut it short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        out.step("stopping everything the demo started …")
        killed = stack.stop()
        out.step("stopped" + (f" (had to kill: {', '.join(killed)})" if killed else ""))
    return code


def _start_and_serve(stack: DemoStack, out: Console, check: bool) -> int:
    stack.clean_previous_run()
    stack.start_s3()
    assert stack.s3 is not None
    out.step(f"S3 (SeaweedFS) on {stack.s3.endpoint}: bucket {stack.settings.bucket}, versioning on")
    stack.prepare_airflow()
    assert stack.airflow is not None
    out.step(f"Airflow home {rel(stack.airflow.home)}: database ready")
    stack.start_sync_agent()
    stack.start_airflow()
    out.step("started airflow-dag-sync and Airflow's api-server, scheduler, dag-processor and triggerer; "
             "publishing both example packages with the CI template's publish job meanwhile")

    # The packages' CI does not wait for Airflow: the publish jobs run while Airflow starts.
    publishing = Publishing(stack)
    publishing.start()
    watcher = DagWatcher(stack.airflow)
    watcher.start()
    try:
        stack.wait_ready(READY_TIMEOUT)
        ready, ready_at = time.time(), time.monotonic() - out.started
        out.step("Airflow is healthy (all four components) and the sync agent is ready")
        runs = publishing.result(timeout=PUBLISH_TIMEOUT)
        for r in runs:
            out.step(f"{r.package}: {r.summary()} ({r.seconds:.0f} s)")
        expected = stack.published_dag_ids()
        commits = stack.commit_times()
        wanted = {dag_id: package for package, ids in expected.items() for dag_id in ids}
        deadline = time.monotonic() + VISIBLE_TIMEOUT
        while not set(wanted) <= set(watcher.first_seen):
            stack.check_services()
            if time.monotonic() > deadline:
                missing = sorted(set(wanted) - set(watcher.first_seen))
                raise DemoError(f"not visible in Airflow after {VISIBLE_TIMEOUT:.0f} s: {', '.join(missing)}"
                                + _diagnose(stack))
            time.sleep(0.2)
    finally:
        watcher.stop()
    lines, worst = publish_to_visible(wanted, watcher.first_seen, commits, ready)
    for line in lines:
        out.step(line)
    total = time.monotonic() - out.started

    assert stack.airflow is not None
    out.line("")
    out.line(f"The demo is up after {total:.0f} s (Airflow ready after {ready_at:.0f} s).")
    out.line(f"  Airflow UI      {stack.airflow.url}")
    out.line(f"  login           {ADMIN_USER} / {stack.airflow.password}")
    out.line(f"  visible DAGs    {', '.join(sorted(wanted))}")
    out.line(f"  publish-to-visible latency: {worst:.1f} s ({LATENCY_DEFINITION}; production promises < 60 s)")
    out.line(f"  sync agent      http://127.0.0.1:{stack.metrics_port}/metrics")
    out.line(f"  logs            {rel(stack.supervisor.log_dir)}/ and {rel(stack.airflow.log_dir)}/")
    out.line("  publish a change from a second terminal: see the README's Demo section (. .local/demo/env.sh)")
    out.line("  the pod a task would start: .venv/bin/python -m devstack.demo --pod-spec")

    if check:
        problems = verify(stack, wanted, worst)
        if problems:
            out.line("CHECK FAILED:")
            for p in problems:
                out.line(f"  - {p}")
            return 1
        out.line(f"CHECK OK: {len(wanted)} example DAGs visible ({', '.join(sorted(wanted))}); "
                 f"publish-to-visible latency {worst:.1f} s; every release signed and verified against the "
                 "agent's trust file")
        return 0

    out.line("Press Ctrl-C to stop.")
    while True:
        stack.check_services()
        time.sleep(2)


# The demo's one latency, the number its lines, its summary and --check report.
LATENCY_DEFINITION = "the slowest DAG, from its publish's commit to the first Airflow API answer that lists it"


def publish_to_visible(wanted: dict[str, str], first_seen: dict[str, float], commits: dict[str, float],
                       ready: float) -> tuple[list[str], float]:
    """Each DAG's publish-to-visible latency (LATENCY_DEFINITION; epoch seconds in, seconds out): one line
    per DAG and the slowest. A publish committed while Airflow was still starting is said so on its line
    (its latency then includes the wait for Airflow): it is the same number, not a second one."""
    lines, worst = [], 0.0
    for dag_id, package in sorted(wanted.items()):
        seen = first_seen[dag_id]
        committed = commits.get(package)
        if committed is None:  # no journal entry (it is only a hint): the commit time is unknown
            lines.append(f"visible in Airflow: {dag_id} (its publish's commit time is unknown: not counted)")
            continue
        latency = seen - committed
        worst = max(worst, latency)
        note = f"; Airflow became ready {ready - committed:.1f} s after that publish" if committed < ready else ""
        lines.append(f"visible in Airflow: {dag_id} {latency:.1f} s after its publish{note}")
    return lines, worst


def verify(stack: DemoStack, wanted: dict[str, str], latency: float) -> list[str]:
    """What --check asserts beyond visibility; every problem found, not just the first."""
    assert stack.airflow is not None
    problems: list[str] = []
    try:
        dags = stack.airflow.dags()
        errors = stack.airflow.api_import_errors()
    except Exception as exc:
        return [f"the REST API did not answer: {exc}"]
    releases = stack.current_releases()
    for dag_id, package in sorted(wanted.items()):
        dag = dags.get(dag_id)
        if dag is None:
            problems.append(f"{dag_id} is no longer listed by /api/v2/dags")
            continue
        # one versioned bundle per package: its version is the release Airflow parsed the DAG from
        if (dag.get("bundle_name"), dag.get("bundle_version")) != (package, releases.get(package)):
            problems.append(f"{dag_id}: bundle {dag.get('bundle_name')} version {dag.get('bundle_version')}, not "
                            f"package {package}'s current release {releases.get(package)}")
        relative = str(dag.get("relative_fileloc", ""))
        if not relative.startswith(f"{package}/"):
            problems.append(f"{dag_id}: relative fileloc {relative} is not in the package's folder {package}/")
    if errors:
        problems.append("import errors in Airflow: " + "; ".join(errors))
    if not stack.agent_ready():
        problems.append("the sync agent's /readyz is not 200")
    try:
        problems += stack.signature_problems()
    except Exception as exc:
        problems.append(f"the releases' signatures could not be checked: {exc}")
    if latency > LATENCY_LIMIT:
        problems.append(f"publish-to-visible latency {latency:.1f} s is over {LATENCY_LIMIT:.0f} s")
    try:
        stack.check_services()
    except DemoError as exc:
        problems.append(str(exc))
    return problems


def _diagnose(stack: DemoStack) -> str:
    hints = []
    if stack.airflow is not None:
        try:
            errors = stack.airflow.api_import_errors()
            if errors:
                hints.append("import errors: " + "; ".join(errors))
        except Exception:
            pass
        linked = sorted(p.name for p in stack.airflow.dags_dir.iterdir()) if stack.airflow.dags_dir.exists() else []
        hints.append(f"DAGs folder holds: {', '.join(linked) or 'nothing'}")
        hints.append(f"Airflow logs: {rel(stack.airflow.log_dir)}/")
    hints.append(f"other logs: {rel(stack.supervisor.log_dir)}/")
    return "\n  " + "\n  ".join(hints)


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify, print the result, stop, exit 0 or 1")
    parser.add_argument("--pod-spec", nargs="?", const="", metavar="DAG_FILE",
                        help="print the pod spec of each task of DAG_FILE (default: the pipeline_processing "
                             "example) and exit")
    args = parser.parse_args(argv)
    if args.pod_spec is not None:
        from devstack.demo_pod_spec import main as pod_spec

        return pod_spec([args.pod_spec] if args.pod_spec else [])
    # Ctrl-C always stops the demo, even when started from a shell that ignores SIGINT for
    # background jobs; SIGTERM and SIGHUP (terminal closed) stop it the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    return run(args.check)


if __name__ == "__main__":
    sys.exit(main())
