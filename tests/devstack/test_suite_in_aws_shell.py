"""`make test` from an AWS user's shell: the root conftest's fixtures (SeaweedFS, a bucket, the S3
environment), in-process boto3 and the CLIs a test starts work the same as from a clean shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.devstack.aws_user import USER_SETTINGS, aws_user_env

ROOT = Path(__file__).resolve().parents[2]
AWS_CLI = Path(sys.executable).parent / "aws"


def test_fixtures_boto3_and_clis_see_only_the_local_s3(bucket: str, s3_env: dict[str, str]) -> None:
    """Run by the test below inside an AWS user's shell (and, like any test, in the plain suite)."""
    assert not [k for k, v in USER_SETTINGS.items() if os.environ.get(k) == v]
    client = boto3.client("s3")                       # as the package's code makes its clients
    client.put_object(Bucket=bucket, Key="dev/x.py", Body=b"x = 1\n")
    listed = subprocess.run([str(AWS_CLI), "s3", "ls", f"s3://{bucket}/dev/"], env=dict(os.environ),
                            capture_output=True, text=True, timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    assert "x.py" in listed.stdout


@pytest.mark.slow
def test_pytest_runs_from_an_aws_users_shell(tmp_path: Path) -> None:
    inner = f"{Path(__file__).relative_to(ROOT)}::test_fixtures_boto3_and_clis_see_only_the_local_s3"
    shell = aws_user_env(tmp_path / "home", {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")})
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "-q", inner], cwd=ROOT,
                          env=shell, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
