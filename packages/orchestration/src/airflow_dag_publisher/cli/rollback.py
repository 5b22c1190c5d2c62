"""`airflow-dag-publisher rollback`: a new release whose files are an earlier release's files."""

from __future__ import annotations

import argparse
from typing import Any

from airflow_dag_publisher.cli import options
from airflow_dag_publisher.cli.common import release_meta, target
from airflow_dag_publisher.output import emit_json, info, warn
from airflow_dag_publisher.publisher import Publisher


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "rollback", help="restore an earlier release (default: the previous one) as a new release")
    options.add_env(p)
    options.add_package(p)
    options.add_bucket(p)
    p.add_argument("--to", metavar="RELEASE_ID", default=None, help="the release to restore (see `history`)")
    options.add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    storage, env, package = target(args)
    publisher = Publisher(storage, env, package)
    result = publisher.rollback(release_meta(None), to=args.to)
    for w in result.warnings:
        warn(w)
    assert result.manifest is not None
    if args.json:
        emit_json({**result.to_dict(), "restored_from": args.to or result.manifest.previous_release_id})
    else:
        info(f"{publisher.url}: release {result.release_id} restores the files of "
             f"{args.to or 'the previous release'} ({len(result.manifest.files)} files)")
    return 0
