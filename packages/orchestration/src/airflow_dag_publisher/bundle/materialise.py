"""A worker's side of the versioned bundle: make one release of one package exist, verified, in a
folder of its own, from its id alone, through the sync agent's code path.

Where the release comes from, in this order:
1. the sync agent's local copy on this node (`<state>/releases/<package>/<release_id>/`, the scheduler
   under LocalExecutor, a Celery worker beside an agent): its manifest and its files, copied and each
   re-verified; no S3 request;
2. else S3: its manifest under its id (`storage.release_key`, one GET; the package's current
   `manifest.json` when that copy is missing and the current release is the one asked for), then its
   files as the agent builds any release (`sync.fetch.build_release`: the archive or the files by
   their pinned VersionIds, every sha256 checked, the hostile-archive rules).
Either way the manifest passes the agent's checks (schema, env and package, the trust file's
signatures) and the build is the agent's, into a staging directory renamed into place when complete:
a release that cannot be fetched or verified raises `ReleaseUnavailableError` (one line naming the
package, the release and why) and nothing appears at the destination.

No Airflow here: `bundle.release.ReleaseBundle` calls `materialise` from `initialize()`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from airflow_dag_publisher.errors import DagPublisherError, ErrorKind, ManifestError, NotFoundError
from airflow_dag_publisher.manifest import MAX_MANIFEST_BYTES, ReleaseManifest, parse_manifest
from airflow_dag_publisher.names import PACKAGE_RE, RELEASE_ID_RE
from airflow_dag_publisher.signing import signature_problem
from airflow_dag_publisher.storage import Download, Fetched, ManifestListing, Storage, manifest_key, release_key
from airflow_dag_publisher.sync.fetch import Deadline, DownloadPool, build_release
from airflow_dag_publisher.sync.releases import RELEASE_MANIFEST, Layout
from airflow_dag_publisher.sync.trust import Trust

log = logging.getLogger(__name__)
STAGING = ".staging"  # beside the destination: where a release is assembled before its rename


class ReleaseUnavailableError(DagPublisherError):
    """A release a task needs cannot be materialised: not found, not verifiable, or S3 failed. The
    message is one line naming the package, the release and why; the kind is the cause's."""


@dataclass(frozen=True)
class ReleaseSource:
    """Where a package's releases come from: the bucket and environment, the keys trusted to sign
    them (the agent's trust file) and the agent's state folder on this node, if one runs here."""

    bucket: str
    env: str
    trust: Trust
    agent_state: Path | None = None
    timeout: float = 120.0  # the whole materialisation, downloads included
    workers: int = 4


@dataclass(frozen=True)
class Materialised:
    manifest: ReleaseManifest
    local: bool        # came from the agent's copy on this node (no S3 request)
    requests: int      # S3 requests sent
    downloaded: int    # files fetched from S3 (as the archive or one by one)


def materialise(source: ReleaseSource, package: str, release_id: str, dest: Path,
                storage: Callable[[], Storage] | None = None) -> Materialised | None:
    """Make `dest` hold release `release_id` of `package` (`dest/<package>/...` and its manifest).
    None when `dest` already holds it (a complete folder: only a finished build is renamed there)."""
    where = f"package {package}, release {release_id}"
    if not PACKAGE_RE.match(package) or not RELEASE_ID_RE.match(release_id):
        raise ReleaseUnavailableError(f"{where}: not a package name and release id", kind=ErrorKind.INVALID)
    if _complete(dest, source.env, package, release_id):
        return None
    remote = _LazyStorage(storage or (lambda: Storage(source.bucket)), source.bucket)
    try:
        manifest, held = _local(source, package, release_id)
        local = manifest is not None
        if manifest is None:
            manifest = _remote_manifest(remote, source.env, package, release_id)
        _check(manifest, source, package, release_id)
        layout = _DestinationLayout(dest)
        layout.staging_dir.mkdir(parents=True, exist_ok=True)
        with DownloadPool(source.workers) as pool:
            built = build_release(remote, layout, manifest, held, pool=pool,
                                  deadline=Deadline(time.monotonic() + source.timeout, threading.Event()))
    except DagPublisherError as exc:
        if _complete(dest, source.env, package, release_id):  # another task on this node finished it first
            return None
        raise ReleaseUnavailableError(f"{where}: {exc}", kind=exc.kind) from None
    except OSError as exc:
        if _complete(dest, source.env, package, release_id):
            return None
        raise ReleaseUnavailableError(f"{where}: cannot write {dest}: {exc.strerror or exc}",
                                      kind=ErrorKind.LOCAL_STORAGE) from None
    return Materialised(manifest, local, remote.requests, built.downloaded_files)


