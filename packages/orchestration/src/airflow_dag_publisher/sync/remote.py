"""What the agent reads from S3, as a small interface: the real one goes through storage.py (the
only module that talks to S3); tests can put an in-memory bucket behind the same four calls."""

from __future__ import annotations

from typing import Protocol

from airflow_dag_publisher.storage import (
    ConditionalRead,
    Download,
    ManifestListing,
    Storage,
    download_version,
    get_if_changed,
)


class Remote(Protocol):
    bucket: str

    @property
    def requests(self) -> int: ...

    def list_journal(self, env: str, start_after: str | None) -> list[str]: ...

    def list_manifests(self, env: str) -> list[ManifestListing]: ...

    def get_if_changed(self, key: str, etag: str | None, *, max_bytes: int) -> ConditionalRead: ...

    def download(self, key: str, version_id: str, dest: str, *, max_bytes: int) -> Download: ...


class S3Remote:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.bucket = storage.bucket

    @property
    def requests(self) -> int:
        return self.storage.requests

    def list_journal(self, env: str, start_after: str | None) -> list[str]:
        return self.storage.list_journal(env, start_after)

    def list_manifests(self, env: str) -> list[ManifestListing]:
        return self.storage.list_manifests(env)

    def get_if_changed(self, key: str, etag: str | None, *, max_bytes: int) -> ConditionalRead:
        return get_if_changed(self.storage, key, etag, max_bytes=max_bytes)

    def download(self, key: str, version_id: str, dest: str, *, max_bytes: int) -> Download:
        return download_version(self.storage, key, version_id, dest, max_bytes=max_bytes)
