"""devstack.seaweedfs from an AWS user's shell, and a SeaweedFS that cannot start: it says why
within seconds (weed's own reason from its log), never after waiting out its start timeout."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.local_env import local_env
from devstack.seaweedfs import SeaweedFS, SeaweedFSError, write_identities
from tests.devstack.aws_user import USER_SETTINGS, aws_user_env

pytestmark = pytest.mark.slow
AWS_CLI = Path(sys.executable).parent / "aws"
FAST = 30.0   # seconds: weed needs ~2-8 s on a busy 2-core machine to start (or to die); the timeouts are 120 s


def _weed_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(entry.split("=", 1) for entry in raw.decode(errors="replace").split("\0") if "=" in entry)


@pytest.mark.parametrize("settings", ["credentials", "credentials, profile and config files"])
def test_seaweedfs_serves_the_stack_from_an_aws_users_shell(settings: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    user = aws_user_env(tmp_path / "home", {})
    if settings == "credentials":
        user = {k: user[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    for key, value in user.items():
        monkeypatch.setenv(key, value)

    started = time.monotonic()
    with SeaweedFS(tmp_path / "s3", start_timeout=120) as s3:
        assert time.monotonic() - started < FAST
        assert s3.proc is not None
        leaked = sorted(k for k in _weed_environ(s3.proc.pid) if k in USER_SETTINGS)
        assert not leaked, f"weed sees the caller's {leaked}"
        bucket = s3.create_bucket("aws-user-shell")
        client = s3.client()
        client.put_object(Bucket=bucket, Key="dev/a.py", Body=b"x = 1\n")
        assert client.get_object(Bucket=bucket, Key="dev/a.py")["Body"].read() == b"x = 1\n"
        # A CLI the stack starts gets local_env(): this shell's profile and keys do not reach it.
        listed = subprocess.run([str(AWS_CLI), "s3", "ls", f"s3://{bucket}/dev/"], env=local_env(s3.env()),
                                capture_output=True, text=True, timeout=120, check=False)
        assert listed.returncode == 0, listed.stderr
        assert "a.py" in listed.stdout


def test_a_weed_that_exits_while_starting_is_reported_at_once_with_its_reason(tmp_path: Path) -> None:
    with socket.socket() as taken:          # another program already listens on the S3 port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        s3 = SeaweedFS(tmp_path / "s3", start_timeout=120)
        started = time.monotonic()
        with pytest.raises(SeaweedFSError) as failure:
            s3.start(s3_port=taken.getsockname()[1])
        elapsed = time.monotonic() - started
    message = str(failure.value)
    assert elapsed < FAST, f"reported after {elapsed:.0f} s: {message}"
    assert "weed server exited" in message
    assert "address already in use" in message      # weed's own fatal line, not just "see the log"
    assert str(s3.log_path) in message
    assert s3.proc is None


def test_an_s3_endpoint_that_refuses_the_credentials_fails_at_once(tmp_path: Path) -> None:
    identities = write_identities(tmp_path / "s3-identities.json", name="someone",  # authentication on, for
                                  access_key=USER_SETTINGS["AWS_ACCESS_KEY_ID"],     # someone else's key
                                  secret_key=USER_SETTINGS["AWS_SECRET_ACCESS_KEY"])
    s3 = SeaweedFS(tmp_path / "s3", start_timeout=120, extra_args=[f"-s3.config={identities}"])
    started = time.monotonic()
    with pytest.raises(SeaweedFSError) as failure:
        s3.start()
    elapsed = time.monotonic() - started
    message = str(failure.value)
    assert elapsed < FAST, f"reported after {elapsed:.0f} s: {message}"
    assert "InvalidAccessKeyId" in message
    assert "authentication is on" in message
    assert s3.proc is None
