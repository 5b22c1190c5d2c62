"""Ruff's `AIR` rules (Airflow 3 removals and moves) as findings, warnings by default."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from airflow_dag_publisher.validators.model import NO_FILE, WARNING, Finding

RUFF_SECONDS = 120.0


def find_ruff() -> str | None:
    """The ruff next to this interpreter (the venv's), else one on PATH."""
    beside = Path(sys.executable).parent / "ruff"
    if beside.is_file():
        return str(beside)
    return shutil.which("ruff")


def ruff_findings(source: Path, files: list[str], ruff: str | None = None) -> list[Finding]:
    """AIR findings for `files` (paths relative to `source`); a missing or failing ruff is a warning."""
    if not files:
        return []
    ruff = ruff or find_ruff()
    if ruff is None:
        return [Finding(NO_FILE, "ruff-missing", WARNING, "ruff is not installed: the AIR rules were not checked")]
    # --isolated: the repository's own ruff configuration (excludes, ignores) does not hide AIR findings.
    cmd = [ruff, "check", "--isolated", "--no-cache", "--exit-zero", "--select", "AIR", "--output-format", "json",
           "--", *files]
    try:
        proc = subprocess.run(cmd, cwd=source, capture_output=True, text=True, timeout=RUFF_SECONDS, check=False)
        diagnostics = json.loads(proc.stdout or "[]")
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        return [Finding(NO_FILE, "ruff-failed", WARNING, f"ruff could not check the AIR rules: {exc}")]
    if proc.returncode != 0 or not isinstance(diagnostics, list):
        detail = (proc.stderr or "").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return [Finding(NO_FILE, "ruff-failed", WARNING, f"ruff could not check the AIR rules: {detail[0]}")]
    # Syntax errors come without an AIR code: the static layer reports those already.
    return [_finding(source, d) for d in diagnostics
            if isinstance(d, dict) and str(d.get("code") or "").startswith("AIR")]


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
