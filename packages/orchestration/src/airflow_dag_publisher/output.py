"""Terminal output: plain lines to stdout, JSON documents, and a progress bar on a terminal."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, TextIO


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def info(message: str, *, quiet: bool = False) -> None:
    """A human line: stdout normally, stderr when stdout carries JSON (`quiet`)."""
    print(message, file=sys.stderr if quiet else sys.stdout)


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = total > 0 and self.stream.isatty()
        self._lock = threading.Lock()

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            if self.enabled:
                width = 30
                filled = int(width * self.done / self.total)
                self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
                self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
