"""What changed between two releases, or between a release and a local folder: pure functions
from file lists (path, sha256) and the bytes of the files that differ to added/changed/removed and
a unified diff of each text file (`diff --package P FROM [TO]`)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_dag_publisher.publish_plan import Digested

MAX_DIFF_LINES = 20_000  # per file: a larger diff is summarised, not printed


@dataclass(frozen=True)
class FileDiff:
    path: str
    status: str                  # added | changed | removed
    binary: bool = False
    diff: str | None = None      # unified diff of a text file (None for a binary one)
    old_sha256: str | None = None
    new_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "binary": self.binary, "old_sha256": self.old_sha256,
                "new_sha256": self.new_sha256, "diff": self.diff}


@dataclass(frozen=True)
class ReleaseDiff:
    from_label: str
    to_label: str
    files: tuple[FileDiff, ...] = ()
    unchanged: tuple[str, ...] = ()
    dag_ids_added: tuple[str, ...] = ()
    dag_ids_removed: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def paths(self, status: str) -> list[str]:
        return [f.path for f in self.files if f.status == status]

    def to_dict(self) -> dict[str, Any]:
        return {**self.extra, "added": self.paths("added"), "changed": self.paths("changed"),
                "removed": self.paths("removed"), "unchanged": list(self.unchanged),
                "dag_ids": {"added": list(self.dag_ids_added), "removed": list(self.dag_ids_removed)},
                "files": [f.to_dict() for f in self.files]}


def is_text(data: bytes) -> bool:
    """UTF-8 without NUL bytes: what `diff` prints line by line."""
    if b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def unified(path: str, old: bytes | None, new: bytes | None, from_label: str, to_label: str) -> str:
    a = old.decode("utf-8").splitlines(keepends=True) if old else []
    b = new.decode("utf-8").splitlines(keepends=True) if new else []
    lines = list(difflib.unified_diff(a, b, f"a/{path}" if old is not None else "/dev/null",
                                      f"b/{path}" if new is not None else "/dev/null", fromfiledate=from_label,
                                      tofiledate=to_label))
    if len(lines) > MAX_DIFF_LINES:
        return f"(diff of {path} has {len(lines)} lines, over {MAX_DIFF_LINES}: not shown)\n"
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def diff_releases(old: Mapping[str, Digested], new: Mapping[str, Digested], read_old: Callable[[str], bytes],
                  read_new: Callable[[str], bytes], *, from_label: str, to_label: str,
                  old_dag_ids: tuple[str, ...] = (), new_dag_ids: tuple[str, ...] = ()) -> ReleaseDiff:
    """Compare two file lists by sha256; read the bytes of only the files that differ."""
    files: list[FileDiff] = []
    unchanged: list[str] = []
    for path in sorted(set(old) | set(new)):
        o, n = old.get(path), new.get(path)
        if o is not None and n is not None and o.sha256 == n.sha256:
            unchanged.append(path)
            continue
        status = "added" if o is None else "removed" if n is None else "changed"
        old_bytes = read_old(path) if o is not None else None
        new_bytes = read_new(path) if n is not None else None
        binary = not all(is_text(b) for b in (old_bytes, new_bytes) if b is not None)
        text = None if binary else unified(path, old_bytes, new_bytes, from_label, to_label)
        files.append(FileDiff(path, status, binary, text, o.sha256 if o else None, n.sha256 if n else None))
    return ReleaseDiff(from_label, to_label, tuple(files), tuple(unchanged),
                       tuple(sorted(set(new_dag_ids) - set(old_dag_ids))),
                       tuple(sorted(set(old_dag_ids) - set(new_dag_ids))))


def render(diff: ReleaseDiff, *, text: bool = True) -> list[str]:
    """The text form: a summary line per file, then (with `text`) each text file's unified diff."""
    lines = [f"diff {diff.from_label} -> {diff.to_label}: {len(diff.paths('added'))} added, "
             f"{len(diff.paths('changed'))} changed, {len(diff.paths('removed'))} removed, "
             f"{len(diff.unchanged)} unchanged"]
    if diff.dag_ids_added or diff.dag_ids_removed:
        lines.append("dag_ids: " + ", ".join([f"+{d}" for d in diff.dag_ids_added]
                                             + [f"-{d}" for d in diff.dag_ids_removed]))
    for f in diff.files:
        lines.append(f"{f.status:8} {f.path}" + (" (binary file: no text diff)" if f.binary else ""))
    for f in diff.files if text else ():
        if f.diff:
            lines.append(f.diff.rstrip("\n"))
    return lines
