"""Assemble one release directory: reuse files already held (by sha256), fetch the rest, verify
every byte, then rename the finished directory into place. The rest comes either as single files
by their pinned VersionIds or, when few of the release's files are held (planner.plan_files), as the
release's archive (extract.py); every download of every package a cycle builds goes through one
shared pool (DownloadPool). Only complete, verified directories ever appear under <state>/releases."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from airflow_dag_publisher.errors import ErrorKind, NotFoundError, StorageError, VerificationError
from airflow_dag_publisher.manifest import MAX_FILE_SIZE, ArchiveRef, FileEntry, ReleaseManifest
from airflow_dag_publisher.storage import archive_key, dag_key
from airflow_dag_publisher.sync.extract import extract_archive
from airflow_dag_publisher.sync.planner import plan_files, release_dir_name
from airflow_dag_publisher.sync.releases import RELEASE_MANIFEST, Layout, remove_tree, sha256_file
from airflow_dag_publisher.sync.remote import Remote

log = logging.getLogger(__name__)
ARCHIVE_IN_MEMORY = 8 << 20  # an archive of at most this many bytes is downloaded into memory
POLL_SECONDS = 0.2  # how often the cycle's deadline and stop flag are looked at while downloads run


class CycleAborted(StorageError):
    """The cycle ran out of time, or the agent is stopping (SIGTERM, SIGINT)."""

    kind = ErrorKind.ABORTED


@dataclass
class Deadline:
    """The end of a cycle (monotonic seconds), the agent's stop flag and the cycle's own abandon flag
    (set when one package's failure fails the cycle), checked between steps and before every chunk."""

    at: float
    stop: threading.Event
    abandon: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        if self.stop.is_set():
            raise CycleAborted("stopping: cycle interrupted")
        if self.abandon.is_set():
            raise CycleAborted("abandoned: the cycle failed")
        if time.monotonic() > self.at:
            raise CycleAborted("cycle timed out")


class DownloadPool:
    """The download threads of one cycle, shared by every package it builds (and its manifest GETs),
    and its one extraction slot: archives download side by side but are extracted one at a time.
    Extraction is small system calls and Python under the GIL; eight builders extracting at once
    spent the time handing the interpreter to each other (three context switches in four, and a
    cold start of 1,000 packages took about 5.4 s instead of 4.7 s on two cores)."""

    def __init__(self, workers: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="dagsync-get")
        self.extracting = threading.Semaphore(1)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        return self.executor.submit(fn, *args)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> DownloadPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Built:
    name: str
    downloaded_files: int = 0
    downloaded_bytes: int = 0
    reused_files: int = 0
    archive: bool = False  # the downloaded files came in the release's archive


class ReleaseCheck(Protocol):
    """A check of one package's releases (a spec-only package's): before anything is downloaded, and on
    the verified files before the release directory is put in place. Each raises RefusedError."""

    def before(self, manifest: ReleaseManifest) -> None: ...

    def after(self, directory: Path, manifest: ReleaseManifest) -> None: ...


def build_release(storage: Remote, layout: Layout, manifest: ReleaseManifest, held: Mapping[str, str], *,
                  pool: DownloadPool, deadline: Deadline, check: ReleaseCheck | None = None) -> Built:
    """Make <state>/releases/<package>/<release id> hold exactly the manifest's files (in its package
    folder), verified, and the manifest itself (`manifest.json`, beside that folder); with `check`, checked
    as well: a refused release never reaches <state>/releases."""
    package = manifest.package
    name = release_dir_name(manifest)
    final = layout.release_path(package, name)
    if check is not None:
        check.before(manifest)
    if final.is_dir():
        if layout.release_complete(package, name, manifest):
            if check is not None:
                check.after(final / package, manifest)
            layout.set_mtime(package, name, time.time(), [e.path for e in manifest.files])
            return Built(name, reused_files=len(manifest.files))
        trash = final.with_name(f".trash-{uuid.uuid4().hex[:8]}")
        os.replace(final, trash)
        log.warning("release directory %s was damaged; rebuilding it", final)
    plan = plan_files(manifest, held)
    staging = Path(tempfile.mkdtemp(prefix=f"{package}-", dir=layout.staging_dir))
    files = staging / package  # the release's files; its root holds them and its manifest
    try:
        files.mkdir()
        (staging / RELEASE_MANIFEST).write_bytes(manifest.to_json())
        download = list(plan.download)
        for entry, source in plan.reuse:
            deadline.check()
            if not _reuse(source, files / entry.path, entry):
                download.append(entry)
        finished: set[str] = set()  # files already read-only with a fresh modification time
        if plan.archive and manifest.archive is not None and download:
            fetched = _from_archive(storage, pool, manifest, manifest.archive, download, files, layout, deadline)
            finished = {e.path for e in download}
        else:
            _download_all(storage, pool, manifest, download, files, deadline)
            fetched = sum(e.size for e in download)
        # Airflow re-parses a file before min_file_process_interval only when its mtime is newer than
        # its last parse (file_parsing_sort_mode = modified_time): every file of the release gets the
        # time it was extracted or the time the build finished, just before its swap, so each DAG file
        # of the package is re-parsed after the swap, also one that only imports a changed helper.
        # (Release files are never hard links of the live release's, so this does not touch what
        # Airflow reads until the swap.)
        now = time.time()
        for entry in manifest.files:
            if entry.path not in finished:
                os.chmod(files / entry.path, 0o444)
                os.utime(files / entry.path, (now, now))
        deadline.check()
        if check is not None:
            check.after(files, manifest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, final)
    except BaseException:
        remove_tree(staging)
        raise
    return Built(name, len(download), fetched, len(manifest.files) - len(download), archive=plan.archive)


def _from_archive(storage: Remote, pool: DownloadPool, manifest: ReleaseManifest, ref: ArchiveRef,
                  entries: list[FileEntry], staging: Path, layout: Layout, deadline: Deadline) -> int:
    """Download the release's archive (through the pool), verify it, extract `entries` from it. An
    archive of at most ARCHIVE_IN_MEMORY bytes (DAG files compress to kilobytes) is read into memory:
    no temporary file is created and deleted per package. On ext4 without a journal a file deleted
    in the last minutes makes every later file creation in its block group scan past its inode, so
    a thousand deleted archives slowed the creation of every release file after them."""
    key = archive_key(manifest.env, manifest.package)
    where = f"{storage.url(key)} version {ref.version_id}"
    wanted = {e.path for e in entries}
    if ref.size <= ARCHIVE_IN_MEMORY:
        got: list[bytes] = []
        _wait_all(pool, [lambda check: got.append(_get_archive(storage, manifest, ref, check))], deadline)
        with pool.extracting:
            extract_archive(got[0], staging, manifest.file_map(), wanted, where=where, check=deadline.check)
        return ref.size
    tmp = layout.staging_dir / f".{manifest.package}-{uuid.uuid4().hex[:12]}.tar.gz"
    try:
        _wait_all(pool, [lambda check: _download_archive(storage, manifest, ref, str(tmp), check)], deadline)
        with pool.extracting:
            extract_archive(tmp, staging, manifest.file_map(), wanted, where=where, check=deadline.check)
    finally:
        tmp.unlink(missing_ok=True)
    return ref.size


def _get_archive(storage: Remote, manifest: ReleaseManifest, ref: ArchiveRef, check: Callable[[], None]) -> bytes:
    """The pinned archive's bytes, verified against the manifest's size and sha256."""
    check()
    key = archive_key(manifest.env, manifest.package)
    where = f"{storage.url(key)} version {ref.version_id}"
    with _pinned(where, manifest.release_id):
        read = storage.get(key, version_id=ref.version_id, max_bytes=ref.size)
    body = read.obj.body if read.obj is not None else b""
    _verify(len(body), hashlib.sha256(body).hexdigest(), ref.size, ref.sha256, where, manifest.release_id)
    return body


def _download_archive(storage: Remote, manifest: ReleaseManifest, ref: ArchiveRef, dest: str,
                      check: Callable[[], None]) -> None:
    key = archive_key(manifest.env, manifest.package)
    where = f"{storage.url(key)} version {ref.version_id}"
    with _pinned(where, manifest.release_id):
        got = storage.download(key, ref.version_id, dest, max_bytes=ref.size, check=check)
    _verify(got.size, got.sha256, ref.size, ref.sha256, where, manifest.release_id)


# What S3 answers for a pinned object that only this release can cause: its version does not exist, or
# S3 will not serve it (400: a malformed version id; 403: an object encrypted with a key the agent cannot
# use). The release is refused for its package; a network, server (5xx) or credential failure still
# fails the cycle, to be retried.
_UNREADABLE_PIN = frozenset({ErrorKind.BAD_REQUEST, ErrorKind.ACCESS_DENIED})


@contextmanager
def _pinned(where: str, release_id: str) -> Iterator[None]:
    try:
        yield
    except NotFoundError:
        raise VerificationError(f"{where} pinned by release {release_id} does not exist",
                                kind=ErrorKind.MISSING_VERSION) from None
    except StorageError as exc:
        if exc.kind not in _UNREADABLE_PIN:
            raise
        raise VerificationError(f"{where} pinned by release {release_id} cannot be read: {exc}",
                                kind=ErrorKind.UNREADABLE) from None


def _verify(size: int, sha256: str, want_size: int, want_sha256: str, where: str, release_id: str) -> None:
    if size > want_size:
        raise VerificationError(f"{where}: more than the {want_size} bytes release {release_id} pins",
                                kind=ErrorKind.TOO_LARGE)
    if size != want_size or sha256 != want_sha256:
        raise VerificationError(f"{where}: got {size} bytes with sha256 {sha256[:12]}…, release "
                                f"{release_id} pins {want_size} bytes with sha256 {want_sha256[:12]}…",
                                kind=ErrorKind.CHECKSUM)


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


def _download_all(storage: Remote, pool: DownloadPool, manifest: ReleaseManifest, entries: list[FileEntry],
                  staging: Path, deadline: Deadline) -> None:
    """Download single files through the shared pool."""
    for entry in entries:
        (staging / entry.path).parent.mkdir(parents=True, exist_ok=True)
    _wait_all(pool, [partial(_download_one, storage, manifest, e, staging) for e in entries], deadline)


Job = Callable[[Callable[[], None]], None]  # a download, given the check to run before every chunk


def _wait_all(pool: DownloadPool, jobs: list[Job], deadline: Deadline) -> None:
    """Run `jobs` on the shared pool and wait for all of them. The first failure, the deadline or a
    stop request abandons the rest of this release's jobs: each running one stops at its next chunk,
    and none is left running on return (the pool itself goes on serving other packages)."""
    if not jobs:
        return
    abandoned = threading.Event()

    def check() -> None:
        if abandoned.is_set():
            raise CycleAborted("abandoned: another download of the release failed")
        deadline.check()

    futures = {pool.submit(job, check) for job in jobs}
    pending = futures
    try:
        for _ in range(10_000_000):
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_EXCEPTION)
            for fut in done:
                fut.result()
            if not pending:
                return
            check()
    finally:
        abandoned.set()
        for fut in pending:
            fut.cancel()
        wait(pending)


def _download_one(storage: Remote, manifest: ReleaseManifest, entry: FileEntry, staging: Path,
                  check: Callable[[], None]) -> None:
    check()
    key = dag_key(manifest.env, manifest.package, entry.path)
    assert entry.version_id is not None
    where = f"{storage.url(key)} version {entry.version_id}"
    with _pinned(where, manifest.release_id):
        got = storage.download(key, entry.version_id, str(staging / entry.path),
                               max_bytes=min(entry.size, MAX_FILE_SIZE), check=check)
    _verify(got.size, got.sha256, entry.size, entry.sha256, where, manifest.release_id)
