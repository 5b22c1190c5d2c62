"""`airflow-dag-publisher rollback`: a new release whose files are an earlier release's files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_dag_publisher.cli import common, confirm, toolkit, waiting
from airflow_dag_publisher.output import emit_json, info, warn
from airflow_dag_publisher.publisher import Publisher


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(
        sub, "rollback", help="restore an earlier release (default: the previous one) as a new release",
        description="A new release whose files are an earlier release's files, copied from their pinned object "
        "versions and committed the same way as a publish. Without --to, the previous release. On a terminal it "
        "says what would change (the release that becomes current, the DAGs that leave Airflow) and asks; "
        "without one it needs --yes. --dry-run says it and changes nothing.",
        examples=["--env dev --package orders_report --bucket acme-airflow-dags-dev --dry-run",
                  "--env dev --package orders_report --bucket acme-airflow-dags-dev --yes",
                  "--env dev --package orders_report --bucket acme-airflow-dags-dev --to "
                  "20261127T101500Z-3f2a9c1b7d0e --yes"],
        exits={1: "refused: no such release, a retirement tombstone, the current release already, not confirmed, "
               "a lost race, or (--wait) a release Airflow could not import",
               2: "usage or configuration error; also no terminal to confirm on and no --yes (nothing changed)"})
    o = toolkit.Options(p, environ)
    common.add_target(o)
    p.add_argument("--to", metavar="RELEASE_ID", default=None, help="the release to restore (see `history`)")
    confirm.add_options(o)
    common.add_signing_key(o)
    waiting.add_wait(o, rollback=False)
    common.add_json(o)


def rollback(target: common.Target, *, to: str | None, signing_key: str | None, wait: waiting.WaitOptions,
             yes: bool, dry_run: bool, as_json: bool) -> int:
    confirm.check_consent("rollback", yes=yes, dry_run=dry_run)
    storage, env, package = target.open()
    api = waiting.airflow_api(wait, dry_run=dry_run)
    publisher = Publisher(storage, env, package, signer=common.signer_from_option(signing_key))
    plan = None
    if not yes:
        plan = publisher.plan_rollback(to)
        if dry_run:
            return confirm.show_dry_run(plan, as_json=as_json)
        confirm.ask(plan)
    result = publisher.rollback(common.release_meta(None), to=plan.restores if plan else to, confirmed=plan)
    for w in result.warnings:
        warn(w)
    doc = result.to_dict()
    if not as_json:
        files = len(result.manifest.files) if result.manifest else 0
        info(f"{publisher.url}: release {result.release_id} restores the files of release {result.restored_from} "
             f"({files} file{'' if files == 1 else 's'})")
    confirmation = waiting.wait_for(wait, api, publisher, result, doc)
    if as_json:
        emit_json(doc)
    elif confirmation is not None:
        info(waiting.live_line(confirmation, list(result.manifest.dag_ids) if result.manifest else []) or "")
    return 0
