"""Fixtures of the reliability suite: one bucket per worker session (SeaweedFS has a few dozen
volumes, and each bucket takes its own), an environment prefix per test, and the figures summary.

Scale: the short form runs in `make test`; RELIABILITY_SOAK=1 (`make soak`) multiplies every
count by 10 (or by RELIABILITY_SCALE=N when set) and runs the hypothesis properties with 1,500
examples each. RELIABILITY_SEED=N repeats the kill points of a run.

Figures: printed by tests.reliability.figures' terminal summary. This conftest loads it when
tests/reliability is named on the command line; for a plain `pytest` (testpaths) under xdist the
controller never imports this file, so the root conftest lists the plugin in `pytest_plugins`
(or pass `-p tests.reliability.figures`)."""

from __future__ import annotations

import uuid

import pytest

from devstack.seaweedfs import SeaweedFS
from tests.reliability.figures import pytest_configure, pytest_terminal_summary

__all__ = ["pytest_configure", "pytest_terminal_summary"]


@pytest.fixture(scope="session")
def shared_bucket(seaweedfs: SeaweedFS) -> str:
    return seaweedfs.create_bucket(f"reliability-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def env(shared_bucket: str, seaweedfs: SeaweedFS) -> str:
    """A fresh environment of the shared bucket, declared as the infrastructure declares one: tests never
    see each other's packages."""
    name = f"r{uuid.uuid4().hex[:10]}"
    seaweedfs.declare_environment(shared_bucket, name)
    return name
