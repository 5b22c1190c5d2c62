"""The direct GET path (a URL botocore presigns, sent through the client's own HTTP session) against a
server that verifies SigV4 signatures (SeaweedFS with an identity): with the right secret a cold sync
takes it; with a wrong one the request is refused and reported as a credentials error (exit 3, the
reason named), in one request, not asked again through botocore."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_dag_publisher.errors import StorageError
from airflow_dag_publisher.storage import Storage, make_client, manifest_key

from devstack.seaweedfs import SeaweedFS, free_port
from packages.orchestration.tests.sync.support import DirectPublisher, folder_view

pytestmark = pytest.mark.slow
SYNC = str(Path(sys.executable).parent / "airflow-dag-sync")
FILES = {"alpha_daily.py": b"A = 1\n", "lib/helper.py": b"H = 1\n"}


@pytest.fixture(scope="module")
def signed_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A SeaweedFS that authenticates every request: only the devstack identity, SigV4 verified."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs-sigv4"), identity=True, start_timeout=120)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def published(signed_s3: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(bucket, env) holding release `alpha`, published with the right credentials."""
    for key, value in signed_s3.env().items():
        monkeypatch.setenv(key, value)
    bucket = signed_s3.create_bucket(f"sig-{uuid.uuid4().hex[:12]}")
    env = f"t{uuid.uuid4().hex[:8]}"
    DirectPublisher(Storage(bucket), env).publish("alpha", FILES, archive=True)
    return bucket, env


def sync_once(env_vars: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SYNC, "--once", *args], env={**os.environ, **env_vars}, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_direct_path_reads_from_a_server_that_verifies_signatures(published: tuple[str, str]) -> None:
    bucket, env = published
    storage = Storage(bucket, make_client(attempts=1))
    assert storage.direct
    before = storage.requests
    read = storage.get(manifest_key(env, "alpha"))
    assert read.obj is not None and b'"package": "alpha"' in read.obj.body and storage.requests - before == 1


def test_a_cold_sync_with_the_right_credentials_works(published: tuple[str, str], tmp_path: Path) -> None:
    bucket, env = published
    dags = tmp_path / "dags"
    done = sync_once({}, "--bucket", bucket, "--env", env, "--dags-dir", str(dags))
    assert done.returncode == 0, done.stderr
    assert folder_view(dags) == {"alpha": FILES}


def test_a_wrong_secret_is_refused_once_as_a_credentials_error(published: tuple[str, str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    bucket, env = published
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    storage = Storage(bucket, make_client(attempts=3))
    assert storage.direct
    with pytest.raises(StorageError) as caught:
        storage.get(manifest_key(env, "alpha"))
    assert caught.value.kind == "credentials"
    assert "SignatureDoesNotMatch" in str(caught.value) and f"s3://{bucket}/{env}/alpha/manifest.json" in str(
        caught.value)
    assert storage.requests == 1  # refused by the direct GET itself: no second request through botocore


def test_the_agents_probe_is_one_signed_request_never_retried(published: tuple[str, str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe the agent sends while it backs off: True from a server that verifies signatures,
    False for a wrong secret and for a closed port, each after exactly one request and no retry sleep
    (botocore's standard retries would sleep up to 3 s before the third attempt)."""
    bucket, env = published
    storage = Storage(bucket, make_client(attempts=3))
    assert storage.answers(env) and storage.requests == 1
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    wrong = Storage(bucket, make_client(attempts=3))
    assert not wrong.answers(env) and wrong.requests == 1
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    closed = Storage(bucket, make_client(attempts=3))
    started = time.monotonic()
    assert not closed.answers(env)
    assert closed.requests == 1 and time.monotonic() - started < 0.5


@pytest.mark.parametrize("extra", [[], ["--dag-id", "alpha_daily"]])  # a listing first / a manifest GET first
def test_sync_once_with_a_wrong_secret_exits_3_naming_the_credentials(published: tuple[str, str], tmp_path: Path,
                                                                      extra: list[str]) -> None:
    bucket, env = published
    dags = tmp_path / "dags"
    done = sync_once({"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, "--bucket", bucket, "--env", env,
                     "--dags-dir", str(dags), *extra)
    assert done.returncode == 3, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "AWS credentials rejected (SignatureDoesNotMatch)" in last and f"s3://{bucket}/" in last
    assert "Traceback" not in done.stderr
    assert not (dags / "alpha").exists()
