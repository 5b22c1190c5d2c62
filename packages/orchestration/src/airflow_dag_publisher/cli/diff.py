"""`airflow-dag-publisher diff`: what changed between two releases of a package, or between a
release and a local folder: added/changed/removed files and a unified diff of each text file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_dag_publisher.cli import common, toolkit
from airflow_dag_publisher.cli.show import release_or_current
from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.output import emit_json, info
from airflow_dag_publisher.release_diff import ReleaseDiff, diff_releases, render
from airflow_dag_publisher.release_reader import read_file
from airflow_dag_publisher.sources import DEFAULT_MAX_FILE_BYTES, read_source


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(
        sub, "diff", help="what changed between two releases, or a release and a local folder",
        description="FROM and TO are release ids (see `history`); TO defaults to the current release. With "
        "--source DIR, compares release FROM (default: the current one) with the folder DIR instead. Prints "
        "the added, changed and removed files and dag_ids, then a unified diff of each text file.",
        examples=["--env dev --package orders_report --bucket acme-airflow-dags-dev 20261127T101500Z-3f2a9c1b7d0e",
                  "--env dev --package orders_report --bucket acme-airflow-dags-dev --source airflow_dags --stat"],
        exits={1: "refused: the package has no release", 2: "usage or configuration error; also a FROM or TO "
               "that is not in the package's history"})
    o = toolkit.Options(p, environ)
    common.add_target(o)
    p.add_argument("from_release", nargs="?", metavar="FROM", default=None, help="the older release")
    p.add_argument("to_release", nargs="?", metavar="TO", default=None, help="the newer release (default: current)")
    p.add_argument("--source", metavar="DIR", default=None, help="compare with this local folder (as `publish` "
                   "would read it) instead of a release")
    p.add_argument("--stat", action="store_true", help="the file list only, without the text diffs")
    common.add_json(o)


def diff(target: common.Target, from_release: str | None, to_release: str | None, *, source: str | None,
         stat: bool, as_json: bool) -> int:
    storage, env, package = target.open(existing=True)
    if source is not None and to_release is not None:
        raise UsageError("diff: give TO or --source, not both")
    if source is None and from_release is None:
        raise UsageError("diff: FROM is required (a release id; see `history`), or --source DIR")
    old = release_or_current(storage, env, package, from_release)
    if source is not None:
        local = read_source(Path(source), max_file_bytes=DEFAULT_MAX_FILE_BYTES * 64)
        by_path = {f.path: f for f in local}
        changes = diff_releases(old.file_map(), by_path, lambda p: read_file(storage, old, old.file_map()[p]),
                                lambda p: by_path[p].data, from_label=old.release_id, to_label=source)
        extra: dict[str, Any] = {"from": old.release_id, "to": {"source": source}}
    else:
        new = release_or_current(storage, env, package, to_release)
        changes = diff_releases(old.file_map(), new.file_map(), lambda p: read_file(storage, old, old.file_map()[p]),
                                lambda p: read_file(storage, new, new.file_map()[p]), from_label=old.release_id,
                                to_label=new.release_id, old_dag_ids=old.dag_ids, new_dag_ids=new.dag_ids)
        extra = {"from": old.release_id, "to": new.release_id}
    changes = ReleaseDiff(changes.from_label, changes.to_label, changes.files, changes.unchanged,
                          changes.dag_ids_added, changes.dag_ids_removed, extra)
    if as_json:
        emit_json(changes.to_dict())
        return 0
    for line in render(changes, text=not stat):
        info(line)
    return 0
