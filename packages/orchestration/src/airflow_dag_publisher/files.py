"""Files the tools read and write themselves.

`read_text`: a configuration file a user names (a jobs.yaml spec, a trust file), capped in size, UTF-8;
every failure a usage error naming the file. `write_atomic`: a reader (Airflow, the agent after a
crash, a test) sees the old content or the new one, never half: a temporary file beside it, then
`os.replace`. Not fsync'ed: a crash of the whole machine may leave an empty file, which every caller
tolerates (see sync/state.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from airflow_dag_publisher.errors import UsageError


def read_text(path: Path, *, max_bytes: int, what: str) -> str:
    """The UTF-8 text of `path`, at most `max_bytes` bytes; UsageError starting with `what` (the
    option or role and the path) otherwise."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UsageError(f"{what}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise UsageError(f"{what}: over {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what}: not UTF-8 text ({exc})") from None


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace `path` with `data`. `mode`: the file's permissions (default: 0600, tempfile's)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
