"""The publisher against an S3 endpoint that accepts connections and never answers: it fails with exit 3
within 30 s by default (--s3-timeout per attempt, boto's attempts), honours AWS_MAX_ATTEMPTS and
AWS_RETRY_MODE, and logs each failed attempt under -v. A malformed AWS_ENDPOINT_URL is exit 2 naming the
variable, not "a bug". Real processes against a loopback listener."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_dag_publisher.storage import make_client

BIN = Path(sys.executable).parent


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """http://127.0.0.1:PORT: accepts every connection, reads nothing, answers nothing; closed at the end."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        deadline = time.monotonic() + 300
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


def run(argv: list[str], **environ: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
           "AWS_DEFAULT_REGION": "us-east-1", **environ}
    for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "DAG_S3_TIMEOUT"):
        if name not in environ:
            env.pop(name, None)
    started = time.monotonic()
    done = subprocess.run([str(BIN / "airflow-dag-publisher"), *argv], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    return done, time.monotonic() - started


def test_a_silent_endpoint_fails_with_exit_3_within_30_s_and_v_shows_each_attempt(silent_endpoint: str) -> None:
    done, seconds = run(["-v", "list", "--env", "dev", "--bucket", "dags"], AWS_ENDPOINT_URL=silent_endpoint)
    print(f"\nsilent endpoint, defaults: exit {done.returncode} after {seconds:.1f} s")
    assert done.returncode == 3, done.stderr
    assert seconds < 30
    assert done.stderr.strip().splitlines()[-1] == (
        "airflow-dag-publisher: error: S3 timed out trying to read s3://dags/dev/_environment.json")
    attempts = [line for line in done.stderr.splitlines() if "S3 GetObject: attempt" in line]
    assert [line.split("attempt ")[1][:6] for line in attempts] == ["1 of 3", "2 of 3", "3 of 3"], done.stderr
    assert "Read timeout" in attempts[0] and "Traceback" not in done.stderr


def test_aws_max_attempts_and_dag_s3_timeout_shorten_it(silent_endpoint: str) -> None:
    done, seconds = run(["-v", "history", "--env", "dev", "--bucket", "dags", "--package", "alpha"],
                        AWS_ENDPOINT_URL=silent_endpoint, AWS_MAX_ATTEMPTS="1", DAG_S3_TIMEOUT="1")
    assert done.returncode == 3, done.stderr
    assert seconds < 10
    assert done.stderr.count("S3 GetObject: attempt") == 1 and "attempt 1 of 1 failed" in done.stderr
    flag, seconds = run(["list", "--env", "dev", "--bucket", "dags", "--s3-timeout", "0.5"],
                        AWS_ENDPOINT_URL=silent_endpoint, AWS_MAX_ATTEMPTS="2")
    assert flag.returncode == 3 and seconds < 10, flag.stderr


def test_boto_retry_settings_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    assert make_client(attempts=2).meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    assert make_client(attempts=2).meta.config.retries == {"mode": "adaptive", "total_max_attempts": 7}


@pytest.mark.parametrize("endpoint", ["not-a-url", "ftp://127.0.0.1:9", "http://exa mple:9", "http://"])
def test_a_malformed_endpoint_is_a_configuration_error_naming_the_variable(endpoint: str, tmp_path: Path) -> None:
    done, _ = run(["list", "--env", "dev", "--bucket", "dags"], AWS_ENDPOINT_URL=endpoint)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (f"airflow-dag-publisher: error: AWS_ENDPOINT_URL={endpoint!r} is not an S3 endpoint "
                                   "URL (expected http(s)://HOST[:PORT], e.g. http://127.0.0.1:8333; unset it to use "
                                   "AWS's own)")
    agent = subprocess.run([str(BIN / "airflow-dag-sync"), "--once", "--bucket", "dags", "--env", "dev",
                            "--dags-dir", str(tmp_path / "dags")], env={**os.environ, "AWS_ENDPOINT_URL": endpoint},
                           capture_output=True, text=True, timeout=60, check=False)
    assert agent.returncode == 2 and "AWS_ENDPOINT_URL=" in agent.stderr and "internal error" not in agent.stderr
