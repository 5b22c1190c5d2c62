"""`airflow-dag-publisher retire`: commit a tombstone release; the package leaves Airflow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_dag_publisher.cli import common, confirm, toolkit
from airflow_dag_publisher.output import emit_json, info, warn
from airflow_dag_publisher.publisher import Publisher


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(
        sub, "retire", help="retire a package: a tombstone release with no files and no dag_ids",
        description="The only way a package leaves Airflow: a tombstone release (retired, no files, no dag_ids). "
        "The agents remove the package's folder at their next cycle; the history stays, so `rollback` brings "
        "the package back. On a terminal it says which DAGs leave Airflow and asks; without one it needs --yes. "
        "--dry-run says it and changes nothing.",
        examples=["--env dev --package orders_report --bucket acme-airflow-dags-dev --dry-run",
                  "--env dev --package orders_report --bucket acme-airflow-dags-dev --yes"],
        exits={1: "refused: the package was never published, not confirmed, or a lost race",
               2: "usage or configuration error; also no terminal to confirm on and no --yes (nothing changed)"})
    o = toolkit.Options(p, environ)
    common.add_target(o)
    confirm.add_options(o)
    common.add_signing_key(o)
    common.add_json(o)


def retire(target: common.Target, *, signing_key: str | None, yes: bool, dry_run: bool, as_json: bool) -> int:
    confirm.check_consent("retire", yes=yes, dry_run=dry_run)
    storage, env, package = target.open()
    publisher = Publisher(storage, env, package, signer=common.signer_from_option(signing_key))
    plan = None
    if not yes:
        plan = publisher.plan_retire()
        if dry_run:
            return confirm.show_dry_run(plan, as_json=as_json)
        confirm.ask(plan)
    result = publisher.retire(common.release_meta(None), confirmed=plan)
    for w in result.warnings:
        warn(w)
    if as_json:
        emit_json(result.to_dict())
    elif result.noop:
        info(f"{publisher.url}: already retired (release {result.release_id})")
    else:
        info(f"{publisher.url}: retired by tombstone release {result.release_id}; its DAGs leave Airflow "
             "at the agents' next cycle (history keeps every release: `rollback` restores one)")
    return 0
