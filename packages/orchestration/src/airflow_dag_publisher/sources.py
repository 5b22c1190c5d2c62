"""Reading a package's source folder into the files of a release, with the path guardrails."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from airflow_dag_publisher.errors import RefusedError, UsageError
from airflow_dag_publisher.names import path_problem

DEFAULT_MAX_FILE_BYTES = 1024 * 1024
SKIPPED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")
# The CI policy lets every package read `<env>/*/manifest.json` (dag_id ownership) and denies any deeper key of
# that name (IAM's `*` spans `/`): a file of a release may not be called manifest.json, even the package's own.
RESERVED_NAME = "manifest.json"


@dataclass(frozen=True)
class LocalFile:
    path: str  # package-relative POSIX path
    sha256: str
    size: int
    data: bytes


def local_file(path: str, data: bytes) -> LocalFile:
    return LocalFile(path, hashlib.sha256(data).hexdigest(), len(data), data)


def check_folder(source: Path) -> None:
    """The one wording for a --source that is not a folder (validate, publish and diff say the same)."""
    if not source.exists():
        raise UsageError(f"--source {source}: no such directory")
    if not source.is_dir():
        raise UsageError(f"--source {source}: not a directory")


def read_source(source: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[LocalFile]:
    """Every publishable file under `source`, sorted by path. Reports every unsafe entry at once
    (symlinks, special files, unsafe names, oversized files) as one RefusedError."""
    check_folder(source)
    if source.is_symlink():
        raise RefusedError(f"--source {source}: is a symlink; publish the real folder")
    problems: list[str] = []
    files: list[LocalFile] = []
    for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
        base = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            full = base / d
            if d in SKIPPED_DIRS:
                continue
            if full.is_symlink():
                problems.append(f"{full}: symlinks are not published (make it a real folder)")
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            full = base / name
            if name.endswith(SKIPPED_SUFFIXES):
                continue
            rel = full.relative_to(source).as_posix()
            why = path_problem(rel) or (f"the name {RESERVED_NAME} is reserved for release manifests"
                                        if name == RESERVED_NAME else None)
            if why:
                problems.append(f"{full}: unsafe path ({why})")
                continue
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                problems.append(f"{full}: symlinks are not published (copy the file instead)")
                continue
            if not stat.S_ISREG(st.st_mode):
                problems.append(f"{full}: not a regular file")
                continue
            if st.st_size > max_file_bytes:
                problems.append(f"{full}: {st.st_size} bytes, over the {max_file_bytes} byte limit "
                                "(--max-file-size)")
                continue
            files.append(local_file(rel, full.read_bytes()))
    if problems:
        raise RefusedError("refusing to publish:\n  " + "\n  ".join(problems))
    return sorted(files, key=lambda f: f.path)
