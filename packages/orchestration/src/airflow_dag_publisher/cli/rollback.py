"""`airflow-dag-publisher rollback`: a new release whose files are an earlier release's files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_dag_publisher.cli import common, toolkit, waiting
from airflow_dag_publisher.output import emit_json, info, warn
from airflow_dag_publisher.publisher import Publisher


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(
        sub, "rollback", help="restore an earlier release (default: the previous one) as a new release",
        description="A new release whose files are an earlier release's files, copied from their pinned object "
        "versions and committed the same way as a publish. Without --to, the previous release.",
        examples=["--env dev --package orders_report --bucket acme-airflow-dags-dev",
                  "--env dev --package orders_report --bucket acme-airflow-dags-dev --to "
                  "20261127T101500Z-3f2a9c1b7d0e"],
        exits={1: "refused: no such release, a retirement tombstone, the current release already, a lost race, "
               "or (--wait) a release Airflow could not import"})
    o = toolkit.Options(p, environ)
    common.add_target(o)
    p.add_argument("--to", metavar="RELEASE_ID", default=None, help="the release to restore (see `history`)")
    common.add_signing_key(o)
    waiting.add_wait(o, rollback=False)
    common.add_json(o)


def rollback(target: common.Target, *, to: str | None, signing_key: str | None, wait: waiting.WaitOptions,
             as_json: bool) -> int:
    storage, env, package = target.open()
    api = waiting.airflow_api(wait)
    publisher = Publisher(storage, env, package, signer=common.signer_from_option(signing_key))
    result = publisher.rollback(common.release_meta(None), to=to)
    for w in result.warnings:
        warn(w)
    doc = result.to_dict()
    if not as_json:
        files = len(result.manifest.files) if result.manifest else 0
        info(f"{publisher.url}: release {result.release_id} restores the files of release {result.restored_from} "
             f"({files} files)")
    confirmation = waiting.wait_for(wait, api, publisher, result, doc)
    if as_json:
        emit_json(doc)
    elif confirmation is not None:
        info(waiting.live_line(confirmation, list(result.manifest.dag_ids) if result.manifest else []) or "")
    return 0
