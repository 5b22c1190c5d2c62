"""Fixtures shared by every test in the repository: a real SeaweedFS S3 server per test session
(per xdist worker), a fresh versioned bucket per test, and an environment pointing boto3 at it,
in a process that kept none of the caller's AWS settings (devstack.local_env)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.local_env import isolate_process
from devstack.seaweedfs import SeaweedFS

# The reliability suite's figures ("N publishers killed, M folder samples, 0 torn") in the terminal
# summary; a plugin, so the xdist controller loads it too.
pytest_plugins = ["tests.reliability.figures"]


def pytest_configure(config: pytest.Config) -> None:
    """No test sees the caller's AWS settings (`make test` from a shell with AWS credentials, a
    profile or config files): they leave os.environ before any test module, fixture or xdist
    worker starts, so neither in-process boto3 nor a subprocess can read them."""
    isolate_process()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def s3_env(seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point boto3 (and subprocesses that inherit os.environ) at the test server."""
    env = seaweedfs.env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def bucket(seaweedfs: SeaweedFS, s3_env: dict[str, str]) -> str:
    """A fresh bucket with versioning Enabled, unique to the test."""
    return seaweedfs.create_bucket(f"dags-{uuid.uuid4().hex[:12]}")


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never read the user's real AWS configuration or credentials (pytest_configure removed the
    caller's AWS_* settings), and never reach AWS: without a test endpoint, a closed loopback port."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    if "AWS_ENDPOINT_URL" not in os.environ:
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")


@pytest.fixture(autouse=True)
def _no_inherited_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables fit COLUMNS when it is set (xdist's workers set it to 80): a test that wants a width says so."""
    monkeypatch.delenv("COLUMNS", raising=False)
