"""`<env>/_environment.json`: an environment that declares `require_signatures` gets no unsigned commit
(publish, rollback, retire, promote each refuse it before writing anything, in one line naming
DAG_SIGNING_KEY); a signed one goes through; a file that does not parse is a configuration error. (An
environment without the file does not exist: test_environments.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow_dag_publisher.environments import EnvironmentSettings, parse_settings
from airflow_dag_publisher.errors import EXIT_USAGE, UsageError
from airflow_dag_publisher.storage import Storage, environment_key

from devstack.signing_keys import write_key

from .helpers import cli, snapshot, write_dag

pytestmark = pytest.mark.usefixtures("s3_env")


def declare(bucket: str, env: str, **settings: object) -> None:
    body = json.dumps({"schema_version": 1, "env": env, **settings}).encode()
    Storage(bucket).put(environment_key(env), body, content_type="application/json")


def publish(capsys: pytest.CaptureFixture[str], bucket: str, source: Path, *extra: str, env: str = "dev"):  # type: ignore[no-untyped-def]
    return cli(capsys, "publish", "--env", env, "--bucket", bucket, "--package", "alpha", "--source", str(source),
               "--skip-dynamic-validation", *extra)


def test_settings_parse_and_refuse_what_they_do_not_understand() -> None:
    ok = parse_settings(b'{"schema_version": 1, "env": "prod", "require_signatures": true, "later": 1}',
                        source="s3://b/prod/_environment.json", env="prod")
    assert ok == EnvironmentSettings(env="prod", require_signatures=True)
    assert json.loads(ok.to_json()) == {"schema_version": 1, "env": "prod", "require_signatures": True}
    bad = {b"[]": "not a JSON object", b"{": "not valid UTF-8 JSON",
           b'{"schema_version": 2, "env": "prod"}': "schema_version 2 is not 1",
           b'{"schema_version": 1, "env": "dev"}': "env 'dev' is not 'prod'",
           b'{"schema_version": 1, "env": "prod", "require_signatures": "yes"}': "must be true or false"}
    for body, message in bad.items():
        with pytest.raises(UsageError, match=message) as caught:
            parse_settings(body, source="s3://b/prod/_environment.json", env="prod")
        assert "s3://b/prod/_environment.json" in str(caught.value) and caught.value.kind == "environment"


def test_an_unsigned_publish_into_an_environment_requiring_signatures_is_refused_in_one_line(
        tmp_path: Path, bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    declare(bucket, "dev", require_signatures=True)
    source = tmp_path / "src"
    write_dag(source, "alpha", "daily", 1)
    before = snapshot(Storage(bucket).client, bucket)

    run = publish(capsys, bucket, source)

    assert run.code == EXIT_USAGE
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1, run.err
    assert "environment 'dev' requires signed releases" in lines[0] and "DAG_SIGNING_KEY (--signing-key)" in lines[0]
    assert f"s3://{bucket}/dev/_environment.json" in lines[0] and "nothing was published" in lines[0]
    assert snapshot(Storage(bucket).client, bucket) == before  # nothing written
    as_json = publish(capsys, bucket, source, "--json")
    assert as_json.code == EXIT_USAGE and as_json.json()["error"]["kind"] == "signature_required"

    key = write_key(tmp_path / "alpha.pem")
    signed = publish(capsys, bucket, source, "--signing-key", f"file:{key}", "--json")
    assert signed.code == 0, signed.err
    assert signed.json()["signed_by"]


def test_rollback_retire_and_promote_are_refused_unsigned_too(
        tmp_path: Path, bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "src"
    key = f"file:{write_key(tmp_path / 'alpha.pem')}"
    for n in (1, 2):
        write_dag(source, "alpha", "daily", n)
        assert publish(capsys, bucket, source, "--signing-key", key).code == 0
        assert publish(capsys, bucket, source, "--signing-key", key, env="staging").code == 0
    declare(bucket, "dev", require_signatures=True)
    declare(bucket, "prod", require_signatures=True)
    target = ("--bucket", bucket, "--package", "alpha")
    refused = {
        "rolled back": cli(capsys, "rollback", "--env", "dev", *target, "--yes"),
        "retired": cli(capsys, "retire", "--env", "dev", *target, "--yes"),
        "promoted": cli(capsys, "promote", "--from-env", "staging", "--env", "prod", *target),
    }
    for action, run in refused.items():
        assert run.code == EXIT_USAGE, (action, run.err)
        assert "DAG_SIGNING_KEY (--signing-key)" in run.err and f"nothing was {action}" in run.err, run.err
    assert cli(capsys, "promote", "--from-env", "staging", "--env", "prod", *target, "--signing-key", key).code == 0
    assert cli(capsys, "rollback", "--env", "dev", *target, "--yes", "--signing-key", key).code == 0


def test_an_environment_not_requiring_signatures_takes_unsigned_releases(
        tmp_path: Path, bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "src"
    write_dag(source, "alpha", "daily", 1)
    assert publish(capsys, bucket, source).code == 0  # dev: declared without require_signatures
    declare(bucket, "staging", require_signatures=False)
    assert publish(capsys, bucket, source, env="staging").code == 0
    Storage(bucket).put(environment_key("qa"), b"{not json")
    broken = publish(capsys, bucket, source, env="qa")
    assert broken.code == EXIT_USAGE and f"s3://{bucket}/qa/_environment.json: not valid UTF-8 JSON" in broken.err
