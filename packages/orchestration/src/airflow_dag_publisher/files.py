"""Writing a file so that a reader (Airflow, the agent after a crash, a test) sees the old content or
the new one, never half: a temporary file beside it, then `os.replace`. Not fsync'ed: a crash of the
whole machine may leave an empty file, which every caller tolerates (see sync/state.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
