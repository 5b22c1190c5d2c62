"""`--wait [SECONDS]`, `--airflow-url` and `--rollback-on-failure`: the options of the commands that
commit a release (publish, promote, rollback), and the step that waits for Airflow after the commit
(airflow_wait.py decides; this only renders)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_dag_publisher.airflow_api import AirflowApi, Credentials
from airflow_dag_publisher.airflow_wait import (
    DEFAULT_WAIT,
    Confirmation,
    Outcome,
    ReleaseNotLive,
    confirm,
    describe_failure,
)
from airflow_dag_publisher.cli import common, toolkit
from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.publisher import Publisher, PublishResult


@dataclass(frozen=True)
class WaitOptions:
    """`--wait [SECONDS]`, `--airflow-url`, `--rollback-on-failure` and `--airflow-allow-http`, as given."""

    seconds: float | None
    airflow_url: str | None
    credentials: Callable[[], Credentials]
    rollback_on_failure: bool = False
    allow_http: bool = False  # --airflow-allow-http: plain http to a non-loopback Airflow, on purpose

    @classmethod
    def of(cls, args: argparse.Namespace) -> WaitOptions:
        """The options `add_wait` declared (every command that has them has all five)."""
        return cls(args.wait, args.airflow_url, args.airflow_credentials, args.rollback_on_failure,
                   args.airflow_allow_http)


def add_wait(o: toolkit.Options, *, rollback: bool = True) -> None:
    o.parser.add_argument(
        "--wait", nargs="?", type=toolkit.number(float), const=DEFAULT_WAIT, default=None, metavar="SECONDS",
        help=f"after the commit, wait until Airflow has parsed every dag_id of the release from its files "
        f"(default {DEFAULT_WAIT:g} s); exit 1 with Airflow's import error when it could not import one, "
        "exit 3 on a timeout")
    o.add("--airflow-url", env="AIRFLOW_API_URL", help="Airflow's base URL for --wait; credentials from "
          "AIRFLOW_API_TOKEN, or AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD")
    o.flag("--airflow-allow-http", env="AIRFLOW_API_ALLOW_HTTP",
           help="accept an http:// --airflow-url to another machine (credentials then cross the network in clear "
           "text); https, or http to loopback, needs no flag")
    if rollback:
        o.parser.add_argument("--rollback-on-failure", action="store_true",
                              help="with --wait: when Airflow cannot import the release, roll the package back to "
                              "its previous release and wait for that too (the command still exits 1)")
    environ = o.environ
    o.parser.set_defaults(airflow_credentials=lambda: Credentials.from_environ(environ),
                          **({} if rollback else {"rollback_on_failure": False}))


def airflow_api(wait: WaitOptions, *, dry_run: bool = False) -> AirflowApi | None:
    """The API client when --wait is on (checked before anything is written), else None."""
    if wait.seconds is None:
        if wait.rollback_on_failure:
            raise UsageError("--rollback-on-failure needs --wait")
        return None
    if dry_run:
        raise UsageError("--wait has nothing to wait for with --dry-run")
    if not wait.airflow_url:
        raise UsageError("--wait needs Airflow's address: --airflow-url or AIRFLOW_API_URL")
    return AirflowApi(wait.airflow_url, wait.credentials(), allow_http=wait.allow_http)


def wait_for(wait: WaitOptions, api: AirflowApi | None, publisher: Publisher, result: PublishResult,
             doc: dict[str, Any]) -> Confirmation | None:
    """Wait for the committed release; raise ReleaseNotLive (with `doc` plus the wait as JSON
    details) when it is not confirmed. Adds `live` to `doc` when it is."""
    if api is None or result.release_id is None or wait.seconds is None:
        return None
    last: list[str] = []

    def progress(verdict: Any) -> None:
        line = verdict.pending[0] if verdict.pending else ""
        if line and line != (last[0] if last else ""):
            print(f"waiting: {line}", file=sys.stderr)
            last[:] = [line]

    confirmation = confirm(publisher, result, api, timeout=wait.seconds, rollback_on_failure=wait.rollback_on_failure,
                           meta=common.release_meta(None), on_poll=progress)
    doc["live"] = confirmation.to_dict()
    if confirmation.wait.outcome is not Outcome.LIVE:
        raise ReleaseNotLive(describe_failure(confirmation, wait.seconds), confirmation, doc)
    return confirmation


def live_line(confirmation: Confirmation | None, dag_ids: list[str]) -> str | None:
    if confirmation is None:
        return None
    wait = confirmation.wait
    return (f"live in Airflow: release {wait.release_id} parsed from its files "
            f"({', '.join(dag_ids) or 'no dag_ids'}) {wait.seconds:.0f} s after the commit")
