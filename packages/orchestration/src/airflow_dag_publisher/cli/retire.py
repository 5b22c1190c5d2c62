"""`airflow-dag-publisher retire`: commit a tombstone release; the package leaves Airflow."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from airflow_dag_publisher.cli import common, toolkit
from airflow_dag_publisher.output import emit_json, info, warn
from airflow_dag_publisher.publisher import Publisher


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(sub, "retire", help="retire a package: a tombstone release with no files and no dag_ids")
    o = toolkit.Options(p, environ)
    common.add_target(o)
    common.add_signing_key(o)
    common.add_json(o)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    storage, env, package = common.target(args)
    publisher = Publisher(storage, env, package, signer=common.signer_from_option(args.signing_key))
    result = publisher.retire(common.release_meta(None))
    for w in result.warnings:
        warn(w)
    if args.json:
        emit_json(result.to_dict())
    elif result.noop:
        info(f"{publisher.url}: already retired (release {result.release_id})")
    else:
        info(f"{publisher.url}: retired by tombstone release {result.release_id}; its DAGs leave Airflow "
             "at the agents' next cycle (history keeps every release: `rollback` restores one)")
    return 0
