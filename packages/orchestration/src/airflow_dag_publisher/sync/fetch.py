"""Assemble one release directory: reuse files already held (by sha256), download the rest by their
pinned VersionId in parallel, verify every byte, then rename the finished directory into place.
Only complete, verified directories ever appear under <state>/releases."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from airflow_dag_publisher.errors import NotFoundError, StorageError, VerificationError
from airflow_dag_publisher.manifest import MAX_FILE_SIZE, FileEntry, ReleaseManifest
from airflow_dag_publisher.storage import dag_key
from airflow_dag_publisher.sync.planner import plan_files, release_dir_name
from airflow_dag_publisher.sync.releases import Layout, remove_tree, sha256_file
from airflow_dag_publisher.sync.remote import Remote

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2  # how often the cycle's deadline and stop flag are looked at while downloads run


class CycleAborted(StorageError):
    """The cycle ran out of time, or the agent is stopping (SIGTERM, SIGINT)."""

    kind = "aborted"


@dataclass
class Deadline:
    """The end of a cycle (monotonic seconds) and the agent's stop flag, checked between steps and
    before every downloaded chunk."""

    at: float
    stop: threading.Event

    def check(self) -> None:
        if self.stop.is_set():
            raise CycleAborted("stopping: cycle interrupted")
        if time.monotonic() > self.at:
            raise CycleAborted("cycle timed out")


@dataclass(frozen=True)
class Built:
    name: str
    downloaded_files: int = 0
    downloaded_bytes: int = 0
    reused_files: int = 0


def build_release(storage: Remote, layout: Layout, manifest: ReleaseManifest, held: Mapping[str, str], *,
                  workers: int, deadline: Deadline) -> Built:
    """Make <state>/releases/<package>/<digest> hold exactly the manifest's files, verified."""
    package = manifest.package
    name = release_dir_name(manifest)
    final = layout.release_path(package, name)
    if final.is_dir():
        if layout.release_complete(package, name, manifest):
            return Built(name, reused_files=len(manifest.files))
        trash = final.with_name(f".trash-{uuid.uuid4().hex[:8]}")
        os.replace(final, trash)
        log.warning("release directory %s was damaged; rebuilding it", final)
    plan = plan_files(manifest, held)
    staging = Path(tempfile.mkdtemp(prefix=f"{package}-", dir=layout.staging_dir))
    try:
        download = list(plan.download)
        for entry, source in plan.reuse:
            deadline.check()
            if not _reuse(source, staging / entry.path, entry):
                download.append(entry)
        _download_all(storage, manifest, download, staging, workers, deadline)
        for entry in manifest.files:
            os.chmod(staging / entry.path, 0o444)
        deadline.check()
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, final)
    except BaseException:
        remove_tree(staging)
        raise
    return Built(name, len(download), sum(e.size for e in download), len(manifest.files) - len(download))


def _reuse(source: str, dest: Path, entry: FileEntry) -> bool:
    """Copy a locally held file with the same sha256, re-verified; False to download. A copy, not a
    hard link: the new release's modification times must not change the live release's files."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(source, dest)
        if dest.stat().st_size == entry.size and sha256_file(dest) == entry.sha256:
            return True
    except OSError:
        pass
    dest.unlink(missing_ok=True)
    return False


def _download_all(storage: Remote, manifest: ReleaseManifest, entries: list[FileEntry], staging: Path,
                  workers: int, deadline: Deadline) -> None:
    """Download in parallel. The first failure, the deadline or a stop request abandons the rest:
    every running download stops at its next chunk, and none is left running on return."""
    if not entries:
        return
    for entry in entries:
        (staging / entry.path).parent.mkdir(parents=True, exist_ok=True)
    abandoned = threading.Event()

    def check() -> None:
        if abandoned.is_set():
            raise CycleAborted("abandoned: another download of the release failed")
        deadline.check()

    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(entries))), thread_name_prefix="dagsync-get")
    try:
        pending = {pool.submit(_download_one, storage, manifest, e, staging, check) for e in entries}
        for _ in range(10_000_000):
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_EXCEPTION)
            for fut in done:
                fut.result()
            if not pending:
                return
            deadline.check()
    finally:
        abandoned.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _download_one(storage: Remote, manifest: ReleaseManifest, entry: FileEntry, staging: Path,
                  check: Callable[[], None]) -> None:
    check()
    key = dag_key(manifest.env, manifest.package, entry.path)
    assert entry.version_id is not None
    where = f"{storage.url(key)} version {entry.version_id}"
    try:
        got = storage.download(key, entry.version_id, str(staging / entry.path),
                               max_bytes=min(entry.size, MAX_FILE_SIZE), check=check)
    except NotFoundError:
        raise VerificationError(f"{where} pinned by release {manifest.release_id} does not exist",
                                kind="missing_version") from None
    if got.size > entry.size:
        raise VerificationError(f"{where}: more than the {entry.size} bytes release {manifest.release_id} pins",
                                kind="too_large")
    if got.size != entry.size or got.sha256 != entry.sha256:
        raise VerificationError(f"{where}: got {got.size} bytes with sha256 {got.sha256[:12]}…, release "
                                f"{manifest.release_id} pins {entry.size} bytes with sha256 {entry.sha256[:12]}…",
                                kind="checksum")
