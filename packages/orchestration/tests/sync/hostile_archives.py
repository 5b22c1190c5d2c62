"""Hostile release archives: each is a tar.gz that a tampered bucket or a rogue CI could pin in a
manifest (with its true sha256 and size, so only the agent's extraction stands in the way), built
from the release's real files `{path: bytes}`, with the refusal kind the agent must report.

Used by the extraction unit tests and by the reliability suite (the real agent process)."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Callable

Files = dict[str, bytes]


def tar_gz(entries: list[tuple[tarfile.TarInfo, bytes | None]], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w|", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return raw.getvalue()


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 5
    return info, None


def _first(files: Files) -> str:
    return sorted(files)[0]


def _others(files: Files, skip: str) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [regular(p, d) for p, d in sorted(files.items()) if p != skip]


def _with_special(kind: bytes, linkname: str = "") -> Callable[[Files], bytes]:
    def make(files: Files) -> bytes:
        first = _first(files)
        return tar_gz([special(first, kind, linkname), *_others(files, first)])
    return make


def _named(name: str) -> Callable[[Files], bytes]:
    def make(files: Files) -> bytes:
        return tar_gz([regular(name, b"ESCAPED = True\n"), *_others(files, "")])
    return make


def _duplicate(files: Files) -> bytes:
    first = _first(files)
    return tar_gz([regular(first, files[first]), regular(first, files[first])])


def _oversized(files: Files) -> bytes:
    first = _first(files)
    return tar_gz([regular(first, files[first] + b"#" * 4096), *_others(files, first)])


def _other_bytes(files: Files) -> bytes:
    first = _first(files)
    data = files[first]
    swapped = (b"X" * len(data)) if data != b"X" * len(data) else (b"Y" * len(data))
    return tar_gz([regular(first, swapped), *_others(files, first)])


def _missing(files: Files) -> bytes:
    return tar_gz(_others(files, _first(files)))


def _bomb(files: Files) -> bytes:
    """A GNU long-name entry of 8 MiB: a few KB compressed, far more than the release once inflated."""
    info = tarfile.TarInfo("x" * (8 * 1024 * 1024))
    return tar_gz([(info, b""), *_others(files, "")], fmt=tarfile.GNU_FORMAT)


def _not_gzip(files: Files) -> bytes:
    return os.urandom(2048)


def _truncated(files: Files) -> bytes:
    whole = tar_gz(_others(files, ""))
    return whole[: len(whole) // 2]


# name -> (the archive from the release's files, the refusal kind the agent reports)
HOSTILE_ARCHIVES: dict[str, tuple[Callable[[Files], bytes], str]] = {
    "symlink": (_with_special(tarfile.SYMTYPE, "/etc/passwd"), "unsafe_path"),
    "hard_link": (_with_special(tarfile.LNKTYPE, "/etc/passwd"), "unsafe_path"),
    "char_device": (_with_special(tarfile.CHRTYPE), "unsafe_path"),
    "fifo": (_with_special(tarfile.FIFOTYPE), "unsafe_path"),
    "folder": (_with_special(tarfile.DIRTYPE), "unsafe_path"),
    "sparse": (_with_special(tarfile.GNUTYPE_SPARSE), "unsafe_path"),
    "dot_dot": (_named("../../escape.py"), "unsafe_path"),
    "dot_dot_inside": (_named("sql/../../escape.py"), "unsafe_path"),
    "absolute": (_named("/tmp/dagsync-archive-escape.py"), "unsafe_path"),
    "unlisted": (_named("unlisted.py"), "unsafe_path"),
    "duplicate": (_duplicate, "unsafe_path"),
    "oversized_entry": (_oversized, "too_large"),
    "other_bytes": (_other_bytes, "checksum"),
    "missing_file": (_missing, "checksum"),
    "bomb": (_bomb, "too_large"),
    "not_gzip": (_not_gzip, "checksum"),
    "truncated": (_truncated, "checksum"),
}
