"""gitlab-ci-local for the tests of this folder (the package template and the repository's own pipeline)."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NPM_DIR = REPO / "devstack" / "npm"
GCL = NPM_DIR / "node_modules" / ".bin" / "gitlab-ci-local"


@pytest.fixture(scope="session")
def gitlab_ci_local() -> Path:
    """gitlab-ci-local as pinned in devstack/npm (installed by `make system-tools`; installed here if missing)."""
    if not GCL.exists():
        if shutil.which("node") is None or shutil.which("npm") is None:
            pytest.skip("node and npm are needed to install gitlab-ci-local (devstack/npm); one is missing here")
        # pytest-xdist workers install once, under a lock outside the work tree
        with (Path(tempfile.gettempdir()) / "airflow-dag-publisher-npm.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not GCL.exists():
                subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NPM_DIR,
                               check=True, timeout=300, capture_output=True)
    if shutil.which("rsync") is None:
        pytest.skip("gitlab-ci-local needs rsync (make system-tools installs it)")
    return GCL
