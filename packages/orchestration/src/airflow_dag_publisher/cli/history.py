"""`airflow-dag-publisher history`: a package's releases, newest first."""

from __future__ import annotations

import argparse
from typing import Any

from airflow_dag_publisher.catalog import read_history
from airflow_dag_publisher.cli import options
from airflow_dag_publisher.cli.common import target
from airflow_dag_publisher.output import emit_json, info, warn


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("history", help="list a package's releases, newest first")
    options.add_env(p)
    options.add_package(p)
    options.add_bucket(p)
    options.add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    storage, env, package = target(args)
    releases, warnings = read_history(storage, env, package)
    for w in warnings:
        warn(w)
    if args.json:
        emit_json([m.to_dict() for m in releases])
        return 0
    if not releases:
        info(f"s3://{storage.bucket}/{env}/{package}/: no releases")
        return 0
    info(f"{'RELEASE':30} {'PUBLISHED':21} {'FILES':>5}  {'BY':30} IMAGE")
    for i, m in enumerate(releases):
        files = "retired" if m.retired else str(len(m.files))
        mark = " (current)" if i == 0 else ""
        info(f"{m.release_id:30} {m.created_at:21} {files:>5}  {m.published_by[:30]:30} {m.image or '-'}{mark}")
    return 0
