"""Structured logs: `--log-format json` prints one JSON object per line; text appends key=value."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, timezone

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update(_fields(record))
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        return f"{ts} {record.levelname:<7} {record.getMessage()}" + (f" [{extra}]" if extra else "")


@contextlib.contextmanager
def configured(fmt: str, level: str) -> Iterator[None]:
    """Log to the current stderr in `fmt` at `level` while the block runs; the root logger is put back
    afterwards (an in-process caller, such as a test, gets its own stderr each time)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("botocore", "boto3", "urllib3", "s3transfer")}
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in noisy:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, old in noisy.items():
            logging.getLogger(name).setLevel(old)
