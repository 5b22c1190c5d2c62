"""Extract a release archive into a staging directory, trusting nothing in it but the bytes.

Only paths the manifest lists, each at most once; regular files only (no links, devices, folders,
sparse files or `..`: an entry whose name is not a manifest path is refused before anything is
written for it); each entry's size capped by the manifest's and the whole decompressed stream
capped; every written file's size and sha256 checked against the manifest. A refusal raises the
project's errors with the kind the agent counts (ManifestError `unsafe_path`; VerificationError
`too_large` or `checksum`); the caller discards the staging directory.
"""

from __future__ import annotations

import gzip
import hashlib
import tarfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from airflow_dag_publisher.errors import ManifestError, VerificationError
from airflow_dag_publisher.manifest import FileEntry

CHUNK = 1 << 16
HEADER_ALLOWANCE = 16 * 1024  # decompressed bytes allowed per entry beyond its data (tar and pax headers)
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
                                    kind="too_large")
        return data


def extract_archive(archive: Path, staging: Path, files: Mapping[str, FileEntry], wanted: set[str], *,
                    where: str, check: Callable[[], None]) -> int:
    """Write the entries named in `wanted` (paths of `files`, the release's entries by path) under
    `staging`, each verified; every other entry must still be a regular file the release lists.
    `check` runs before every entry and chunk (a deadline, a stop request). Returns the files written."""
    limit = sum(e.size for e in files.values()) + (len(files) + 2) * HEADER_ALLOWANCE
    written: set[str] = set()
    seen: set[str] = set()
    try:
        with gzip.open(archive, "rb") as gz, \
                tarfile.open(fileobj=_Capped(gz, limit, where), mode="r|") as tar:  # type: ignore[call-overload]
            for member in _members(tar, len(files), where):
                check()
                entry = _admit(member, files, seen, where)
                if entry.path in wanted:
                    _write(tar, member, entry, staging, where, check)
                    written.add(entry.path)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise VerificationError(f"{where}: not a valid tar.gz archive ({exc})", kind="checksum") from None
    missing = sorted(wanted - written)
    if missing:
        raise VerificationError(f"{where}: the archive lacks {len(missing)} file(s) the release lists: "
                                + ", ".join(missing[:5]), kind="checksum")
    return len(written)


def _members(tar: tarfile.TarFile, count: int, where: str) -> Iterator[tarfile.TarInfo]:
    """The archive's entries, at most one per file of the release."""
    for n, member in enumerate(tar, start=1):
        if n > count:
            raise ManifestError(f"{where}: more entries than the {count} file(s) the release lists",
                                kind="unsafe_path")
        yield member


def _admit(member: tarfile.TarInfo, files: Mapping[str, FileEntry], seen: set[str], where: str) -> FileEntry:
    name = member.name
    entry = files.get(name)
    if entry is None:
        raise ManifestError(f"{where}: entry {name!r} is not a file of the release", kind="unsafe_path")
    if member.type not in _REGULAR:
        what = _KINDS.get(member.type, f"of tar type {member.type!r}")
        raise ManifestError(f"{where}: entry {name!r} is {what}; only regular files are accepted",
                            kind="unsafe_path")
    if name in seen:
        raise ManifestError(f"{where}: entry {name!r} appears twice", kind="unsafe_path")
    seen.add(name)
    if member.size > entry.size:
        raise VerificationError(f"{where}: entry {name!r} holds {member.size} bytes, the release pins {entry.size}",
                                kind="too_large")
    return entry


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, entry: FileEntry, staging: Path, where: str,
           check: Callable[[], None]) -> None:
    source = tar.extractfile(member)
    if source is None:  # not a regular file: _admit refused it already
        raise ManifestError(f"{where}: entry {entry.path!r} has no data", kind="unsafe_path")
    dest = staging / entry.path
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with open(dest, "xb") as out:  # a new file in our own staging directory: never through a link
        while size <= entry.size:
            check()
            block = source.read(min(CHUNK, entry.size + 1 - size))
            if not block:
                break
            digest.update(block)
            out.write(block)
            size += len(block)
    if size != entry.size or digest.hexdigest() != entry.sha256:
        raise VerificationError(f"{where}: entry {entry.path!r} has {size} bytes with sha256 "
                                f"{digest.hexdigest()[:12]}…, the release pins {entry.size} bytes with sha256 "
                                f"{entry.sha256[:12]}…", kind="checksum")
