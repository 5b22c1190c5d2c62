"""`airflow-dag-publisher promote`: the exact bytes of a release of one environment become a new
release of another (copied server-side by pinned version; nothing is read from a local folder)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_dag_publisher.cli import common, toolkit, waiting
from airflow_dag_publisher.names import check_bucket, check_env
from airflow_dag_publisher.output import emit_json, info, warn
from airflow_dag_publisher.publisher import Publisher
from airflow_dag_publisher.storage import Storage


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(
        sub, "promote", help="copy a release of one environment into another as a new release",
        description="The exact files of a release of --from-env (its current release, or --release) become a "
        "new release of --env, copied server-side by pinned version: same content_digest, image and git sha; the "
        "manifest records where it came from. Same guardrails and conditional commit as publish.",
        examples=["--from-env dev --env staging --package orders_report --bucket acme-airflow-dags-dev",
                  "--from-env staging --from-bucket acme-airflow-dags-staging --env prod --bucket "
                  "acme-airflow-dags-prod --package orders_report --release 20261127T101500Z-3f2a9c1b7d0e"],
        exits={1: "refused: no such release, a retirement tombstone, a guardrail, a dag_id another package owns, "
               "a lost race, or (--wait) a release Airflow could not import"})
    o = toolkit.Options(p, environ)
    p.add_argument("--from-env", required=True, metavar="ENV", help="the environment to promote from, e.g. staging")
    common.add_target(o)
    p.add_argument("--from-bucket", metavar="BUCKET", default=None,
                   help="the bucket of --from-env when each environment has its own (default: --bucket)")
    p.add_argument("--release", metavar="RELEASE_ID", default=None,
                   help="the release of --from-env to promote (default: its current release)")
    common.add_guardrails(o, "a promotion")
    waiting.add_wait(o)
    common.add_signing_key(o)
    common.add_json(o)


def promote(target: common.Target, *, from_env: str, from_bucket: str | None, release: str | None,
            guardrails: common.Guardrails, wait: waiting.WaitOptions, signing_key: str | None, as_json: bool) -> int:
    storage, env, package = target.open()
    source_env = check_env(from_env, "--from-env")
    origin = Storage(check_bucket(from_bucket, "--from-bucket"), storage.client, direct=False) if from_bucket else None
    api = waiting.airflow_api(wait)
    publisher = Publisher(storage, env, package, signer=common.signer_from_option(signing_key))
    result = publisher.promote(common.release_meta(None), source_env, release, source_storage=origin,
                               allow_empty=guardrails.allow_empty, max_delete=guardrails.max_delete)
    for w in result.warnings:
        warn(w)
    doc = result.to_dict()
    source = result.manifest.promoted_from if result.manifest and not result.noop else None
    if source is not None:
        doc["promoted_from"] = source.to_dict()
    doc["content_digest"] = result.manifest.content_digest if result.manifest else None
    if not as_json:
        if result.noop:
            info(f"{publisher.url}: already holds these files; release {result.release_id} stays current (no-op)")
        else:
            info(f"{publisher.url}: release {result.release_id} promotes {source_env} release "
                 f"{source.release_id if source else '?'} ({doc['uploaded']} copied, {doc['unchanged']} unchanged, "
                 f"{doc['deleted']} deleted; {doc['content_digest']})")
    confirmation = waiting.wait_for(wait, api, publisher, result, doc)
    if as_json:
        emit_json(doc)
    elif confirmation is not None:
        info(waiting.live_line(confirmation, result.dag_ids) or "")
    return 0
