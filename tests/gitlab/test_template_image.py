"""The CI template and the image a job runs: IMAGE_TAG is what the published jobs run, or the publish
fails. With DAG_SPEC the generated DAG files are written again from the spec with IMAGE_TAG."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from devstack.seaweedfs import SeaweedFS
from tests.gitlab.test_dag_publish_template import (
    PACKAGE,
    make_package_repo,
    on_shell_runner,
    published_keys,
    run_job,
    s3_variables,
)

SPEC = """\
package: orders_report
image: registry.example.com/data/orders-report:2.0.1
jobs:
  - name: daily
    schedule: "@daily"
    service_account: orders-report
    resources:
      requests: {cpu: 100m, memory: 128Mi}
      limits: {cpu: 500m, memory: 256Mi}
"""
BUILT = "registry.example.com/data/orders-report:3.1.4"


def _generated_package(root: Path) -> Path:
    """A package whose DAG file is generated from its jobs.yaml (the spec's image is 2.0.1)."""
    package = root / "generated"
    package.mkdir()
    (package / "jobs.yaml").write_text(SPEC)
    done = subprocess.run([str(Path(sys.executable).parent / "airflow-dag-publisher"), "generate", "--spec",
                           str(package / "jobs.yaml")], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return package


def _repo(root: Path, bucket: str, **variables: str) -> Path:
    pipeline = yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text())
    pipeline["variables"].update({"DAG_BUCKET": bucket, "IMAGE_TAG": BUILT, **variables})
    source = _generated_package(root)
    repo = make_package_repo(root, pipeline=on_shell_runner(pipeline), dag_source=source)
    (repo / "packages" / "orders_report" / "jobs.yaml").write_text(SPEC)
    git = ["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci"]
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", "spec"], cwd=repo, check=True, timeout=30)
    return repo


def test_publish_fails_when_the_jobs_would_not_run_the_image_ci_built(
        gitlab_ci_local: Path, seaweedfs: SeaweedFS, bucket: str, tmp_path: Path) -> None:
    repo = _repo(tmp_path, bucket)

    result = run_job(gitlab_ci_local, repo, "publish_dags_dev", s3_variables(seaweedfs))

    assert result.returncode != 0
    assert (f"orders_report_daily.py: task 'daily' runs registry.example.com/data/orders-report:2.0.1, not "
            f"--image {BUILT}") in result.output, result.output
    assert '"kind": "image_mismatch"' in result.output and "dag-publish: publish failed (exit 1)" in result.output
    assert published_keys(seaweedfs, bucket) == []  # nothing but the environments the fixture declares


def test_with_dag_spec_the_published_jobs_run_image_tag_and_history_says_so(
        gitlab_ci_local: Path, seaweedfs: SeaweedFS, bucket: str, tmp_path: Path) -> None:
    repo = _repo(tmp_path, bucket, DAG_SPEC="packages/orders_report/jobs.yaml")

    result = run_job(gitlab_ci_local, repo, "publish_dags_dev", s3_variables(seaweedfs))

    assert result.returncode == 0, result.output
    client = seaweedfs.client()
    manifest = json.loads(client.get_object(Bucket=bucket, Key="dev/orders_report/manifest.json")["Body"].read())
    assert manifest["image"] == BUILT
    files = {f["path"]: f for f in manifest["files"]}
    assert set(files) == {"orders_report_daily.py", "jobs.yaml"}  # publish reads DAG_SPEC too: the spec travels along
    entry = files["orders_report_daily.py"]
    body = client.get_object(Bucket=bucket, Key=f"dev/orders_report/dags/{entry['path']}",
                             VersionId=entry["version_id"])["Body"].read().decode()
    assert f'image="{BUILT}"' in body and ":2.0.1" not in body.split('"""', 2)[2]
    assert BUILT in result.output  # the history the job prints names it