def _read_manifest(root: Path, env: str, package: str) -> ReleaseManifest | None:
    """The manifest a release folder was built from (`manifest.json` in its root), or None."""
    try:
        with open(root / RELEASE_MANIFEST, "rb") as fh:
            body = fh.read(MAX_MANIFEST_BYTES + 1)
        return parse_manifest(body, source=str(root / RELEASE_MANIFEST), env=env, package=package)
    except OSError:
        return None
    except ManifestError as exc:
        log.warning("ignoring %s: %s", root / RELEASE_MANIFEST, exc)
        return None


def _complete(dest: Path, env: str, package: str, release_id: str) -> bool:
    """`dest` holds the release: its manifest names it and every file is there with its size."""
    manifest = _read_manifest(dest, env, package)
    return (manifest is not None and manifest.release_id == release_id
            and _DestinationLayout(dest).release_complete(package, release_id, manifest))


def _local(source: ReleaseSource, package: str, release_id: str) -> tuple[ReleaseManifest | None, dict[str, str]]:
    """The agent's copy of the release on this node: its manifest, and sha256 -> a file holding
    those bytes (build_release copies and re-verifies each, and downloads a file that does not
    verify). Nothing when the agent does not hold it."""
    if source.agent_state is None:
        return None, {}
    layout = Layout(source.agent_state / "dags", source.agent_state)  # only its paths are used
    manifest = _read_manifest(layout.release_path(package, release_id), source.env, package)
    if manifest is None:
        return None, {}
    files = layout.files_path(package, release_id)
    return manifest, {e.sha256: str(files / e.path) for e in manifest.files}


def _remote_manifest(remote: _LazyStorage, env: str, package: str, release_id: str) -> ReleaseManifest:
    """The release's manifest under its id; the package's current manifest when that copy is missing
    and the current release is this one (a release committed before the copies existed)."""
    key = release_key(env, package, release_id)
    obj = remote.get(key, max_bytes=MAX_MANIFEST_BYTES).obj
    if obj is None:
        current = remote.get(manifest_key(env, package), max_bytes=MAX_MANIFEST_BYTES).obj
        if current is not None and f'"release_id": "{release_id}"'.encode() in current.body:
            obj = current
    if obj is None:
        raise NotFoundError(f"{remote.url(key)} does not exist (never published, or published before releases "
                            "were kept by id and no longer current)")
    return parse_manifest(obj.body, source=remote.url(obj.key), env=env, package=package)


def _check(manifest: ReleaseManifest, source: ReleaseSource, package: str, release_id: str) -> None:
    """The agent's checks of a release before it applies one: the id asked for, the trust file's
    signatures, and files to run."""
    if manifest.release_id != release_id:
        raise ManifestError(f"the manifest found names release {manifest.release_id!r}", kind=ErrorKind.INVALID)
    problem = signature_problem(manifest, source.trust.keys_for(package), require=source.trust.require)
    if problem:
        raise ManifestError(problem, kind=ErrorKind.SIGNATURE)
    if manifest.retired:
        raise ManifestError("it retires the package: it has no files to run", kind=ErrorKind.RETIRED)


class _DestinationLayout(Layout):
    """build_release's view of a bundle's versions folder: release `name` of a package is `dest`
    itself (its `<package>/` folder and manifest), assembled in a staging folder beside it."""

    def __init__(self, dest: Path) -> None:
        super().__init__(dest.parent / ".unused-dags", dest.parent)
        self.dest = Path(os.path.abspath(dest))
        self.staging_dir = self.dest.parent / STAGING

    def release_path(self, package: str, name: str) -> Path:
        return self.dest

    def files_path(self, package: str, name: str) -> Path:
        return self.dest / package


class _LazyStorage:
    """The S3 side of `sync.remote.Remote`, created at the first request: a release the agent holds
    on this node needs no client (nor credentials)."""

    def __init__(self, factory: Callable[[], Storage], bucket: str) -> None:
        self._factory = factory
        self._storage: Storage | None = None
        self.bucket = bucket

    def _s3(self) -> Storage:
        if self._storage is None:
            self._storage = self._factory()
        return self._storage

    @property
    def requests(self) -> int:
        return self._storage.requests if self._storage is not None else 0

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    def list_journal(self, env: str, start_after: str | None) -> list[str]:
        return self._s3().list_journal(env, start_after)

    def answers(self, env: str) -> bool:
        return self._s3().answers(env)

    def list_manifests(self, env: str) -> list[ManifestListing]:
        return self._s3().list_manifests(env)

    def get(self, key: str, *, version_id: str | None = None, if_none_match: str | None = None,
            max_bytes: int | None = None) -> Fetched:
        return self._s3().get(key, version_id=version_id, if_none_match=if_none_match, max_bytes=max_bytes)

    def download(self, key: str, version_id: str, dest: str, *, max_bytes: int,
                 check: Callable[[], None] | None = None) -> Download:
        return self._s3().download(key, version_id, dest, max_bytes=max_bytes, check=check)
