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
from collections.abc import Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from airflow_dag_publisher.errors import NotFoundError, RefusedError, StorageError
from airflow_dag_publisher.manifest import MAX_FILE_SIZE, FileEntry, ReleaseManifest
from airflow_dag_publisher.storage import dag_key
from airflow_dag_publisher.sync.planner import plan_files, release_dir_name
from airflow_dag_publisher.sync.releases import Layout, remove_tree, sha256_file
from airflow_dag_publisher.sync.remote import Remote

log = logging.getLogger(__name__)


class VerificationError(RefusedError):
    """Downloaded bytes do not match the manifest (sha256 or size), or a pinned version is missing."""


class CycleAborted(StorageError):
    """The cycle ran out of time or the agent is stopping."""


@dataclass
class Deadline:
    """The end of a cycle (monotonic seconds) and the agent's stop flag, checked between steps."""

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
        for entry, source in plan.reuse:
            deadline.check()
            if not _reuse(source, staging / entry.path, entry):
                plan = type(plan)(plan.reuse, (*plan.download, entry), plan.download_bytes + entry.size)
        _download_all(storage, manifest, plan.download, staging, workers, deadline)
        for entry in manifest.files:
            os.chmod(staging / entry.path, 0o444)
        deadline.check()
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, final)
    except BaseException:
        remove_tree(staging)
        raise
    return Built(name, len(plan.download), sum(e.size for e in plan.download), len(manifest.files) - len(plan.download))


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


def _download_all(storage: Remote, manifest: ReleaseManifest, entries: tuple[FileEntry, ...], staging: Path,
                  workers: int, deadline: Deadline) -> None:
    if not entries:
        return
    for entry in entries:
        (staging / entry.path).parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(entries))), thread_name_prefix="dagsync-get") as pool:
        futures = [pool.submit(_download_one, storage, manifest, e, staging, deadline) for e in entries]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in pending:
            fut.cancel()
        for fut in done:
            fut.result()
        for fut in pending:
            if not fut.cancelled():
                fut.result()


def _download_one(storage: Remote, manifest: ReleaseManifest, entry: FileEntry, staging: Path,
                  deadline: Deadline) -> None:
    deadline.check()
    key = dag_key(manifest.env, manifest.package, entry.path)
    assert entry.version_id is not None
    try:
        got = storage.download(key, entry.version_id, str(staging / entry.path),
                               max_bytes=min(entry.size, MAX_FILE_SIZE))
    except NotFoundError:
        raise VerificationError(f"s3://{storage.bucket}/{key} version {entry.version_id} pinned by release "
                                f"{manifest.release_id} does not exist") from None
    if got.size != entry.size or got.sha256 != entry.sha256:
        raise VerificationError(f"s3://{storage.bucket}/{key} version {entry.version_id}: got {got.size} bytes "
                                f"with sha256 {got.sha256[:12]}…, release {manifest.release_id} pins {entry.size} "
                                f"bytes with sha256 {entry.sha256[:12]}…")
