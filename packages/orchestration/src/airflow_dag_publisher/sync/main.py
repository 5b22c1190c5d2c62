# PYTHON_ARGCOMPLETE_OK
"""Entry point of `airflow-dag-sync`: flags (each also from DAGSYNC_<FLAG>), then the agent. Parsing
and the mapping of errors to exit codes are the toolkit's (cli/toolkit.py), as for the publisher.

Exit codes (errors.exit_code of what failed): 0 success (the long-running agent also exits 0 when
stopped by SIGTERM/SIGINT; a --once that applied some packages and refused others, each logged and
counted); 1 refused: with --once, the environment has packages and none is in place after the sync
(each refused), or with --dag-id the owning package was refused; 2 usage or configuration error
(--require-signatures without --trust-file, an environment or bucket that does not exist); 3 storage,
network or local disk error (with --once: the sync did not complete); 4 a bug (one line naming the
crash log); with --once, 128 + the signal's number when SIGTERM or SIGINT stopped it (the DAGs folder
then holds only complete releases: what was being built is discarded).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from airflow_dag_publisher import __version__
from airflow_dag_publisher.cli import toolkit
from airflow_dag_publisher.environments import read_settings
from airflow_dag_publisher.errors import (
    EXIT_OK,
    EXIT_STORAGE,
    LocalStorageError,
    RefusedError,
    StorageError,
    UsageError,
    exit_code,
)
from airflow_dag_publisher.names import check_bucket, check_env
from airflow_dag_publisher.storage import Storage, make_client
from airflow_dag_publisher.sync import logs
from airflow_dag_publisher.sync.agent import AgentConfig, CycleResult, SyncAgent
from airflow_dag_publisher.sync.health_server import MetricsServer
from airflow_dag_publisher.sync.metrics import Metrics
from airflow_dag_publisher.sync.package_list import PackageListWatch
from airflow_dag_publisher.sync.releases import Layout
from airflow_dag_publisher.sync.trust import Trust, load_trust

PROG = "airflow-dag-sync"
ENV_PREFIX = "DAGSYNC_"
SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = logging.getLogger("airflow_dag_publisher.sync")


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def _port(text: str) -> int:
    value: int = toolkit.number(int, minimum=0, exclusive=False, maximum=65535)(text)
    return value


def _choice(*allowed: str) -> Any:
    def parse(text: str) -> str:
        if text.lower() not in allowed:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {', '.join(allowed)}")
        return text.lower()
    return parse


_positive = toolkit.number(float)
# (flag, type, default, help); every flag's default comes from DAGSYNC_<FLAG> when set.
OPTIONS: list[tuple[str, Any, Any, str]] = [
    ("--bucket", str, None, "S3 bucket the releases are published to (required)"),
    ("--env", str, None, "environment to mirror, e.g. dev (required)"),
    ("--dags-dir", str, None, "the Airflow DAGs folder to maintain (required)"),
    ("--state-dir", str, None, "state and release directories, beside the DAGs folder "
                               "(default: <dags-dir>/../.dagsync-<dags-dir name>); same file system and volume"),
    ("--interval", _positive, 5.0, "seconds between cycles; fractions allowed (default 5)"),
    ("--reconcile-interval", toolkit.number(float, maximum=60), 60.0,
     "seconds between full manifest listings, <= 60 (default 60)"),
    ("--cycle-timeout", _positive, 120.0, "a cycle that takes longer is abandoned (default 120)"),
    ("--grace-period", _positive, 300.0, "seconds an old release directory is kept (default 300)"),
    ("--workers", toolkit.number(int), 8, "parallel downloads (default 8)"),
    ("--s3-timeout", _positive, 10.0, "connect and read timeout of each S3 request (default 10)"),
    ("--max-backoff", _positive, 60.0, "cap of the wait after failed cycles (default 60)"),
    ("--ready-max-age", toolkit.number(float, minimum=0, exclusive=False), 180.0,
     "/readyz fails when the last success is older (default 180; 0: ready from the first full sync on, "
     "through an S3 outage: the pod keeps its releases)"),
    ("--retry-for", toolkit.number(float, minimum=0, exclusive=False), 0.0,
     "with --once: after a sync that fails for S3, STS or the network, retry (capped backoff, S3 probed every "
     "interval) for up to this many seconds before exiting 3 (default 0: exit at once)"),
    ("--commit-window", toolkit.number(float, minimum=0, exclusive=False), 900.0,
     "a signed manifest S3 wrote more than this many seconds after its signed created_at is a replayed copy "
     "and is refused (default 900; 0: off, e.g. after restoring a bucket from a copy)"),
    ("--dag-id", str, None, "with --once: sync only the package that owns this dag_id (a KubernetesExecutor task "
                            "pod); every package when its owner cannot be found"),
    ("--metrics-port", _port, 0, "serve /metrics, /healthz, /readyz on this port (default 0: off)"),
    ("--metrics-address", str, "0.0.0.0", "address of the metrics server (default 0.0.0.0)"),
    ("--log-format", _choice("text", "json"), "text", "text or json (default text)"),
    ("--log-level", _choice("debug", "info", "warning", "error"), "info",
     "debug, info, warning or error (default info)"),
    ("--trust-file", str, None, "YAML file: package -> list of PEM public keys; a package listed there applies "
                                "only releases signed by one of its keys"),
    ("--packages-file", str, None, "the platform's package list (infra/airflow/packages.yaml): a package it marks "
                                   "spec_only applies only releases that are exactly what the generator renders "
                                   "from their jobs.yaml (read again when the file changes)"),
]


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = toolkit.Parser(prog=PROG, description="Mirror the published DAG releases of one environment from S3 "
                            "into an Airflow DAGs folder: atomic per package, verified, guarded.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    options = toolkit.Options(parser, environ)
    for flag, kind, default, help_ in OPTIONS:
        options.add(flag, env=env_name(flag), type=kind, default=default, help=help_)
    options.flag("--once", env=env_name("--once"),
                 help="sync once and exit: 0 when complete, non-zero with the reason")
    options.flag("--require-signatures", env=env_name("--require-signatures"),
                 help="a package without a key in the trust file applies nothing")
    options.flag("-v", "--verbose", env=env_name("--verbose"), help="log details: the same as --log-level debug")
    return parser


def check(args: argparse.Namespace) -> None:
    check_bucket(args.bucket, "--bucket", env_name("--bucket"))
    check_env(args.env, "--env", env_name("--env"))
    if not args.dags_dir:
        raise UsageError(f"--dags-dir ({env_name('--dags-dir')}) is required")
    if args.dag_id is not None and not args.once:
        raise UsageError(f"--dag-id ({env_name('--dag-id')}) needs --once: the long-running agent syncs every package")
    if args.retry_for and not args.once:
        raise UsageError(f"--retry-for ({env_name('--retry-for')}) needs --once: the long-running agent retries anyway")
    if args.require_signatures and not args.trust_file:
        raise UsageError(f"--require-signatures ({env_name('--require-signatures')}) needs --trust-file "
                         f"({env_name('--trust-file')}): without trusted keys every release would be refused")
    if args.dag_id is not None and not 0 < len(args.dag_id) <= 250:
        raise UsageError(f"--dag-id ({env_name('--dag-id')}) must be 1 to 250 characters")


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if environ is None else environ)

    def start() -> int:
        args = toolkit.parse(build_parser(env), args_list)
        check(args)
        trust = load_trust(args.trust_file, require=args.require_signatures,
                           option=f"--trust-file ({env_name('--trust-file')})")
        packages = (PackageListWatch(args.packages_file, option=f"--packages-file ({env_name('--packages-file')})")
                    if args.packages_file else None)
        with logs.configured(args.log_format, "debug" if args.verbose else args.log_level):
            return run(args, trust, packages)

    return toolkit.guard(PROG, args_list, start)


def console() -> None:
    """The console script. A --once run stopped by a signal leaves at once, without waiting for
    download threads still unwinding (nothing of theirs is visible: see fetch.py)."""
    code = main()
    if code >= 128:
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def nothing_applied(result: CycleResult) -> None:
    """A `--once` that leaves the DAGs folder without any package while the environment has some (each
    refused, or deferred by this node's disk) is a failure, not a success an init container passes:
    exit 1 (exit 3 when only this node's disk is at fault, worth retrying)."""
    failed = {**result.deferred, **result.refused}
    listed = "; ".join(f"{package}: {reason}" for package, reason in sorted(failed.items()))
    message = f"no package of the environment was applied ({len(failed)} not synced): {listed}"
    if result.refused:
        raise RefusedError(message)
    raise LocalStorageError(message)


def check_environment(storage: Storage, env: str) -> None:
    """The environment exists (its `_environment.json`): a mistyped --env is exit 2 naming the
    environments that do, not an agent that serves an empty folder. When S3 cannot answer now, the
    sync's own retries (and --retry-for) deal with that: this check does not fail the start."""
    try:
        read_settings(storage, env)
    except StorageError as exc:
        if exit_code(exc) != EXIT_STORAGE:
            raise
        # not logged as an error: the sync meets the same failure at once and reports it, once
        log.debug("environment %s not checked: %s", env, exc, extra={"reason": exc.kind})


def run(args: argparse.Namespace, trust: Trust | None = None, packages: PackageListWatch | None = None) -> int:
    layout = Layout(Path(args.dags_dir), Path(args.state_dir) if args.state_dir else None)
    timeout = args.s3_timeout
    storage = Storage(args.bucket, make_client(max_pool=max(10, args.workers + 2), connect_timeout=timeout,
                                               read_timeout=timeout, attempts=2 if args.once else 3))
    config = AgentConfig(bucket=args.bucket, env=args.env, interval=args.interval,
                         reconcile_interval=args.reconcile_interval, cycle_timeout=args.cycle_timeout,
                         grace_period=args.grace_period, workers=args.workers, max_backoff=args.max_backoff,
                         ready_max_age=args.ready_max_age, commit_window=args.commit_window)
    metrics = Metrics()
    agent = SyncAgent(config, storage, layout, metrics=metrics, trust=trust, packages=packages)
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: finishing the current step and exiting", signal.Signals(signum).name)
        received.append(signum)
        agent.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in SIGNALS}
    server = None
    try:
        check_environment(storage, args.env)
        agent.open(prefetch=args.dag_id is None)  # every start reconciles first; --dag-id lists nothing
        if args.metrics_port:
            server = MetricsServer(metrics, args.metrics_address, args.metrics_port, ready=agent.ready,
                                   alive=agent.alive).start()
        log.info("syncing %s into %s (state %s)", storage.url(f"{args.env}/"), layout.dags_dir, layout.state_dir,
                 extra={"once": args.once, "interval": args.interval})
        if agent.spec_only:
            log.info("spec-only packages (only what the generator renders from their jobs.yaml): %s",
                     ", ".join(sorted(agent.spec_only)))
        if trust is not None and trust.enabled:
            log.info("verifying release signatures: %d package(s) with trusted keys in %s%s", len(trust.keys),
                     trust.source or "no trust file", "; signatures required" if trust.require else "")
        if not args.once:
            agent.run_forever()
            return EXIT_OK
        result = agent.run_once(dag_id=args.dag_id, retry_for=args.retry_for)
        if received:
            log.error("sync interrupted by %s; the DAGs folder holds only complete releases",
                      signal.Signals(received[0]).name)
            return 128 + received[0]
        if result.error is not None:  # reported once, with its kind's exit code, by the toolkit's handler
            raise result.error
        for package, reason in {**result.refused, **result.deferred}.items():
            log.warning("package %s was not synced: %s", package, reason)
        if result.owner is None and not agent.state.held() and (result.refused or result.deferred):
            nothing_applied(result)
        if result.owner is not None:
            if result.owner in result.deferred:
                raise LocalStorageError(f"package {result.owner}, which owns dag_id {args.dag_id}, was not synced: "
                                        f"{result.deferred[result.owner]}")
            if result.owner in result.refused:
                raise RefusedError(f"package {result.owner}, which owns dag_id {args.dag_id}, was not synced: "
                                   f"{result.refused[result.owner]}")
            log.info("synced package %s, which owns dag_id %s (%d requests)", result.owner, args.dag_id,
                     result.requests, extra={"package": result.owner})
        return EXIT_OK
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server:
            server.stop()
        agent.close()


if __name__ == "__main__":
    console()
