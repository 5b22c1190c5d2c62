"""What the agent reads from S3, as one small protocol. `storage.Storage` (the only module that
talks to S3) satisfies it as it is; tests put an in-memory bucket behind the same calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from airflow_dag_publisher.storage import Download, Fetched, ManifestListing


class Remote(Protocol):
    bucket: str

    @property
    def requests(self) -> int: ...

    def url(self, key: str = "") -> str: ...

    def list_journal(self, env: str, start_after: str | None) -> list[str]: ...

    def answers(self, env: str) -> bool: ...

    def list_manifests(self, env: str) -> list[ManifestListing]: ...

    def get(self, key: str, *, version_id: str | None = None, if_none_match: str | None = None,
            max_bytes: int | None = None) -> Fetched: ...

    def download(self, key: str, version_id: str, dest: str, *, max_bytes: int,
                 check: Callable[[], None] | None = None) -> Download: ...
