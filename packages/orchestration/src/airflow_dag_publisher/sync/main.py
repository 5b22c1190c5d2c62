"""Entry point of `airflow-dag-sync`: flags (each also from DAGSYNC_<FLAG>), then the agent.

Exit codes: 0 success (or stopped by SIGTERM/SIGINT); 1 refused; 2 usage or configuration error;
3 storage or network error (with --once: the sync did not complete).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from airflow_dag_publisher import __version__
from airflow_dag_publisher.errors import EXIT_OK, EXIT_STORAGE, EXIT_USAGE, DagPublisherError, UsageError
from airflow_dag_publisher.names import ENV_RE, check_bucket
from airflow_dag_publisher.storage import Storage, make_client
from airflow_dag_publisher.sync import logs
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.metrics import Metrics, MetricsServer
from airflow_dag_publisher.sync.releases import Layout
from airflow_dag_publisher.sync.remote import S3Remote

ENV_PREFIX = "DAGSYNC_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

log = logging.getLogger("airflow_dag_publisher.sync")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _env_name(flag: str) -> str:
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def _positive(kind: Callable[[str], Any], upper: float | None = None) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0 or (upper is not None and value > upper):
            raise argparse.ArgumentTypeError(f"{text!r} must be > 0" + (f" and <= {upper:g}" if upper else ""))
        return value
    return parse


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 disables the server)")
    return int(text)


# (flag, type, default, help); every flag's default comes from DAGSYNC_<FLAG> when set.
OPTIONS: list[tuple[str, Callable[[str], Any], Any, str]] = [
    ("--bucket", str, None, "S3 bucket the releases are published to (required)"),
    ("--env", str, None, "environment to mirror, e.g. dev (required)"),
    ("--dags-dir", str, None, "the Airflow DAGs folder to maintain (required)"),
    ("--state-dir", str, None, "state and release directories, beside the DAGs folder "
                               "(default: <dags-dir>/../.dagsync-<dags-dir name>); same file system and volume"),
    ("--interval", _positive(float), 5.0, "seconds between cycles; fractions allowed (default 5)"),
    ("--reconcile-interval", _positive(float, 60), 60.0, "seconds between full manifest listings, <= 60 (default 60)"),
    ("--cycle-timeout", _positive(float), 120.0, "a cycle that takes longer is abandoned (default 120)"),
    ("--grace-period", _positive(float), 300.0, "seconds an old release directory is kept (default 300)"),
    ("--workers", _positive(int), 8, "parallel downloads (default 8)"),
    ("--s3-timeout", _positive(float), 10.0, "connect and read timeout of each S3 request (default 10)"),
    ("--max-backoff", _positive(float), 60.0, "cap of the wait after failed cycles (default 60)"),
    ("--ready-max-age", _positive(float), 180.0, "/readyz fails when the last success is older (default 180)"),
    ("--metrics-port", _port, 0, "serve /metrics, /healthz, /readyz on this port (default 0: off)"),
    ("--metrics-address", str, "0.0.0.0", "address of the metrics server (default 0.0.0.0)"),
    ("--log-format", str, "text", "text or json (default text)"),
    ("--log-level", str, "info", "debug, info, warning or error (default info)"),
]


def build_parser(environ: dict[str, str]) -> argparse.ArgumentParser:
    parser = _Parser(prog="airflow-dag-sync", description="Mirror the published DAG releases of one environment "
                     "from S3 into an Airflow DAGs folder: atomic per package, verified, guarded.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    for flag, kind, default, help_ in OPTIONS:
        name = _env_name(flag)
        value = environ.get(name)
        if value is not None and value != "":
            try:
                default = kind(value)
            except (argparse.ArgumentTypeError, ValueError) as exc:
                raise UsageError(f"{name}={value!r}: {exc}") from None
        parser.add_argument(flag, type=kind, default=default, help=f"{help_} [env {name}]")
    once = environ.get(_env_name("--once"), "").strip().lower()
    if once not in _TRUE | _FALSE:
        raise UsageError(f"DAGSYNC_ONCE={once!r}: expected true or false")
    parser.add_argument("--once", action="store_true", default=once in _TRUE,
                        help="sync once and exit: 0 when complete, non-zero with the reason [env DAGSYNC_ONCE]")
    return parser


def _check(args: argparse.Namespace) -> None:
    check_bucket(args.bucket, "--bucket", "DAGSYNC_BUCKET")
    if not args.env or not ENV_RE.match(args.env):
        raise UsageError(f"--env (DAGSYNC_ENV) {args.env!r} is not a valid environment name")
    if not args.dags_dir:
        raise UsageError("--dags-dir (DAGSYNC_DAGS_DIR) is required")
    if args.log_format not in ("text", "json"):
        raise UsageError(f"--log-format {args.log_format!r}: expected text or json")
    if args.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise UsageError(f"--log-level {args.log_level!r}: expected debug, info, warning or error")


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    environ = dict(os.environ if environ is None else environ)
    try:
        args = build_parser(environ).parse_args(argv)
        _check(args)
    except UsageError as exc:
        print(f"airflow-dag-sync: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:  # argparse: --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logs.configure(args.log_format, args.log_level)
    try:
        return run(args)
    except DagPublisherError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception:  # a bug: log it with its traceback, exit non-zero
        log.exception("internal error (a bug)")
        return EXIT_STORAGE


def run(args: argparse.Namespace) -> int:
    layout = Layout(Path(args.dags_dir), Path(args.state_dir) if args.state_dir else None)
    timeout = args.s3_timeout
    storage = Storage(args.bucket, make_client(max_pool=max(10, args.workers + 2), connect_timeout=timeout,
                                               read_timeout=timeout, attempts=2 if args.once else 3))
    config = AgentConfig(bucket=args.bucket, env=args.env, interval=args.interval,
                         reconcile_interval=args.reconcile_interval, cycle_timeout=args.cycle_timeout,
                         grace_period=args.grace_period, workers=args.workers, max_backoff=args.max_backoff,
                         ready_max_age=args.ready_max_age)
    metrics = Metrics()
    agent = SyncAgent(config, S3Remote(storage), layout, metrics=metrics)
    agent.open()
    server = None
    try:
        if args.metrics_port:
            server = MetricsServer(metrics, args.metrics_address, args.metrics_port, agent.ready).start()
        log.info("syncing s3://%s/%s/ into %s (state %s)", args.bucket, args.env, layout.dags_dir, layout.state_dir,
                 extra={"once": args.once, "interval": args.interval})
        if args.once:
            result = agent.run_cycle(reconcile=True)
            if result.outcome == "error":
                log.error("sync did not complete: %s", result.error)
                return EXIT_STORAGE
            for package, reason in result.refused.items():
                log.warning("package %s was not synced: %s", package, reason)
            return EXIT_OK

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s: finishing the current step and exiting", signal.Signals(signum).name)
            agent.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        agent.run_forever()
        return EXIT_OK
    finally:
        if server:
            server.stop()
        agent.close()


if __name__ == "__main__":
    sys.exit(main())
