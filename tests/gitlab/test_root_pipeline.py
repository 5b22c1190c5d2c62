"""This repository's own pipeline (.gitlab-ci.yml), run by gitlab-ci-local in a scratch copy of the
repository: `test` runs `make test` (with a one-test PYTEST_ARGS: the whole suite contains this very
test, so `make test` inside it would start the suite again) and `wheel` builds the publisher's wheel
and reads its version. `agent-image` needs kaniko and a registry and cannot run here: its definition
is checked (pinned builder, the Dockerfile's context, the version from the wheel job, rules)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gitlab.test_dag_publish_template import pip_venv_over_repo_venv, run_job

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / ".gitlab-ci.yml"
# One fast test of the suite: enough to show that `make test` runs pytest with what the job passes.
TINY_PYTEST_ARGS = "tests/infra/test_packages.py::test_the_list_keeps_its_documented_keys"
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", ".local", "node_modules", "__pycache__", "*.egg-info",
                                     ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "build", "dist",
                                     ".gitlab-ci-local", "test-artifacts")


def pipeline() -> dict[str, Any]:
    return yaml.safe_load(PIPELINE.read_text())  # type: ignore[no-any-return]


def scratch_copy(root: Path) -> Path:
    """This repository's files in a fresh git repository (the .venv and npm tools linked in), with the
    `image:` of the jobs run here removed: gitlab-ci-local's shell executor runs jobs without one."""
    repo = root / "repo"
    shutil.copytree(REPO, repo, ignore=COPY_IGNORE, symlinks=True)
    (repo / ".venv").symlink_to(REPO / ".venv")
    npm_modules = REPO / "devstack" / "npm" / "node_modules"
    if npm_modules.exists():
        (repo / "devstack" / "npm" / "node_modules").symlink_to(npm_modules)
    doc = pipeline()
    for job in ("test", "wheel"):
        del doc[job]["image"]
    (repo / ".gitlab-ci.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    git = ["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True, timeout=60)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True, timeout=60)
    subprocess.run([*git, "commit", "-q", "-m", "scratch"], cwd=repo, check=True, timeout=60)
    return repo


def test_pipeline_passes_gitlab_schema_and_lists_its_jobs(gitlab_ci_local: Path, tmp_path: Path) -> None:
    repo = tmp_path / "schema"
    repo.mkdir()
    shutil.copy(PIPELINE, repo / ".gitlab-ci.yml")
    subprocess.run(["git", "-c", "init.defaultBranch=main", "init", "-q"], cwd=repo, check=True, timeout=30)
    result = run_job(gitlab_ci_local, repo, "", {}, schema=True, extra=("--list-json",))
    assert result.returncode == 0, result.output
    jobs = json.JSONDecoder().raw_decode(result.output[result.output.index("["):])[0]
    assert {j["name"]: j["stage"] for j in jobs} == {"test": "test", "wheel": "build", "agent-image": "publish"}


@pytest.mark.slow
def test_test_job_runs_make_test_with_the_pytest_selection_it_is_given(
        gitlab_ci_local: Path, tmp_path: Path) -> None:
    repo = scratch_copy(tmp_path)

    result = run_job(gitlab_ci_local, repo, "test", {"PYTEST_ARGS": TINY_PYTEST_ARGS})

    assert result.returncode == 0, result.output[-5000:]
    assert "make test PYTEST_ARGS=" in result.output
    assert "All checks passed!" in result.output  # ruff
    assert "Success: no issues found" in result.output  # mypy
    assert re.search(r"\b1 passed\b", result.output), result.output[-3000:]


@pytest.mark.slow
def test_wheel_job_builds_the_wheel_and_reads_its_version(gitlab_ci_local: Path, tmp_path: Path) -> None:
    repo = scratch_copy(tmp_path)
    venv = pip_venv_over_repo_venv(tmp_path)  # pip for the job, offline: the lock's setuptools is seen

    result = run_job(gitlab_ci_local, repo, "wheel", {}, path_first=venv / "bin")

    assert result.returncode == 0, result.output[-5000:]
    dist = repo / ".gitlab-ci-local" / "artifacts" / "wheel" / "dist"
    (wheel,) = dist.glob("airflow_dag_publisher-*.whl")
    init = (REPO / "packages" / "orchestration" / "src" / "airflow_dag_publisher" / "__init__.py").read_text()
    version = re.search(r'^__version__ = "([^"]+)"$', init, re.M)
    assert version
    assert wheel.name == f"airflow_dag_publisher-{version.group(1)}-py3-none-any.whl"
    assert (dist / "agent.env").read_text() == f"AGENT_VERSION={version.group(1)}\n"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert "airflow_dag_publisher/templates/kubernetes_pod_dag.py.j2" in names
    assert any(n.endswith("entry_points.txt") for n in names)


def test_agent_image_job_builds_the_dockerfile_with_kaniko_and_the_wheels_version() -> None:
    """Not runnable here (kaniko, a registry): what it would run is checked instead."""
    doc = pipeline()
    job = doc["agent-image"]
    image = job["image"]["name"]
    assert re.fullmatch(r"gcr\.io/kaniko-project/executor:v\d+\.\d+\.\d+-debug", image), image
    assert job["image"]["entrypoint"] == [""]
    assert job["needs"] == ["wheel"] and doc["wheel"]["artifacts"]["reports"]["dotenv"] == "dist/agent.env"
    assert job["rules"] == [{"if": "$CI_COMMIT_TAG"}, {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]
    script = "\n".join(job["script"])
    assert '/kaniko/executor --context "${CI_PROJECT_DIR}/packages/orchestration"' in script
    assert '--dockerfile "${CI_PROJECT_DIR}/packages/orchestration/Dockerfile"' in script
    assert '--build-arg "AGENT_VERSION=${AGENT_VERSION}"' in script and "--reproducible" in script
    assert "docker " not in script  # daemonless
    dockerfile = (REPO / "packages" / "orchestration" / "Dockerfile").read_text()
    assert f"FROM {doc['variables']['PYTHON_IMAGE']} AS build" in dockerfile


def test_pipeline_scripts_pass_shellcheck_as_posix_sh() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (make system-tools installs it)")
    doc = pipeline()
    for name in ("test", "wheel", "agent-image"):
        lines = [*doc[name].get("before_script", []), *doc[name]["script"]]
        script = "#!/bin/sh\nset -e\n" + "\n".join(lines) + "\n"
        result = subprocess.run(["shellcheck", "-s", "sh", "-"], input=script, text=True, capture_output=True,
                                timeout=60, check=False)
        assert result.returncode == 0, (name, result.stdout)
