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
