"""devstack.local_env: what the local stack's processes keep of the caller's environment (nothing
of its AWS settings), without a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import botocore.exceptions
import pytest

from devstack.local_env import NO_AWS_FILES, boto3_session, local_env
from tests.devstack.aws_user import USER_SETTINGS, aws_user_env

ROOT = Path(__file__).resolve().parents[2]


def test_local_env_keeps_no_aws_setting_of_the_caller_and_everything_else(tmp_path: Path) -> None:
    caller = aws_user_env(tmp_path / "home", {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "AIRFLOW__CORE__X": "1"})
    env = local_env({"AWS_ENDPOINT_URL": "http://127.0.0.1:8333"}, base=caller, drop_prefixes=("AIRFLOW__",))
    assert {k for k in env if k.startswith("AWS_")} == {*NO_AWS_FILES, "AWS_ENDPOINT_URL"}
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:8333"          # an overlay comes last
    assert env["PATH"] == "/usr/bin:/bin" and env["LANG"] == "C.UTF-8"
    assert "AIRFLOW__CORE__X" not in env


def test_isolate_process_leaves_the_process_and_its_children_without_the_callers_aws(tmp_path: Path) -> None:
    code = ("import json, os, subprocess, sys\n"
            "from devstack.local_env import isolate_process\n"
            "removed = isolate_process()\n"
            "child = subprocess.run([sys.executable, '-c', 'import json, os; print(json.dumps(dict(os.environ)))'],"
            " capture_output=True, text=True, check=True)\n"
            "print(json.dumps({'removed': removed, 'child': json.loads(child.stdout)}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=aws_user_env(tmp_path / "home", {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(USER_SETTINGS) <= set(report["removed"])
    assert {k: v for k, v in report["child"].items() if k.startswith("AWS_")} == NO_AWS_FILES


def test_boto3_session_reads_no_profile_variable_and_no_aws_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    for key, value in aws_user_env(tmp_path / "home", {}).items():
        monkeypatch.setenv(key, value)
    client_args = {"endpoint_url": "http://127.0.0.1:9", "aws_access_key_id": "devstack",
                   "aws_secret_access_key": "devstack-secret", "region_name": "us-east-1"}
    with pytest.raises(botocore.exceptions.ProfileNotFound):   # what a plain session does in this shell
        boto3.session.Session().client("s3", **client_args)
    client = boto3_session().client("s3", **client_args)
    assert client.meta.endpoint_url == "http://127.0.0.1:9"

    monkeypatch.delenv("AWS_PROFILE")
    monkeypatch.delenv("AWS_DEFAULT_PROFILE")
    assert boto3.session.Session().region_name == "eu-west-1"     # from the variables and ~/.aws/config
    session = boto3_session()
    assert session.region_name is None
    assert session.get_credentials() is None                       # neither the variables nor the file
