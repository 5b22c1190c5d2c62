"""Ruff's `AIR` rules (Airflow 3 removals and moves) as findings.

Each AIR finding is a warning. The layer itself is requested by default (`validate --no-ruff` turns it
off): when it is requested and cannot run (ruff missing, or ruff failing), that is an error, so a CI
job never passes with the rules silently unchecked. ruff is a dependency of airflow-dag-publisher, so
wherever the publisher is installed (the CI template installs it into the Airflow image) ruff is too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

from airflow_dag_publisher.validators.model import ERROR, NO_FILE, WARNING, Finding

RUFF_SECONDS = 120.0
_NOT_CHECKED = "the AIR rules could not be checked (`validate --no-ruff` leaves them out on purpose)"


_FIND_LOCK = threading.Lock()


def find_ruff() -> str | None:
    """The ruff binary installed with the `ruff` distribution (found by its own locator: the venv, the
    user scheme such as ~/.local/bin, --prefix and --target installs), else one on PATH. One caller at
    a time: ruff's locator reads `sysconfig`, whose first initialisation is not thread-safe (publishers
    running in threads saw `EXE` as None)."""
    with _FIND_LOCK:
        return _find_ruff()


def _find_ruff() -> str | None:
    try:
        from ruff import find_ruff_bin
    except ImportError:
        pass
    else:
        try:
            return str(find_ruff_bin())
        except FileNotFoundError:
            pass
    return shutil.which("ruff")


def ruff_findings(source: Path, files: list[str], ruff: str | None = None) -> list[Finding]:
    """AIR findings (warnings) for `files` (paths relative to `source`); a ruff that is missing or
    fails gives one error instead."""
    if not files:
        return []
    ruff = ruff or find_ruff()
    if ruff is None:
        why = "ruff is not installed (airflow-dag-publisher depends on it: `pip install ruff`)"
        return [Finding(NO_FILE, "ruff-missing", ERROR, f"{why}: {_NOT_CHECKED}")]
    # --isolated: the repository's own ruff configuration (excludes, ignores) does not hide AIR findings.
    cmd = [ruff, "check", "--isolated", "--no-cache", "--exit-zero", "--select", "AIR", "--output-format", "json",
           "--", *files]
    try:
        proc = subprocess.run(cmd, cwd=source, capture_output=True, text=True, timeout=RUFF_SECONDS, check=False)
        diagnostics = json.loads(proc.stdout or "[]")
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        return [_failed(ruff, str(exc))]
    if proc.returncode != 0 or not isinstance(diagnostics, list):
        detail = (proc.stderr or "").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return [_failed(ruff, detail[0])]
    # Syntax errors come without an AIR code: the static layer reports those already.
    return [_finding(source, d) for d in diagnostics
            if isinstance(d, dict) and str(d.get("code") or "").startswith("AIR")]


def _failed(ruff: str, detail: str) -> Finding:
    return Finding(NO_FILE, "ruff-failed", ERROR, f"{ruff} could not check the AIR rules ({detail}): {_NOT_CHECKED}")


def _finding(source: Path, diagnostic: dict[str, object]) -> Finding:
    filename = Path(str(diagnostic.get("filename", "")))
    try:
        rel = filename.resolve().relative_to(source.resolve()).as_posix()
    except ValueError:
        rel = filename.as_posix()
    location = diagnostic.get("location")
    line = location.get("row") if isinstance(location, dict) else None
    where = f"line {line}: " if line else ""
    code = str(diagnostic.get("code") or "AIR")
    return Finding(rel, f"ruff-{code}", WARNING, f"{where}{diagnostic.get('message', '')}")
