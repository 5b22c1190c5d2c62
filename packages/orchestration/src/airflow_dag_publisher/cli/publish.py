"""`airflow-dag-publisher publish`: validate the source folder and publish it as a new release."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from airflow_dag_publisher.cli import options
from airflow_dag_publisher.cli.common import release_meta, target
from airflow_dag_publisher.errors import RefusedError, UsageError
from airflow_dag_publisher.output import Progress, emit_json, info, warn
from airflow_dag_publisher.publisher import Publisher
from airflow_dag_publisher.sources import DEFAULT_MAX_FILE_BYTES, read_source
from airflow_dag_publisher.validators import validate_source


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "publish", help="validate and publish a package's DAG folder as a new release",
        description="Validate the source folder, upload changed files and commit a new release manifest. "
                    "Unchanged content is a no-op.")
    options.add_env(p)
    options.add_package(p)
    options.add_bucket(p)
    options.add_source(p)
    options.add_image(p)
    p.add_argument("--dry-run", action="store_true", help="print the plan (added, changed, deleted, unchanged); "
                   "write nothing")
    p.add_argument("--allow-empty", action="store_true", help="allow a release with no files")
    p.add_argument("--max-delete", type=int, default=None, metavar="N",
                   help="refuse a release that deletes more than N files")
    p.add_argument("--max-file-size", type=int, default=DEFAULT_MAX_FILE_BYTES, metavar="BYTES",
                   help=f"refuse files larger than this (default {DEFAULT_MAX_FILE_BYTES})")
    p.add_argument("--skip-dynamic-validation", action="store_true",
                   help="validate statically only (when `validate --require-airflow` already ran)")
    options.add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    storage, env, package = target(args)
    if args.max_delete is not None and args.max_delete < 0:
        raise UsageError("--max-delete must be 0 or more")
    if args.max_file_size <= 0:
        raise UsageError("--max-file-size must be positive")
    source = Path(args.source)
    files = read_source(source, max_file_bytes=args.max_file_size)
    # The environment's other packages, so an import of their modules is caught (one cheap listing).
    others = {listing.package for listing in storage.list_manifests(env)} - {package}
    report = validate_source(source, package, dynamic=not args.skip_dynamic_validation, other_packages=others)
    if not report.ok:
        lines = [f"{f.file}: {f.rule}: {f.message}" for f in report.errors()]
        raise RefusedError(f"validation of {source} failed; nothing was published:\n  " + "\n  ".join(lines))
    quiet = bool(args.json)
    progress = Progress(len(files), "uploading")
    publisher = Publisher(storage, env, package, on_upload=lambda _path: progress.advance())
    if args.dry_run:
        current, plan, warnings = publisher.prepare(files, report.all_dag_ids, allow_empty=args.allow_empty,
                                                    max_delete=args.max_delete)
        for w in warnings:
            warn(w)
        doc = {"dry_run": True, **plan.to_dict(),
               "current_release_id": current.manifest.release_id if current.manifest else None,
               "dag_ids": report.all_dag_ids}
        if quiet:
            emit_json(doc)
        else:
            for kind, paths in plan.to_dict().items():
                for path in paths:
                    info(f"{kind:9} {path}")
            info(f"dry run: {len(plan.added)} added, {len(plan.changed)} changed, {len(plan.deleted)} deleted, "
                 f"{len(plan.unchanged)} unchanged; nothing written")
        return 0
    try:
        result = publisher.publish(files, report.all_dag_ids, release_meta(args.image, source),
                                   allow_empty=args.allow_empty, max_delete=args.max_delete)
    finally:
        progress.close()
    for w in result.warnings:
        warn(w)
    if quiet:
        emit_json(result.to_dict())
    elif result.noop:
        info(f"{publisher.url}: unchanged, release {result.release_id} stays current (no-op)")
    else:
        d = result.to_dict()
        info(f"{publisher.url}: published release {result.release_id} ({d['uploaded']} uploaded, "
             f"{d['deleted']} deleted, {d['unchanged']} unchanged; dag_ids: {', '.join(report.all_dag_ids) or '-'})")
    return 0
