"""`airflow-dag-publisher retire`: commit a tombstone release; the package leaves Airflow."""

from __future__ import annotations

import argparse
from typing import Any

from airflow_dag_publisher.cli import options
from airflow_dag_publisher.cli.common import release_meta, target
from airflow_dag_publisher.output import emit_json, info, warn
from airflow_dag_publisher.publisher import Publisher


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "retire", help="retire a package: a tombstone release with no files and no dag_ids")
    options.add_env(p)
    options.add_package(p)
    options.add_bucket(p)
    options.add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    storage, env, package = target(args)
    publisher = Publisher(storage, env, package)
    result = publisher.retire(release_meta(None))
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
