"""`airflow-dag-publisher history`: a package's releases, newest first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_dag_publisher.cli import common, toolkit
from airflow_dag_publisher.output import emit_json, info, warn
from airflow_dag_publisher.release_reader import read_history
from airflow_dag_publisher.signing import signed_by


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(
        sub, "history", help="list a package's releases, newest first",
        description="A package's releases, newest first (the object versions of its manifest.json), with file "
        "count, publisher, image and signer; --json prints the manifests.",
        examples=["--env dev --package orders_report --bucket acme-airflow-dags-dev",
                  "--env dev --package orders_report --bucket acme-airflow-dags-dev --limit 3 --json"])
    o = toolkit.Options(p, environ)
    common.add_target(o)
    p.add_argument("--limit", type=toolkit.number(int), default=None, metavar="N", help="the N newest releases only")
    common.add_json(o)


def history(target: common.Target, *, limit: int | None, as_json: bool) -> int:
    storage, env, package = target.open(existing=True)
    releases, warnings = read_history(storage, env, package, limit=limit)
    for w in warnings:
        warn(w)
    if as_json:
        emit_json([m.to_dict() for m in releases])
        return 0
    if not releases:
        info(f"{storage.url(f'{env}/{package}/')}: no releases")
        return 0
    info(f"{'RELEASE':30} {'PUBLISHED':21} {'FILES':>5}  {'BY':30} {'IMAGE':30} SIGNED BY")
    for i, m in enumerate(releases):
        files = "retired" if m.retired else str(len(m.files))
        mark = " (current)" if i == 0 else ""
        origin = f" (promoted from {m.promoted_from.env} {m.promoted_from.release_id})" if m.promoted_from else ""
        info(f"{m.release_id:30} {m.created_at:21} {files:>5}  {m.published_by[:30]:30} {(m.image or '-'):30} "
             f"{signed_by(m)}{mark}{origin}")
    return 0
