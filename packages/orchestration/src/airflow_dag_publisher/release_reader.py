"""Reading releases from the bucket: the current manifest of a package, the other packages of an
environment, a package's history (the object versions of its manifest.json)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from airflow_dag_publisher.errors import ManifestError, VerificationError
from airflow_dag_publisher.manifest import FileEntry, ReleaseManifest, parse_manifest
from airflow_dag_publisher.storage import ManifestListing, Storage, dag_key, manifest_key


@dataclass(frozen=True)
class CurrentRelease:
    """The committed manifest of a package and the ETag a conditional commit must match."""

    manifest: ReleaseManifest | None  # None: never published, or unreadable (see `problem`)
    etag: str | None  # None: no manifest object at all (first publish)
    problem: str | None = None

    @property
    def release_id(self) -> str | None:
        return self.manifest.release_id if self.manifest else None

    @property
    def live_files(self) -> dict[str, FileEntry]:
        """The files a consumer holds now: none for a tombstone or an unreadable manifest."""
        return self.manifest.file_map() if self.manifest and not self.manifest.retired else {}


@dataclass(frozen=True)
class Environment:
    """The other packages of an environment: their current manifests, and a warning per manifest
    that cannot be read or parsed (one package's broken state never blocks another)."""

    manifests: dict[str, ReleaseManifest] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def read_current(storage: Storage, env: str, package: str) -> CurrentRelease:
    key = manifest_key(env, package)
    obj = storage.get(key).obj
    if obj is None:
        return CurrentRelease(None, None)
    try:
        return CurrentRelease(parse_manifest(obj.body, source=storage.url(key), env=env, package=package), obj.etag)
    except ManifestError as exc:
        return CurrentRelease(None, obj.etag, str(exc))


def read_manifests(storage: Storage, env: str, listing: Sequence[ManifestListing], *,
                   skip: str | None = None) -> Environment:
    """The manifests a listing names (except `skip`'s), each parsed and checked."""
    manifests: dict[str, ReleaseManifest] = {}
    warnings: list[str] = []
    for entry in listing:
        if entry.package == skip:
            continue
        obj = storage.get(entry.key).obj
        if obj is None:
            continue
        try:
            manifests[entry.package] = parse_manifest(obj.body, source=storage.url(entry.key), env=env,
                                                      package=entry.package)
        except ManifestError as exc:
            warnings.append(f"skipping package {entry.package!r}: {exc}")
    return Environment(manifests, tuple(warnings))


def read_environment(storage: Storage, env: str, *, skip: str | None = None) -> Environment:
    """Every package's current manifest in `env` (except `skip`): one listing, then one GET each."""
    return read_manifests(storage, env, storage.list_manifests(env), skip=skip)


def _releases(storage: Storage, env: str, package: str) -> Iterator[ReleaseManifest | ManifestError]:
    """The versions of a package's manifest.json, newest first, each parsed (or why it cannot be),
    read one GET at a time as the caller walks: the caller stops the walk."""
    key = manifest_key(env, package)
    for version in storage.list_versions(key):
        if version.is_delete_marker:
            continue
        obj = storage.get(key, version_id=version.version_id).obj
        if obj is None:
            continue
        try:
            yield parse_manifest(obj.body, source=f"{storage.url(key)}?versionId={version.version_id}", env=env,
                                 package=package)
        except ManifestError as exc:
            yield exc


def read_history(storage: Storage, env: str, package: str, *, limit: int | None = None
                 ) -> tuple[list[ReleaseManifest], list[str]]:
    """Releases of a package, newest first, from the versions of its manifest.json (at most `limit`:
    the walk stops there, so a long history costs no more than the releases shown)."""
    releases: list[ReleaseManifest] = []
    warnings: list[str] = []
    if limit is not None and limit <= 0:
        return releases, warnings
    for release in _releases(storage, env, package):
        if isinstance(release, ManifestError):
            warnings.append(f"skipping an unreadable version: {release}")
        else:
            releases.append(release)
        if limit is not None and len(releases) >= limit:
            break
    return releases, warnings


def find_release(storage: Storage, env: str, package: str, release_id: str) -> ReleaseManifest | None:
    """One release of a package by its id: the manifest versions are read newest first and the
    walk stops at the match (a recent release costs one listing page and a few GETs)."""
    for release in _releases(storage, env, package):
        if isinstance(release, ReleaseManifest) and release.release_id == release_id:
            return release
    return None


def read_file(storage: Storage, manifest: ReleaseManifest, entry: FileEntry) -> bytes:
    """The bytes of one file of a release, by the version its manifest pins, checked against its sha256."""
    key = dag_key(manifest.env, manifest.package, entry.path)
    obj = storage.get(key, version_id=entry.version_id, max_bytes=entry.size).obj
    body = obj.body if obj is not None else b""
    if len(body) != entry.size or hashlib.sha256(body).hexdigest() != entry.sha256:
        raise VerificationError(f"{storage.url(key)}?versionId={entry.version_id}: the bytes do not match the "
                                f"sha256 release {manifest.release_id} pins")
    return body
