"""`airflow-dag-publisher show`: one release's manifest in human form (who, when, image, git sha,
files, dag_ids, signer, where it was promoted from)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_dag_publisher.cli import common, toolkit
from airflow_dag_publisher.errors import ErrorKind, RefusedError, UsageError
from airflow_dag_publisher.manifest import ReleaseManifest
from airflow_dag_publisher.output import emit_json, info
from airflow_dag_publisher.release_reader import find_release, read_current
from airflow_dag_publisher.storage import Storage


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(
        sub, "show", help="show one release of a package (default: the current one)",
        description="One release in human form: who published it and when, its image and git sha, where it was "
        "promoted from, who signed it, its content digest, dag_ids and files. --json prints the manifest.",
        examples=["--env dev --package orders_report --bucket acme-airflow-dags-dev",
                  "--env dev --package orders_report --bucket acme-airflow-dags-dev 20261127T101500Z-3f2a9c1b7d0e "
                  "--json"],
        exits={1: "refused: the package has no release", 2: "usage or configuration error; also a RELEASE that "
               "is not in the package's history"})
    o = toolkit.Options(p, environ)
    common.add_target(o)
    p.add_argument("release", nargs="?", metavar="RELEASE", default=None,
                   help="a release id (see `history`); default: the current release")
    common.add_json(o)


def release_or_current(storage: Storage, env: str, package: str, release_id: str | None) -> ReleaseManifest:
    """A release by id, or the current one; a refusal (exit 1) names what is missing."""
    url = storage.url(f"{env}/{package}/")
    if release_id is None:
        current = read_current(storage, env, package)
        if current.manifest is None:
            raise RefusedError(current.problem or f"{url}: package {package!r} has no release",
                               kind=ErrorKind.NO_RELEASE)
        return current.manifest
    found = find_release(storage, env, package, release_id)
    if found is None:
        raise UsageError(f"{url}: no release {release_id!r} in the history of {package!r} (see `history`)",
                         kind=ErrorKind.UNKNOWN_RELEASE)
    return found


def show(target: common.Target, release: str | None, *, as_json: bool) -> int:
    storage, env, package = target.open(existing=True)
    manifest = release_or_current(storage, env, package, release)
    if as_json:
        emit_json(manifest.to_dict())
        return 0
    for line in describe(manifest):
        info(line)
    return 0


def describe(m: ReleaseManifest) -> list[str]:
    signer = f"{m.signature.key_id} ({m.signature.algorithm})" if m.signature else "unsigned"
    promoted = f"{m.promoted_from.env} release {m.promoted_from.release_id}" if m.promoted_from else "-"
    lines = [
        f"release        {m.release_id}" + ("  (retired: a tombstone)" if m.retired else ""),
        f"package        {m.package} in {m.env}",
        f"published      {m.created_at} by {m.published_by or '-'}",
        f"image          {m.image or '-'}",
        f"git sha        {m.git_sha or '-'}",
        f"tool           airflow-dag-publisher {m.tool_version or '-'}",
        f"previous       {m.previous_release_id or '- (first release)'}",
        f"promoted from  {promoted}",
        f"signed by      {signer}",
        f"content        {m.content_digest}",
    ]
    if m.archive:
        lines.append(f"archive        dags.tar.gz, {m.archive.size} bytes, sha256 {m.archive.sha256}")
    lines.append(f"dag_ids        {', '.join(m.dag_ids) or '-'}")
    lines.append(f"files          {len(m.files)}")
    width = max((len(str(f.size)) for f in m.files), default=1)
    lines.extend(f"  {f.sha256[:12]}  {f.size:>{width}}  {f.path}" for f in m.files)
    return lines
