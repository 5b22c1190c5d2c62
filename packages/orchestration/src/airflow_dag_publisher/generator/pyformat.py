"""Python literals laid out the way `ruff format` lays them out, so generated files need no formatter.

A value fits on one line when the whole line stays within LINE_LENGTH; otherwise its brackets are
exploded one element per line with a trailing comma (the "magic trailing comma" keeps that layout
stable under ruff format). A line that cannot fit (a long string) is marked `# noqa: E501`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

LINE_LENGTH = 120
NOQA_E501 = "  # noqa: E501"


@dataclass(frozen=True)
class Code:
    """Python source inserted as it is (e.g. `timedelta(minutes=5)`)."""

    text: str


@dataclass(frozen=True)
class Call:
    func: str
    kwargs: tuple[tuple[str, Value], ...]


Value = str | int | bool | None | Code | Call | Sequence["Value"] | dict[str, "Value"]


def py_str(text: str) -> str:
    """A string literal in ruff's preferred quotes (double, unless that needs more escapes)."""
    quote = "'" if text.count('"') > text.count("'") else '"'
    out = []
    for ch in text:
        if ch == "\\" or ch == quote:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return quote + "".join(out) + quote


def width(line: str) -> int:
    """Display width as ruff measures it: wide East Asian characters count twice, combining marks zero."""
    total = 0
    for ch in line:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def mark_overlong(line: str) -> str:
    """`line`, with `# noqa: E501` if ruff's E501 would flag it: too wide, more than one word, and not
    ending with a URL that starts within the limit (ruff exempts those two kinds of line)."""
    if width(line) <= LINE_LENGTH:
        return line
    chunks = line.split()
    if len(chunks) < 2 or ("://" in chunks[-1] and width(line) - width(chunks[-1]) <= LINE_LENGTH):
        return line
    return line + NOQA_E501


def one_line(value: Value) -> str:
    if isinstance(value, Code):
        return value.text
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return repr(value)
    if isinstance(value, str):
        return py_str(value)
    if isinstance(value, Call):
        return f"{value.func}({', '.join(f'{k}={one_line(v)}' for k, v in value.kwargs)})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_str(k)}: {one_line(v)}" for k, v in value.items()) + "}"
    return "[" + ", ".join(one_line(v) for v in value) + "]"


def layout(value: Value, indent: int, head: str, tail: str) -> list[str]:
    """Lines for `head + value + tail` at `indent` spaces: one line if it fits, else exploded."""
    pad = " " * indent
    single = f"{pad}{head}{one_line(value)}{tail}"
    children = _children(value)
    if width(single) <= LINE_LENGTH or not children:
        return [mark_overlong(single)]
    opening, closing, items = children
    lines = [f"{pad}{head}{opening}"]
    for item_head, item in items:
        lines.extend(layout(item, indent + 4, item_head, ","))
    lines.append(f"{pad}{closing}{tail}")
    return lines


def _children(value: Value) -> tuple[str, str, list[tuple[str, Value]]] | None:
    if isinstance(value, Call) and value.kwargs:
        return f"{value.func}(", ")", [(f"{k}=", v) for k, v in value.kwargs]
    if isinstance(value, dict) and value:
        return "{", "}", [(f"{py_str(k)}: ", v) for k, v in value.items()]
    if isinstance(value, (list, tuple)) and value:
        return "[", "]", [("", v) for v in value]
    return None


def kwarg(name: str, value: Value, indent: int) -> str:
    """`name=value,` as one or more lines (for the template)."""
    return "\n".join(layout(value, indent, f"{name}=", ","))


def timedelta_code(seconds: int) -> Code:
    """`timedelta(hours=1, minutes=30)`: the largest units, in a canonical order."""
    parts = []
    remaining = seconds
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{unit}={count}")
    return Code(f"timedelta({', '.join(parts)})" if parts else "timedelta(0)")
