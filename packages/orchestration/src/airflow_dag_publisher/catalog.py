"""Reading releases from the bucket: the current manifest of a package, the other packages of an
environment, a package's history (the object versions of its manifest.json)."""

from __future__ import annotations

from dataclasses import dataclass

from airflow_dag_publisher.errors import ManifestError
from airflow_dag_publisher.manifest import ReleaseManifest, parse_manifest
from airflow_dag_publisher.storage import Storage, manifest_key


@dataclass(frozen=True)
class CurrentRelease:
    """The committed manifest of a package and the ETag a conditional commit must match."""

    manifest: ReleaseManifest | None  # None: never published, or unreadable (see `problem`)
    etag: str | None  # None: no manifest object at all (first publish)
    problem: str | None = None


def read_current(storage: Storage, env: str, package: str) -> CurrentRelease:
    key = manifest_key(env, package)
    obj = storage.get(key)
    if obj is None:
        return CurrentRelease(None, None)
    try:
        return CurrentRelease(parse_manifest(obj.body, source=f"s3://{storage.bucket}/{key}", env=env,
                                             package=package), obj.etag)
    except ManifestError as exc:
        return CurrentRelease(None, obj.etag, str(exc))


def read_environment(storage: Storage, env: str, *, skip: str | None = None,
                     ) -> tuple[dict[str, ReleaseManifest], list[str]]:
    """Every package's current manifest in `env` (except `skip`), and a warning per manifest that
    cannot be read or parsed: one package's broken state never blocks another."""
    manifests: dict[str, ReleaseManifest] = {}
    warnings: list[str] = []
    for listing in storage.list_manifests(env):
        if listing.package == skip:
            continue
        obj = storage.get(listing.key)
        if obj is None:
            continue
        try:
            manifests[listing.package] = parse_manifest(
                obj.body, source=f"s3://{storage.bucket}/{listing.key}", env=env, package=listing.package)
        except ManifestError as exc:
            warnings.append(f"skipping package {listing.package!r}: {exc}")
    return manifests, warnings


def read_history(storage: Storage, env: str, package: str) -> tuple[list[ReleaseManifest], list[str]]:
    """Releases of a package, newest first, from the versions of its manifest.json."""
    key = manifest_key(env, package)
    releases: list[ReleaseManifest] = []
    warnings: list[str] = []
    for version in storage.list_versions(key):
        if version.is_delete_marker:
            continue
        obj = storage.get(key, version_id=version.version_id)
        if obj is None:
            continue
        try:
            releases.append(parse_manifest(obj.body, source=f"s3://{storage.bucket}/{key}?versionId="
                                           f"{version.version_id}", env=env, package=package))
        except ManifestError as exc:
            warnings.append(f"skipping an unreadable version: {exc}")
    return releases, warnings
