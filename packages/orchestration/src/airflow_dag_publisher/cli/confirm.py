"""Confirmation of the commands that take DAGs out of Airflow (`rollback`, `retire`): on a terminal
they say what would change and ask; without one they need `--yes` (CI), and refuse before any network
call otherwise; `--dry-run` says what would change and changes nothing."""

from __future__ import annotations

import sys

from airflow_dag_publisher.cli import toolkit
from airflow_dag_publisher.errors import RefusedError, UsageError
from airflow_dag_publisher.output import emit_json, info
from airflow_dag_publisher.publish_plan import ChangePlan


def add_options(o: toolkit.Options) -> None:
    o.parser.add_argument("-y", "--yes", action="store_true",
                          help="do it without asking (needed where there is no terminal to ask on, e.g. CI)")
    o.parser.add_argument("--dry-run", action="store_true",
                          help="say what would change (the release that becomes current, the DAGs that leave "
                          "Airflow) and change nothing")


def can_ask() -> bool:
    """A person can answer: stdin and stderr (where the question goes) are a terminal."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def check_consent(command: str, *, yes: bool, dry_run: bool) -> None:
    """Before any network call: a change nobody can confirm is a usage error."""
    if dry_run and yes:
        raise UsageError(f"{command}: --dry-run changes nothing, --yes confirms a change: give one")
    if not (yes or dry_run or can_ask()):
        raise UsageError(f"{command} changes what Airflow runs and there is no terminal to confirm it on: pass --yes "
                         "to do it (as CI does), or --dry-run to see what would change; nothing was changed")


def show_dry_run(plan: ChangePlan, *, as_json: bool) -> int:
    if as_json:
        emit_json({"dry_run": True, **plan.to_dict()})
        return 0
    lines = plan.describe()
    info(f"dry run: {lines[0]}")
    for line in lines[1:]:
        info(line)
    info("nothing was changed")
    return 0


def ask(plan: ChangePlan) -> None:
    """Say what would change and ask on the terminal; anything but yes changes nothing (exit 1)."""
    for line in plan.describe():
        print(line, file=sys.stderr)
    if plan.noop:
        return
    sys.stderr.write(f"{plan.action.replace('rollback', 'roll back')} {plan.package!r} in {plan.env!r}? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise RefusedError(f"{plan.action}: not confirmed; nothing was changed")
