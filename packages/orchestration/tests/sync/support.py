"""Test helpers for the sync agent: a direct publisher (files, manifest, journal entry written
through Storage, hostile manifests included), an in-memory bucket behind the agent's Remote
interface, and a reader of what a DAGs folder exposes."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_dag_publisher.archive import archive_ref, build_archive
from airflow_dag_publisher.environments import EnvironmentSettings
from airflow_dag_publisher.errors import NotFoundError
from airflow_dag_publisher.manifest import ArchiveRef, FileEntry, ReleaseManifest, new_release_id, utc_now_iso
from airflow_dag_publisher.storage import (
    Download,
    Fetched,
    ManifestListing,
    Storage,
    StoredObject,
    archive_key,
    dag_key,
    environment_key,
    journal_key,
    journal_prefix,
    manifest_key,
    parse_manifest_key,
    release_key,
)

ENV = "dev"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_manifest(package: str, entries: list[FileEntry], *, env: str = ENV, retired: bool = False,
                  previous: str | None = None, archive: ArchiveRef | None = None,
                  dag_ids: tuple[str, ...] | None = None) -> ReleaseManifest:
    return ReleaseManifest(env=env, package=package, release_id=new_release_id(), created_at=utc_now_iso(),
                           files=tuple(sorted(entries, key=lambda e: e.path)), retired=retired,
                           previous_release_id=previous, published_by="tests", archive=archive,
                           dag_ids=() if retired else (dag_ids if dag_ids is not None else (f"{package}_dag",)))


class DirectPublisher:
    """Writes releases the way the publisher does (files, then manifest, then journal entry)."""

    def __init__(self, storage: Storage, env: str = ENV) -> None:
        """Declares `env` (its `_environment.json`, as the infrastructure does) unless it exists."""
        self.storage = storage
        self.env = env
        self._last_ms = 0
        if storage.get(environment_key(env)).missing:
            storage.put(environment_key(env), EnvironmentSettings(env).to_json())

    def publish(self, package: str, files: dict[str, bytes], *, journal: bool = True, archive: bool = False,
                mutate: Callable[[ReleaseManifest], ReleaseManifest] | None = None) -> ReleaseManifest:
        """With `archive`, also the release's archive (as the publisher uploads it), pinned."""
        entries = []
        for path, data in sorted(files.items()):
            put = self.storage.put(dag_key(self.env, package, path), data)
            entries.append(FileEntry(path=path, sha256=sha256(data), size=len(data), version_id=put.version_id))
        ref = None
        if archive and files:
            body = build_archive(files.items())
            stored = self.storage.put(archive_key(self.env, package), body)
            assert stored.version_id is not None
            ref = archive_ref(stored.version_id, body)
        manifest = make_manifest(package, entries, env=self.env, archive=ref)
        if mutate:
            manifest = mutate(manifest)
        self.keep(manifest)
        self.commit(package, manifest.to_json(), journal=journal)
        return manifest

    def retire(self, package: str, *, journal: bool = True) -> ReleaseManifest:
        manifest = make_manifest(package, [], env=self.env, retired=True)
        self.keep(manifest)
        self.commit(package, manifest.to_json(), journal=journal)
        return manifest

    def keep(self, manifest: ReleaseManifest) -> None:
        """The release's manifest under its id, as the publisher keeps it before the commit."""
        self.storage.put(release_key(self.env, manifest.package, manifest.release_id), manifest.to_json())

    def commit(self, package: str, body: bytes, *, journal: bool = True) -> None:
        self.storage.put(manifest_key(self.env, package), body, content_type="application/json")
        if journal:
            self.journal(package)

    def journal(self, package: str) -> str:
        ms = max(int(time.time() * 1000), self._last_ms + 1)
        self._last_ms = ms
        key = journal_key(self.env, package, ms)
        self.storage.put(key, b"")
        return key


def folder_view(dags: Path) -> dict[str, dict[str, bytes]]:
    """What Airflow would read: package -> {relative path: bytes}, following the links."""
    view: dict[str, dict[str, bytes]] = {}
    for entry in sorted(dags.iterdir()):
        if entry.name == ".airflowignore":  # the agent's own, not a package
            continue
        files: dict[str, bytes] = {}
        for root, _dirs, names in os.walk(entry, followlinks=True):
            for name in names:
                full = Path(root) / name
                files[str(full.relative_to(entry))] = full.read_bytes()
        view[entry.name] = files
    return view


