"""`airflow-dag-publisher publish`: validate the source folder and publish it as a new release."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_dag_publisher.cli import common, toolkit, waiting
from airflow_dag_publisher.output import Progress, emit_json, info, warn
from airflow_dag_publisher.publisher import Publisher, PublishOptions, PublishResult, Validation
from airflow_dag_publisher.signing import signed_by
from airflow_dag_publisher.sources import DEFAULT_MAX_FILE_BYTES


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(sub, "publish", help="validate and publish a package's DAG folder as a new release",
                        description="Validate the source folder, upload changed files and commit a new release "
                        "manifest. Unchanged content is a no-op.")
    o = toolkit.Options(p, environ)
    common.add_target(o)
    common.add_source(o)
    common.add_image(o)
    common.add_packages_file(o)
    o.add("--spec", env="DAG_SPEC", type=Path, metavar="FILE", help="the jobs.yaml the DAG files were generated "
          "from: the release carries it as jobs.yaml (a spec-only package must: its release is checked to be "
          "exactly the spec and what `generate --spec` renders from it)")
    p.add_argument("--dry-run", action="store_true", help="print the plan (added, changed, deleted, unchanged); "
                   "write nothing")
    common.add_guardrails(o, "a release")
    p.add_argument("--max-file-size", type=toolkit.number(int), default=DEFAULT_MAX_FILE_BYTES, metavar="BYTES",
                   help=f"refuse files larger than this (default {DEFAULT_MAX_FILE_BYTES})")
    p.add_argument("--skip-dynamic-validation", action="store_true",
                   help="validate statically only (when `validate --require-airflow` already ran)")
    common.add_signing_key(o)
    waiting.add_wait(o)
    common.add_json(o)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    storage, env, package = common.target(args)
    source = Path(args.source)
    options = PublishOptions(
        validation=Validation.STATIC if args.skip_dynamic_validation else Validation.FULL,
        allow_empty=args.allow_empty, max_delete=args.max_delete, max_file_bytes=args.max_file_size,
        dry_run=args.dry_run, packages_file=args.packages_file, spec=args.spec)
    wait = waiting.WaitOptions.of(args)
    api = waiting.airflow_api(wait, dry_run=args.dry_run)
    progress = Progress("uploading")
    publisher = Publisher(storage, env, package, on_upload=lambda _path, total: progress.advance(total),
                          signer=common.signer_from_option(args.signing_key))
    try:
        result = publisher.publish(source, common.release_meta(args.image, source), options)
    finally:
        progress.close()
    for w in result.warnings:
        warn(w)
    doc = result.to_dict()
    if api is not None and not args.json:
        render(publisher.url, result)  # the commit is reported before the wait starts
    confirmation = waiting.wait_for(wait, api, publisher, result, doc)
    if args.json:
        emit_json(doc)
    elif api is None:
        render(publisher.url, result)
    else:
        info(waiting.live_line(confirmation, result.dag_ids) or "")
    return 0


def render(url: str, result: PublishResult) -> None:
    if result.dry_run:
        for kind, paths in result.plan.to_dict().items():
            for path in paths:
                info(f"{kind:9} {path}")
        plan = result.plan
        info(f"dry run: {len(plan.added)} added, {len(plan.changed)} changed, {len(plan.deleted)} deleted, "
             f"{len(plan.unchanged)} unchanged; nothing written")
    elif result.noop:
        info(f"{url}: unchanged, release {result.release_id} stays current (no-op)")
    else:
        d = result.to_dict()
        info(f"{url}: published release {result.release_id} ({d['uploaded']} uploaded, {d['deleted']} deleted, "
             f"{d['unchanged']} unchanged; dag_ids: {', '.join(result.dag_ids) or '-'})")
        if result.manifest is not None and result.manifest.signature is not None:
            info(f"signed by {signed_by(result.manifest)}")
