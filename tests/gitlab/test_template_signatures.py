"""The CI template against an environment that requires signatures (`<env>/_environment.json`, as
Terraform writes it): the publish job without DAG_SIGNING_KEY fails, says in one line what to set, and
publishes nothing; with the key it publishes a signed release. Run for real by gitlab-ci-local."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from airflow_dag_publisher.environments import EnvironmentSettings
from airflow_dag_publisher.storage import environment_key

from devstack.seaweedfs import SeaweedFS
from devstack.signing_keys import write_key
from tests.gitlab.test_dag_publish_template import PACKAGE, make_package_repo, on_shell_runner, run_job, s3_variables


def requiring_repo(tmp_path: Path, seaweedfs: SeaweedFS, bucket: str) -> Path:
    seaweedfs.client().put_object(Bucket=bucket, Key=environment_key("dev"),
                                  Body=EnvironmentSettings(env="dev", require_signatures=True).to_json())
    pipeline = yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text())
    pipeline["variables"]["DAG_BUCKET"] = bucket
    return make_package_repo(tmp_path, pipeline=on_shell_runner(pipeline))


def test_publish_job_refuses_an_unsigned_release_where_agents_require_signatures(
        gitlab_ci_local: Path, seaweedfs: SeaweedFS, bucket: str, tmp_path: Path) -> None:
    repo = requiring_repo(tmp_path, seaweedfs, bucket)

    result = run_job(gitlab_ci_local, repo, "publish_dags_dev", s3_variables(seaweedfs))

    assert result.returncode != 0, result.output
    refusals = [line for line in result.output.splitlines()
                if line.startswith("publish_dags_dev > dag-publish: signature_required:")]
    assert len(refusals) == 1, result.output
    assert "environment 'dev' requires signed releases" in refusals[0]
    assert "set DAG_SIGNING_KEY (--signing-key)" in refusals[0], refusals[0]
    assert "dag-publish: publish failed (exit 2)" in result.output
    listed = seaweedfs.client().list_objects_v2(Bucket=bucket)
    published = [o["Key"] for o in listed.get("Contents", []) if not o["Key"].endswith("/_environment.json")]
    assert published == [] and environment_key("dev") in [o["Key"] for o in listed["Contents"]]  # nothing published


def test_publish_job_with_dag_signing_key_publishes_where_agents_require_signatures(
        gitlab_ci_local: Path, seaweedfs: SeaweedFS, bucket: str, tmp_path: Path) -> None:
    repo = requiring_repo(tmp_path, seaweedfs, bucket)
    key = write_key(tmp_path / "keys" / "orders_report.pem")

    result = run_job(gitlab_ci_local, repo, "publish_dags_dev",
                     {**s3_variables(seaweedfs), "DAG_SIGNING_KEY": f"file:{key}"})

    assert result.returncode == 0, result.output
    assert "dag-publish: verified: release" in result.output and "; signed by sha256:" in result.output
    body = seaweedfs.client().get_object(Bucket=bucket, Key="dev/orders_report/manifest.json")["Body"].read()
    assert json.loads(body)["signature"]["key_id"].startswith("sha256:")