# -- an in-memory bucket behind the agent's Remote interface ----------------------------------------
@dataclass
class MemoryRemote:
    """Versioned objects in memory; `fail` makes every call raise (S3 down)."""

    bucket: str = "memory"
    objects: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)  # key -> [(version, body)]
    requests: int = 0
    fail: Exception | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _n: int = 0
    last_ms: int = 0

    def _tick(self) -> None:
        with self._lock:
            self.requests += 1
        if self.fail is not None:
            raise self.fail

    def put(self, key: str, body: bytes) -> StoredObject:
        with self._lock:
            self._n += 1
            version = f"v{self._n}"
        self.objects.setdefault(key, []).append((version, body))
        return StoredObject(key=key, etag=f'"{version}"', body=b"", version_id=version)

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def answers(self, env: str) -> bool:
        try:
            self._tick()
        except Exception:
            return False
        return True

    def list_journal(self, env: str, start_after: str | None) -> list[str]:
        self._tick()
        prefix = journal_prefix(env)
        return sorted(k for k in self.objects if k.startswith(prefix) and (start_after is None or k > start_after))

    def list_manifests(self, env: str) -> list[ManifestListing]:
        self._tick()
        found = []
        for key, versions in sorted(self.objects.items()):
            package = parse_manifest_key(env, key)
            if package is not None:
                found.append(ManifestListing(package=package, key=key, etag=f'"{versions[-1][0]}"'))
        return found

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    def get(self, key: str, *, version_id: str | None = None, if_none_match: str | None = None,
            max_bytes: int | None = None) -> Fetched:
        self._tick()
        versions = self.objects.get(key, [])
        if version_id is not None:
            versions = [v for v in versions if v[0] == version_id]
            if not versions:
                raise NotFoundError(f"s3://{self.bucket}/{key} version {version_id} not found")
        if not versions:
            return Fetched(None)
        version, body = versions[-1]
        if if_none_match == f'"{version}"':
            return Fetched(None, unchanged=True)
        cut = body if max_bytes is None else body[: max_bytes + 1]
        return Fetched(StoredObject(key=key, etag=f'"{version}"', body=cut, version_id=version))

    def download(self, key: str, version_id: str, dest: str, *, max_bytes: int,
                 check: Callable[[], None] | None = None) -> Download:
        self._tick()
        if check is not None:
            check()
        for version, body in self.objects.get(key, []):
            if version == version_id:
                data = body[: max_bytes + 1]
                with open(dest, "xb") as fh:
                    fh.write(data)
                return Download(sha256=sha256(data), size=len(data))
        raise NotFoundError(f"s3://{self.bucket}/{key} version {version_id} not found")


def memory_publish(remote: MemoryRemote, package: str, files: dict[str, bytes], *, env: str = ENV,
                   journal: bool = True, archive: bool | bytes = False, **kwargs: Any) -> ReleaseManifest:
    """A release written into the in-memory bucket. `archive`: True for the release's archive as the
    publisher builds it, or the archive's bytes (a hostile one), pinned by version, sha256 and size."""
    entries = []
    for path, data in sorted(files.items()):
        put = remote.put(dag_key(env, package, path), data)
        entries.append(FileEntry(path=path, sha256=sha256(data), size=len(data), version_id=put.version_id))
    if archive is not False:
        body = build_archive(files.items()) if archive is True else archive
        stored = remote.put(archive_key(env, package), body)
        assert stored.version_id is not None
        kwargs["archive"] = archive_ref(stored.version_id, body)
    manifest = make_manifest(package, entries, env=env, **kwargs)
    memory_commit(remote, package, manifest.to_json(), env=env, journal=journal)
    return manifest


def memory_commit(remote: MemoryRemote, package: str, body: bytes, *, env: str = ENV, journal: bool = True) -> None:
    remote.put(manifest_key(env, package), body)
    if journal:
        remote.last_ms = max(int(time.time() * 1000), remote.last_ms + 1)
        remote.put(journal_key(env, package, remote.last_ms), b"")
