"""`airflow-dag-publisher history`: a package's releases, newest first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_dag_publisher.cli import common, toolkit
from airflow_dag_publisher.output import Column, emit_json, info, table, terminal_width, warn
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
    rows = []
    for i, m in enumerate(releases):
        files = "retired" if m.retired else str(len(m.files))
        mark = " (current)" if i == 0 else ""
        origin = f" (promoted from {m.promoted_from.env} {m.promoted_from.release_id})" if m.promoted_from else ""
        rows.append([m.release_id, m.created_at, files, m.published_by or "-", m.image or "-",
                     f"{signed_by(m)}{mark}{origin}"])
    for line in table(COLUMNS, rows, terminal_width()):
        info(line)
    return 0


# Release ids, times and counts are never cut; who published and the image are elided in their middle;
# the signer (and the current/promoted notes) wrap; a terminal too narrow for that gets one block per release.
COLUMNS = (Column("RELEASE"), Column("PUBLISHED"), Column("FILES", right=True), Column("BY", minimum=16, elide=True),
           Column("IMAGE", minimum=24, elide=True), Column("SIGNED BY", minimum=20))
