"""Extract a release archive into a staging directory, trusting nothing in it but the bytes.

Only paths the manifest lists, each at most once; regular files only (no links, devices, folders,
sparse files or `..`: an entry whose name is not a manifest path is refused before anything is
written for it); each entry's size capped by the manifest's and the whole decompressed stream
capped; every written file's size and sha256 checked against the manifest. A refusal raises the
project's errors with the kind the agent counts (ManifestError `unsafe_path`; VerificationError
`too_large` or `checksum`); the caller discards the staging directory.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import tarfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from airflow_dag_publisher.errors import ErrorKind, ManifestError, VerificationError
from airflow_dag_publisher.manifest import FileEntry

CHUNK = 8 << 20
HEADER_ALLOWANCE = 16 * 1024  # decompressed bytes allowed per entry beyond its data (tar and pax headers)
IN_MEMORY = 64 << 20  # an archive whose cap is at most this is inflated in one call, in memory
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE)
_KINDS = {tarfile.SYMTYPE: "a symlink", tarfile.LNKTYPE: "a hard link", tarfile.CHRTYPE: "a character device",
          tarfile.BLKTYPE: "a block device", tarfile.FIFOTYPE: "a FIFO", tarfile.DIRTYPE: "a folder",
          tarfile.GNUTYPE_SPARSE: "a sparse file", tarfile.CONTTYPE: "a contiguous file"}


class _Capped:
    """A read-only stream that refuses to give more than `limit` bytes (a gzip bomb stops here)."""

    def __init__(self, raw: gzip.GzipFile, limit: int, where: str) -> None:
        self.raw = raw
        self.left = limit
        self.where = where

    def read(self, size: int = -1) -> bytes:
        want = self.left + 1 if size is None or size < 0 else min(size, self.left + 1)
        data = self.raw.read(want)
        self.left -= len(data)
        if self.left < 0:
            raise VerificationError(f"{self.where}: decompresses to more than the release's files and headers",
                                    kind=ErrorKind.TOO_LARGE)
        return data


def extract_archive(archive: Path | bytes, staging: Path, files: Mapping[str, FileEntry], wanted: set[str], *,
                    where: str, check: Callable[[], None], mtime: float | None = None) -> int:
    """Write the entries of `archive` (a file, or its bytes) named in `wanted` (paths of `files`, the
    release's entries by path) under `staging`, each verified, read-only, with the modification time
    `mtime` (default: when it was written); every other entry must still be a regular file the release lists. `check`
    runs before every entry and chunk (a deadline, a stop request). Returns the files written.

    A small archive (the common case) is inflated in one call and read from memory: every system
    call and every chunk of a stream lets the other threads of the agent run, and a cold start of
    a thousand packages spent most of its time handing the interpreter from thread to thread."""
    limit = sum(e.size for e in files.values()) + (len(files) + 2) * HEADER_ALLOWANCE
    written: set[str] = set()
    seen: set[str] = set()
    root = str(staging)
    for folder in sorted({os.path.dirname(p) for p in wanted} - {""}):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            if limit <= IN_MEMORY:  # from memory: random access, no stream layer
                data = archive if isinstance(archive, bytes) else archive.read_bytes()
                tar = stack.enter_context(tarfile.open(fileobj=io.BytesIO(_inflate(data, limit, where)), mode="r:"))
            else:
                source = io.BytesIO(archive) if isinstance(archive, bytes) else archive
                stream: Any = _Capped(stack.enter_context(gzip.open(source, "rb")), limit, where)
                tar = stack.enter_context(tarfile.open(fileobj=stream, mode="r|"))
            for member in _members(tar, len(files), where):
                check()
                entry = _admit(member, files, seen, where)
                if entry.path in wanted:
                    _write(tar, member, entry, root, where, check, mtime)
                    written.add(entry.path)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise VerificationError(f"{where}: not a valid tar.gz archive ({exc})", kind=ErrorKind.CHECKSUM) from None
    missing = sorted(wanted - written)
    if missing:
        raise VerificationError(f"{where}: the archive lacks {len(missing)} file(s) the release lists: "
                                + ", ".join(missing[:5]), kind=ErrorKind.CHECKSUM)
    return len(written)


def _inflate(data: bytes, limit: int, where: str) -> bytes:
    """The one gzip member `data` holds, inflated in one call; more than `limit` bytes is refused."""
    inflater = zlib.decompressobj(wbits=31)
    out = inflater.decompress(data, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise VerificationError(f"{where}: decompresses to more than the release's files and headers",
                                kind=ErrorKind.TOO_LARGE)
    if not inflater.eof:
        raise VerificationError(f"{where}: not a valid tar.gz archive (truncated)", kind=ErrorKind.CHECKSUM)
    if inflater.unused_data:
        raise VerificationError(f"{where}: not a valid tar.gz archive (data after its end)", kind=ErrorKind.CHECKSUM)
    return out


def _members(tar: tarfile.TarFile, count: int, where: str) -> Iterator[tarfile.TarInfo]:
    """The archive's entries, at most one per file of the release."""
    for n, member in enumerate(tar, start=1):
        if n > count:
            raise ManifestError(f"{where}: more entries than the {count} file(s) the release lists",
                                kind=ErrorKind.UNSAFE_PATH)
        yield member


def _admit(member: tarfile.TarInfo, files: Mapping[str, FileEntry], seen: set[str], where: str) -> FileEntry:
    name = member.name
    entry = files.get(name)
    if entry is None:
        raise ManifestError(f"{where}: entry {name!r} is not a file of the release", kind=ErrorKind.UNSAFE_PATH)
    if member.type not in _REGULAR:
        what = _KINDS.get(member.type, f"of tar type {member.type!r}")
        raise ManifestError(f"{where}: entry {name!r} is {what}; only regular files are accepted",
                            kind=ErrorKind.UNSAFE_PATH)
    if name in seen:
        raise ManifestError(f"{where}: entry {name!r} appears twice", kind=ErrorKind.UNSAFE_PATH)
    seen.add(name)
    if member.size > entry.size:
        raise VerificationError(f"{where}: entry {name!r} holds {member.size} bytes, the release pins {entry.size}",
                                kind=ErrorKind.TOO_LARGE)
    return entry


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, entry: FileEntry, root: str, where: str,
           check: Callable[[], None], mtime: float | None) -> None:
    source = tar.extractfile(member)
    if source is None:  # not a regular file: _admit refused it already
        raise ManifestError(f"{where}: entry {entry.path!r} has no data", kind=ErrorKind.UNSAFE_PATH)
    digest = hashlib.sha256()
    size = 0
    # a new, read-only file in our own staging directory, never through a link
    fd = os.open(os.path.join(root, entry.path), _CREATE, 0o444)
    try:
        while size <= entry.size:
            if size:  # a file of more than one chunk: look at the deadline between chunks
                check()
            block = source.read(min(CHUNK, entry.size + 1 - size))
            if not block:
                break
            digest.update(block)
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view):]
            size += len(block)
        if mtime is not None:  # otherwise the write just set it to now, and one system call is saved
            os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)
    if size != entry.size or digest.hexdigest() != entry.sha256:
        raise VerificationError(f"{where}: entry {entry.path!r} has {size} bytes with sha256 "
                                f"{digest.hexdigest()[:12]}…, the release pins {entry.size} bytes with sha256 "
                                f"{entry.sha256[:12]}…", kind=ErrorKind.CHECKSUM)
