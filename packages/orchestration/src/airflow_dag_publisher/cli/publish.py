"""`airflow-dag-publisher publish`: validate the source folder and publish it as a new release."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_dag_publisher.cli import common, toolkit, waiting
from airflow_dag_publisher.output import Progress, emit_json, info, warn
from airflow_dag_publisher.publisher import Publisher, PublishOptions, PublishResult, Validation
from airflow_dag_publisher.signing import signed_by
from airflow_dag_publisher.sources import DEFAULT_MAX_FILE_BYTES


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(
        sub, "publish", help="validate and publish a package's DAG folder as a new release",
        description="Validate the source folder (the conventions and a real Airflow parse), upload the files "
        "that changed and commit a new release manifest conditionally on the one read. Unchanged content is a "
        "no-op. With --wait, wait until Airflow has parsed the release from its files.",
        examples=["--env dev --package orders_report --bucket acme-airflow-dags-dev --source airflow_dags --dry-run",
                  "--env dev --package orders_report --bucket acme-airflow-dags-dev --source airflow_dags "
                  "--image registry.example.com/data/orders-report:2.0.1 --json",
                  "--env dev --package orders_report --bucket acme-airflow-dags-dev --wait 300 --rollback-on-failure"],
        exits={1: "refused: validation failed, a guardrail, a dag_id another package owns, a lost race, or "
               "(--wait) a release Airflow could not import",
               3: "storage or network error, worth retrying; with --wait, Airflow did not confirm in time (the "
               "release is committed)"})
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


def publish(target: common.Target, *, source: str, image: str | None, packages_file: Path | None,
            spec: Path | None, dry_run: bool, guardrails: common.Guardrails, max_file_size: int,
            skip_dynamic_validation: bool, signing_key: str | None, wait: waiting.WaitOptions, as_json: bool) -> int:
    storage, env, package = target.open()
    folder = Path(source)
    options = PublishOptions(
        validation=Validation.STATIC if skip_dynamic_validation else Validation.FULL,
        allow_empty=guardrails.allow_empty, max_delete=guardrails.max_delete, max_file_bytes=max_file_size,
        dry_run=dry_run, packages_file=packages_file, spec=spec)
    api = waiting.airflow_api(wait, dry_run=dry_run)
    progress = Progress("uploading")
    publisher = Publisher(storage, env, package, on_upload=lambda _path, total: progress.advance(total),
                          signer=common.signer_from_option(signing_key))
    try:
        result = publisher.publish(folder, common.release_meta(image, folder), options)
    finally:
        progress.close()
    for w in result.warnings:
        warn(w)
    doc = result.to_dict()
    if api is not None and not as_json:
        render(publisher.url, result)  # the commit is reported before the wait starts
    confirmation = waiting.wait_for(wait, api, publisher, result, doc)
    if as_json:
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
