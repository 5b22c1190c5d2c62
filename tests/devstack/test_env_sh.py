"""`.local/demo/env.sh` (the README's second terminal) in an AWS user's shell: after sourcing it,
the shell reaches the demo's S3 and keeps none of its own AWS settings (bash and a POSIX sh)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devstack.demo_stack import env_sh
from devstack.seaweedfs import SeaweedFS
from tests.devstack.aws_user import USER_SETTINGS, aws_user_env

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_env_sh_leaves_a_users_shell_with_the_demos_s3_only(shell: str, seaweedfs: SeaweedFS, tmp_path: Path) -> None:
    bucket = seaweedfs.create_bucket(f"env-sh-{uuid.uuid4().hex[:8]}")
    (tmp_path / "env.sh").write_text(env_sh(seaweedfs.env(), environment="dev", bucket=bucket, venv_bin=BIN))
    user = aws_user_env(tmp_path / "home", {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home")})
    script = '. ./env.sh && aws s3api head-bucket --bucket "$DAG_BUCKET" && env'
    done = subprocess.run([shell, "-c", script], cwd=tmp_path, env=user, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    after = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    kept = sorted(k for k, v in USER_SETTINGS.items() if after.get(k) == v)
    assert not kept, f"still set after sourcing env.sh: {kept}"
    assert "AWS_PROFILE" not in after and "AWS_SESSION_TOKEN" not in after and "AWS_CA_BUNDLE" not in after
    assert after["AWS_ENDPOINT_URL"] == seaweedfs.endpoint and after["DAG_BUCKET"] == bucket


def test_env_sh_exports_the_airflow_api_for_wait(tmp_path: Path) -> None:
    """`publish --wait` from a second terminal needs Airflow's address and a login: env.sh gives both."""
    text = env_sh({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, environment="dev", bucket="b", venv_bin=BIN,
                  airflow=("http://127.0.0.1:8080", "admin", "pa ss'word"))
    (tmp_path / "env.sh").write_text(text)
    done = subprocess.run(["sh", "-c", ". ./env.sh && env"], cwd=tmp_path, env={"PATH": os.environ["PATH"]},
                          capture_output=True, text=True, timeout=60, check=True)
    after = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert (after["AIRFLOW_API_URL"], after["AIRFLOW_API_USERNAME"], after["AIRFLOW_API_PASSWORD"]) == (
        "http://127.0.0.1:8080", "admin", "pa ss'word")
