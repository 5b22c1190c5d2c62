"""`airflow-dag-publisher list`: the packages of an environment and their current releases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_dag_publisher.cli import common, toolkit
from airflow_dag_publisher.output import Column, emit_json, info, table, terminal_width, warn
from airflow_dag_publisher.release_reader import read_environment


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(
        sub, "list", help="list packages, releases and dag_ids of an environment",
        description="The packages of an environment with their current release, publication time, image and "
        "dag_ids, read from each package's manifest.json.",
        examples=["--env dev --bucket acme-airflow-dags-dev",
                  "--env dev --bucket acme-airflow-dags-dev --package orders_report --json"])
    o = toolkit.Options(p, environ)
    common.add_env(o)
    common.add_bucket(o)
    p.add_argument("--package", default=None, help="only this package")
    common.add_json(o)


def list_packages(target: common.Target, *, as_json: bool) -> int:
    storage, env, package = target.open(package=False, existing=True)
    environment = read_environment(storage, env)
    for w in environment.warnings:
        warn(w)
    rows = [
        {"package": m.package, "release_id": m.release_id, "dag_ids": list(m.dag_ids),
         "created_at": m.created_at, "retired": m.retired, "image": m.image}
        for name, m in sorted(environment.manifests.items()) if not package or name == package
    ]
    if as_json:
        emit_json(rows)
        return 0
    if not rows:
        info(f"no packages published in {storage.url(f'{env}/')}" + (f" named {package!r}" if package else ""))
        return 0
    cells = [[str(r["package"]), str(r["release_id"]), str(r["created_at"]), str(r["image"] or "-"),
              "(retired)" if r["retired"] else ", ".join(r["dag_ids"]) or "-"]  # type: ignore[arg-type]
             for r in rows]
    for line in table(COLUMNS, cells, terminal_width()):
        info(line)
    return 0


# The table: ids and times are never cut; an image is elided in its middle (registry…name:tag); the
# dag_ids wrap onto more lines of their row; a terminal too narrow for that gets one block per package.
COLUMNS = (Column("PACKAGE"), Column("RELEASE"), Column("PUBLISHED"), Column("IMAGE", minimum=24, elide=True),
           Column("DAG_IDS", minimum=16, items=True))
