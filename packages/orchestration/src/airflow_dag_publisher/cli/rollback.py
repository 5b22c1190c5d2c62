"""`airflow-dag-publisher rollback`: a new release whose files are an earlier release's files."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from airflow_dag_publisher.cli import common, toolkit, waiting
from airflow_dag_publisher.output import emit_json, info, warn
from airflow_dag_publisher.publisher import Publisher


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(sub, "rollback", help="restore an earlier release (default: the previous one) as a new "
                        "release")
    o = toolkit.Options(p, environ)
    common.add_target(o)
    p.add_argument("--to", metavar="RELEASE_ID", default=None, help="the release to restore (see `history`)")
    common.add_signing_key(o)
    waiting.add_wait(o, rollback=False)
    common.add_json(o)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    storage, env, package = common.target(args)
    wait = waiting.WaitOptions.of(args)
    api = waiting.airflow_api(wait)
    publisher = Publisher(storage, env, package, signer=common.signer_from_option(args.signing_key))
    result = publisher.rollback(common.release_meta(None), to=args.to)
    for w in result.warnings:
        warn(w)
    doc = result.to_dict()
    if not args.json:
        files = len(result.manifest.files) if result.manifest else 0
        info(f"{publisher.url}: release {result.release_id} restores the files of release {result.restored_from} "
             f"({files} files)")
    confirmation = waiting.wait_for(wait, api, publisher, result, doc)
    if args.json:
        emit_json(doc)
    elif confirmation is not None:
        info(waiting.live_line(confirmation, list(result.manifest.dag_ids) if result.manifest else []) or "")
    return 0
