"""`airflow-dag-publisher list`: the packages of an environment and their current releases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_dag_publisher.cli import common, toolkit
from airflow_dag_publisher.output import emit_json, info, warn
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
    info(f"{'PACKAGE':24} {'RELEASE':30} {'PUBLISHED':21} {'IMAGE':48} DAG_IDS")
    for r in rows:
        dags = "(retired)" if r["retired"] else ", ".join(r["dag_ids"]) or "-"  # type: ignore[arg-type]
        info(f"{r['package']:24} {r['release_id']:30} {r['created_at']:21} {r['image'] or '-':48} {dags}")
    return 0
