"""Terminal output: plain lines to stdout, JSON documents, tables that fit the terminal, and a
progress bar on a terminal."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

GAP = "  "  # between two columns
ELLIPSIS = "…"


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def info(message: str) -> None:
    print(message)


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.done = 0
        self.drawn = False
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._lock = threading.Lock()

    def advance(self, total: int) -> None:
        """One more item of `total` is done."""
        with self._lock:
            self.done += 1
            if self.enabled and total > 0:
                width = 30
                filled = int(width * min(self.done, total) / total)
                self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{total}")
                self.stream.flush()
                self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


@dataclass(frozen=True)
class Column:
    """A table column. `minimum` 0: never narrowed (ids, times); else the column may narrow to that
    width, eliding the middle of a longer value (`elide`, e.g. an image: registry…/name:tag) or, for a
    list of `items` (dag_ids, joined by ", "), putting its items on more lines of the row, whole."""

    header: str
    minimum: int = 0
    elide: bool = False
    items: bool = False
    right: bool = False


MAX_ITEM_WIDTH = 40  # an `items` column narrows to its longest item, at most this (longer ones are elided)
BREAK_AFTER = ("/ ", ":@,", ".-_")  # where a long value is broken onto the next line, in order of preference


def terminal_width(stream: TextIO | None = None) -> int | None:
    """COLUMNS when set, else the terminal's width when `stream` (stdout) is one; None (no limit) for a
    pipe or a file, where nothing wraps and nothing is cut."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    stream = stream or sys.stdout
    try:
        return os.get_terminal_size(stream.fileno()).columns if stream.isatty() else None
    except (OSError, ValueError, AttributeError):
        return None


def table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None) -> list[str]:
    """Rows as aligned lines no longer than `width`: narrowable columns narrow first (never below their
    minimum); when even that cannot fit, one block per row (its first cell, then `name  value` lines,
    a long value broken onto more lines) instead. Never misaligned."""
    natural = [max([len(c.header), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    minimums = [_minimum(c, [r[i] for r in rows], natural[i]) for i, c in enumerate(columns)]
    widths = _fit(natural, minimums, width)
    if widths is None:
        return _blocks(columns, rows, width or 0)
    lines = [_join([c.header for c in columns], columns, widths)]
    for row in rows:
        cells = [_cell(value, c, w) for value, c, w in zip(row, columns, widths, strict=True)]
        for i in range(max(len(c) for c in cells)):
            lines.append(_join([c[i] if i < len(c) else "" for c in cells], columns, widths))
    return lines


def _minimum(column: Column, values: Sequence[str], natural: int) -> int:
    """How narrow the column may get (its natural width: it may not)."""
    if not column.minimum:
        return natural
    floor = max(column.minimum, len(column.header))
    if column.items:
        longest = max((len(item) for v in values for item in v.split(", ")), default=0)
        floor = max(floor, min(longest + 1, MAX_ITEM_WIDTH))  # +1: the comma after an item
    return min(floor, natural)


def _fit(natural: list[int], minimums: list[int], width: int | None) -> list[int] | None:
    widths = list(natural)
    if width is None:
        return widths
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - width
    while excess > 0:
        slack = [(w - m, i) for i, (w, m) in enumerate(zip(widths, minimums, strict=True)) if w > m]
        if not slack:
            return None
        room, i = max(slack)
        cut = min(room, excess, max(1, room // 2))
        widths[i] -= cut
        excess -= cut
    return widths


def _cell(value: str, column: Column, width: int, *, whole: bool = False) -> list[str]:
    """A value in `width` columns: as it is, elided in its middle, its items on more lines, or broken
    onto more lines (`whole`: never elided)."""
    if len(value) <= width:
        return [value]
    if column.items:
        lines: list[str] = []
        for item in value.split(", "):
            item = _elide(item, width - 1) if not whole and len(item) > width - 1 else item
            if lines and len(lines[-1]) + len(item) + 2 <= width:
                lines[-1] += " " + item + ","
            else:
                lines.extend(_broken(item + ",", width))
        lines[-1] = lines[-1].removesuffix(",")
        return lines
    if column.elide and not whole:
        return [_elide(value, width)]
    return _broken(value, width)


def _elide(value: str, width: int) -> str:
    keep = max(width - len(ELLIPSIS), 2)
    return value[:keep // 2] + ELLIPSIS + value[len(value) - (keep - keep // 2):]


def _broken(value: str, width: int) -> list[str]:
    """`value` on lines of at most `width`, each break after one of BREAK_AFTER when one is near its end."""
    lines = []
    while len(value) > width:
        cut = next((cut for chars in BREAK_AFTER
                    if (cut := max(value.rfind(c, width // 2, width) + 1 for c in chars))), width)
        lines.append(value[:cut].rstrip())
        value = value[cut:].lstrip()
    return [*lines, value]


def _join(cells: Sequence[str], columns: Sequence[Column], widths: Sequence[int]) -> str:
    parts = [f"{cell:>{w}}" if c.right else f"{cell:<{w}}" for cell, c, w in zip(cells, columns, widths, strict=True)]
    return GAP.join(parts).rstrip()


def _blocks(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[str]:
    """One block per row for a terminal too narrow for the table: its first cell, then each other cell
    as `name  value`, a long value broken onto more lines under itself, nothing cut."""
    names = [c.header.lower() for c in columns[1:]]
    pad = max(len(n) for n in names)
    indent = 2 + pad + len(GAP)
    room = max(width - indent, 16)
    lines: list[str] = []
    for row in rows:
        lines.append(row[0])
        for name, value, column in zip(names, row[1:], columns[1:], strict=True):
            wrapped = _cell(value, column, room, whole=True)
            lines.append(f"  {name:<{pad}}{GAP}{wrapped[0]}".rstrip())
            lines.extend(" " * indent + more for more in wrapped[1:])
    return lines
