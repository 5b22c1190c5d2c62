"""Pieces shared by the commands that talk to S3: checked names, the storage, release metadata."""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import subprocess
from pathlib import Path

from airflow_dag_publisher import __version__
from airflow_dag_publisher.names import check_bucket, check_env, check_package
from airflow_dag_publisher.publisher import ReleaseMeta
from airflow_dag_publisher.storage import Storage


def target(args: argparse.Namespace, *, package: bool = True) -> tuple[Storage, str, str]:
    """Check --env, --bucket (and --package) and open the storage. Names are checked first, so a bad
    name is a usage error before any network call."""
    env = check_env(args.env)
    bucket = check_bucket(args.bucket)
    pkg = check_package(args.package) if package else (args.package or "")
    if not package and args.package:
        check_package(args.package)
    return Storage(bucket), env, pkg


def published_by() -> str:
    job = os.environ.get("CI_JOB_ID")
    if job:
        project = os.environ.get("CI_PROJECT_PATH", "")
        return f"gitlab-ci job {job}" + (f" ({project})" if project else "")
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def git_sha(source: Path | None) -> str | None:
    sha = os.environ.get("CI_COMMIT_SHA")
    if sha:
        return sha
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source or Path.cwd(), capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def release_meta(image: str | None, source: Path | None = None) -> ReleaseMeta:
    return ReleaseMeta(published_by=published_by(), tool_version=__version__, git_sha=git_sha(source),
                       image=image or None)
