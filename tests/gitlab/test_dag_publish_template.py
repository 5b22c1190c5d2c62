"""The GitLab CI template, run for real by gitlab-ci-local against SeaweedFS.

Each test builds a throw-away git repository laid out like a package repository: the template copied
verbatim to .gitlab/ci/, the package pipeline of tests/gitlab/fixtures/orders_report/.gitlab-ci.yml
(the one docs/airflow/DEPLOYMENT.md shows) at the root, the package's DAG folder under packages/.
gitlab-ci-local then runs the template's own script lines in a shell on this machine
(`--shell-executor-no-image`); the only addition is shell-runner.yml, which drops the Airflow image
(a shell runner has none) so that the publisher comes from this repository's .venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from devstack.seaweedfs import SeaweedFS

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / ".gitlab" / "ci" / "dag-publish-template.yml"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PACKAGE = FIXTURES / "orders_report"
REQUIRED = ("ENVIRONMENT", "PACKAGE_NAME", "IMAGE_TAG", "DAG_BUCKET")
# A shell runner has no image: this include (after the template) removes it. GitLab's JSON schema
# has no `image: null`, so runs that use it turn schema validation off; the schema test runs without it.
SHELL_RUNNER_INCLUDE = ".gitlab/ci/shell-runner.yml"
JOB_TIMEOUT = 240


@dataclass
class JobRun:
    returncode: int
    output: str
    repo: Path

    def artifact(self, job: str, name: str) -> Path:
        return self.repo / ".gitlab-ci-local" / "artifacts" / job / name


def make_package_repo(root: Path, *, pipeline: dict[str, object] | None = None, dag_source: Path = PACKAGE,
                      with_publisher_source: bool = False) -> Path:
    """A git repository with the template, the package pipeline and the package's DAG folder (and, as in
    this monorepo, the publisher's source under packages/orchestration when asked)."""
    repo = root / "repo"
    (repo / ".gitlab" / "ci").mkdir(parents=True)
    if with_publisher_source:
        shutil.copytree(REPO / "packages" / "orchestration", repo / "packages" / "orchestration",
                        ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    shutil.copy(TEMPLATE, repo / ".gitlab" / "ci" / TEMPLATE.name)
    (repo / SHELL_RUNNER_INCLUDE).write_text(".dag_publish_base:\n  image: null\n")
    shutil.copytree(dag_source / "airflow_dags", repo / "packages" / "orders_report" / "airflow_dags")
    if pipeline is None:
        pipeline = yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text())
    (repo / ".gitlab-ci.yml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    git = ["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True, timeout=30)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", "package"], cwd=repo, check=True, timeout=30)
    return repo


def on_shell_runner(pipeline: dict[str, object]) -> dict[str, object]:
    includes = pipeline.get("include", [])
    assert isinstance(includes, list)
    return {**pipeline, "include": [*includes, {"local": SHELL_RUNNER_INCLUDE}]}


def run_job(gcl: Path, repo: Path, job: str, variables: dict[str, str], *, schema: bool = False,
            extra: tuple[str, ...] = (), path_first: Path | None = None) -> JobRun:
    env = {k: v for k, v in os.environ.items() if k not in (*REQUIRED, "DAG_SOURCE_DIR")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the repo's .venv first
    if path_first is not None:
        env["PATH"] = f"{path_first}{os.pathsep}{env['PATH']}"
    cmd = [str(gcl), "--home", str(repo.parent / "gcl-home"), "--shell-executor-no-image",
           "--no-color", f"--json-schema-validation={'true' if schema else 'false'}"]
    for key, value in variables.items():
        cmd += ["--variable", f"{key}={value}"]
    proc = subprocess.run([*cmd, *extra, *([job] if job else [])], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=JOB_TIMEOUT, check=False)
    return JobRun(proc.returncode, proc.stdout + proc.stderr, repo)


def s3_variables(seaweedfs: SeaweedFS) -> dict[str, str]:
    return {**seaweedfs.env(), "DAG_PUBLISHER_INSTALL": "skip"}


def list_jobs(gcl: Path, repo: Path, variables: dict[str, str]) -> list[str]:
    result = run_job(gcl, repo, "", variables, schema=True, extra=("--list-json",))
    assert result.returncode == 0, result.output
    start = result.output.index("[")
    jobs = json.JSONDecoder().raw_decode(result.output[start:])[0]
    return sorted(j["name"] for j in jobs if j.get("when") != "never")


def test_template_passes_gitlab_schema_and_runs_validation_on_merge_requests_publishing_on_default_branch(
        gitlab_ci_local: Path, tmp_path: Path) -> None:
    repo = make_package_repo(tmp_path)
    assert list_jobs(gitlab_ci_local, repo, {}) == ["publish_dags_dev"]
    assert list_jobs(gitlab_ci_local, repo, {"CI_PIPELINE_SOURCE": "merge_request_event"}) == ["validate_dags"]
    assert list_jobs(gitlab_ci_local, repo, {"CI_COMMIT_BRANCH": "feature/x"}) == []


def test_publish_job_on_default_branch_puts_the_package_dag_in_the_bucket(
        gitlab_ci_local: Path, seaweedfs: SeaweedFS, bucket: str, tmp_path: Path) -> None:
    pipeline = yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text())
    pipeline["variables"]["DAG_BUCKET"] = bucket
    repo = make_package_repo(tmp_path, pipeline=on_shell_runner(pipeline))

    result = run_job(gitlab_ci_local, repo, "publish_dags_dev", s3_variables(seaweedfs))

    assert result.returncode == 0, result.output
    assert "Airflow parse: ran" in result.output  # --require-airflow: the real parse, not a static fallback
    assert "dag-publish: verified: release" in result.output and "; unsigned" in result.output
    client = seaweedfs.client()
    manifest = json.loads(client.get_object(Bucket=bucket, Key="dev/orders_report/manifest.json")["Body"].read())
    assert manifest["dag_ids"] == ["orders_report_daily"]
    assert manifest["image"] == "registry.example.com/data/orders-report:2.0.1"
    assert manifest["published_by"].startswith("gitlab-ci job ")
    assert [f["path"] for f in manifest["files"]] == ["orders_report_daily.py"]
    live = client.get_object(Bucket=bucket, Key="dev/orders_report/dags/orders_report_daily.py")["Body"].read()
    assert live == (PACKAGE / "airflow_dags" / "orders_report_daily.py").read_bytes()
    published = json.loads(result.artifact("publish_dags_dev", "dag-publish.json").read_text())
    assert published["release_id"] == manifest["release_id"] and published["uploaded"] == 1
    junit = result.artifact("publish_dags_dev", "dag-validation-junit.xml").read_text()
    assert 'name="orders_report_daily.py"' in junit and "<failure" not in junit


def test_publish_job_signs_the_release_with_dag_signing_key(
        gitlab_ci_local: Path, seaweedfs: SeaweedFS, bucket: str, tmp_path: Path) -> None:
    """DAG_SIGNING_KEY set (here a PEM key file; a KMS alias in production): the release is signed,
    the job's verification checks it, and the signature verifies against the key's public half."""
    from airflow_dag_publisher.manifest import parse_manifest
    from airflow_dag_publisher.signing import PemSigner, TrustedKey, signature_problem

    from devstack.signing_keys import write_key

    key = write_key(tmp_path / "keys" / "orders_report.pem")
    pipeline = yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text())
    pipeline["variables"]["DAG_BUCKET"] = bucket
    repo = make_package_repo(tmp_path, pipeline=on_shell_runner(pipeline))

    result = run_job(gitlab_ci_local, repo, "publish_dags_dev",
                     {**s3_variables(seaweedfs), "DAG_SIGNING_KEY": f"file:{key}"})

    assert result.returncode == 0, result.output
    signer = PemSigner(key)
    assert f"dag-publish: signing the release with file:{key}" in result.output
    assert f"signed by {signer.key_id}" in result.output
    body = seaweedfs.client().get_object(Bucket=bucket, Key="dev/orders_report/manifest.json")["Body"].read()
    manifest = parse_manifest(body, source="manifest.json")
    assert signature_problem(manifest, [TrustedKey.from_key(signer.public_key())], require=True) is None


def test_job_fails_before_any_work_and_names_every_missing_required_variable(
        gitlab_ci_local: Path, tmp_path: Path) -> None:
    pipeline = {"include": [{"local": ".gitlab/ci/dag-publish-template.yml"}],
                "publish_dags_dev": {"extends": ".dag_publish_template"}}
    repo = make_package_repo(tmp_path, pipeline=on_shell_runner(pipeline))

    result = run_job(gitlab_ci_local, repo, "publish_dags_dev", {"DAG_PUBLISHER_INSTALL": "skip"})

    assert result.returncode != 0
    assert "dag-publish: missing required CI/CD variables: ENVIRONMENT PACKAGE_NAME IMAGE_TAG DAG_BUCKET" \
        in result.output, result.output
    assert "airflow-dag-publisher --version" not in result.output  # nothing ran after the check


def test_job_names_the_one_missing_variable_when_the_others_are_set(gitlab_ci_local: Path, tmp_path: Path) -> None:
    pipeline = yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text())
    del pipeline["variables"]["IMAGE_TAG"]
    repo = make_package_repo(tmp_path, pipeline=on_shell_runner(pipeline))

    result = run_job(gitlab_ci_local, repo, "publish_dags_dev", {"DAG_PUBLISHER_INSTALL": "skip"})

    assert result.returncode != 0
    assert "dag-publish: missing required CI/CD variables: IMAGE_TAG\n" in result.output, result.output


def test_merge_request_job_installs_from_pip_spec_reports_junit_failure_and_publishes_nothing(
        gitlab_ci_local: Path, seaweedfs: SeaweedFS, bucket: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(PACKAGE / "airflow_dags", broken / "airflow_dags")
    dag = broken / "airflow_dags" / "orders_report_daily.py"
    dag.write_text(dag.read_text().replace('namespace="etl-jobs"', 'namespace="default"'))
    # The install step for real, given a wheel of this repository's distribution (built here with the
    # .venv's setuptools). `python -m pip` comes from a throw-away venv first on PATH (the repo's .venv
    # is synced to the lock, without pip); --dry-run: pip reads and resolves the wheel, installs
    # nothing, and the tool still comes from .venv.
    dist = tmp_path / "dist"
    shutil.copytree(REPO / "packages" / "orchestration", dist,
                    ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    built = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                            "print(build_meta.build_wheel(sys.argv[1]))", str(tmp_path / "wheels")],
                           cwd=dist, check=True, timeout=120, capture_output=True, text=True)
    wheel = tmp_path / "wheels" / built.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as whl:  # what the install step brings into the Airflow image besides the tool
        metadata = next(whl.read(n).decode() for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    requires = {line.split(":", 1)[1].split(";")[0].strip().split(">")[0].split("=")[0].strip()
                for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line}
    assert {"ruff", "croniter"} <= requires, requires  # the AIR rule layer and Airflow's cron parser
    pip_venv = tmp_path / "pip-venv"
    subprocess.run([sys.executable, "-m", "venv", str(pip_venv)], check=True, timeout=120, capture_output=True)
    pipeline = yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text())
    pipeline["variables"]["DAG_BUCKET"] = bucket
    repo = make_package_repo(tmp_path, pipeline=on_shell_runner(pipeline), dag_source=broken)
    variables = {**s3_variables(seaweedfs), "CI_PIPELINE_SOURCE": "merge_request_event",
                 "DAG_PUBLISHER_INSTALL": "pip", "DAG_PUBLISHER_PIP_SPEC": str(wheel),
                 "DAG_PUBLISHER_PIP_ARGS": "--dry-run --no-deps --no-index",
                 "DAG_VALIDATE_ARGS": "--no-dynamic"}  # the static check finds it; the publish test parses

    result = run_job(gitlab_ci_local, repo, "validate_dags", variables, path_first=pip_venv / "bin")

    assert result.returncode != 0
    assert "airflow-dag-publisher 0.1.0" in result.output, result.output  # the install step passed, the tool runs
    assert "orders_report_daily.py: [" in result.output and "etl-jobs" in result.output, result.output
    assert "dag-publish: validation failed (exit 1); nothing was published" in result.output
    junit = result.artifact("validate_dags", "dag-validation-junit.xml").read_text()
    assert "<failure" in junit and "etl-jobs" in junit
    assert published_keys(seaweedfs, bucket) == []


def _package_with_air311_warning(root: Path) -> Path:
    """The package, its DAG importing DAG from airflow.models: it works in Airflow 3, ruff's AIR311 warns."""
    source = root / "air311"
    shutil.copytree(PACKAGE / "airflow_dags", source / "airflow_dags")
    dag = source / "airflow_dags" / "orders_report_daily.py"
    dag.write_text(dag.read_text().replace("from airflow.sdk import DAG", "from airflow.models import DAG"))
    return source


def _merge_request_variables() -> dict[str, str]:
    return {"DAG_PUBLISHER_INSTALL": "skip", "CI_PIPELINE_SOURCE": "merge_request_event",
            "DAG_VALIDATE_ARGS": "--no-dynamic"}  # the AIR layer is what these tests look at


def test_merge_request_job_runs_ruffs_air_rules_and_reports_their_warnings(
        gitlab_ci_local: Path, tmp_path: Path) -> None:
    pipeline = on_shell_runner(yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text()))
    repo = make_package_repo(tmp_path, pipeline=pipeline, dag_source=_package_with_air311_warning(tmp_path))

    result = run_job(gitlab_ci_local, repo, "validate_dags", _merge_request_variables())

    assert result.returncode == 0, result.output  # a warning does not fail the job
    assert "orders_report_daily.py: warning: [ruff-AIR311] line 9: `airflow.models.DAG` is removed" in result.output, \
        result.output
    assert "ruff-missing" not in result.output and "ruff-failed" not in result.output


def test_merge_request_job_fails_when_the_air_layer_cannot_run(gitlab_ci_local: Path, tmp_path: Path) -> None:
    """The tool installed without ruff (as an image built with `pip install --no-deps` would have it):
    the job fails and says why, instead of passing with the AIR rules silently unchecked."""
    bin_dir = tmp_path / "publisher-without-ruff"
    bin_dir.mkdir()
    (bin_dir / "no_ruff.py").write_text(
        "import importlib.abc, sys\n"
        "class NoRuff(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ruff' or name.startswith('ruff.'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, NoRuff())\n"
        "from airflow_dag_publisher.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    wrapper = bin_dir / "airflow-dag-publisher"
    wrapper.write_text(f'#!/bin/sh\nPATH=/usr/bin:/bin exec "{sys.executable}" "{bin_dir / "no_ruff.py"}" "$@"\n')
    wrapper.chmod(0o755)
    pipeline = on_shell_runner(yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text()))
    repo = make_package_repo(tmp_path, pipeline=pipeline, dag_source=_package_with_air311_warning(tmp_path))

    result = run_job(gitlab_ci_local, repo, "validate_dags", _merge_request_variables(), path_first=bin_dir)

    assert result.returncode != 0, result.output
    assert "(validator): [ruff-missing] ruff is not installed" in result.output, result.output
    assert "dag-publish: validation failed (exit 1); nothing was published" in result.output
    junit = result.artifact("validate_dags", "dag-validation-junit.xml").read_text()
    assert "<failure" in junit and "ruff-missing" in junit


def pip_venv_over_repo_venv(root: Path) -> Path:
    """A throw-away venv with pip (the repo's .venv is synced to the lock, without pip) that also sees the
    .venv's packages through a .pth line (setuptools to build, the publisher's dependencies, Airflow), so
    a real `pip install --no-deps --no-index --no-build-isolation` of a source folder works offline."""
    venv = root / "pip-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, capture_output=True)
    # ensurepip's own setuptools (older, no bdist_wheel) would shadow the lock's: builds use the lock's
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "uninstall", "-q", "-y", "setuptools"],
                   timeout=120, capture_output=True, check=False)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    repo_site = next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_relative_to(REPO))
    (site / "repo_venv.pth").write_text(f"{repo_site}\n")
    return venv


def test_default_install_builds_the_publisher_from_this_monorepo(
        gitlab_ci_local: Path, seaweedfs: SeaweedFS, bucket: str, tmp_path: Path) -> None:
    """DAG_PUBLISHER_PIP_SPEC left at its default: the job installs packages/orchestration of the
    repository it runs in (no index serves the publisher), and the tool it then runs is that build."""
    pipeline = yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text())
    pipeline["variables"]["DAG_BUCKET"] = bucket
    repo = make_package_repo(tmp_path, pipeline=on_shell_runner(pipeline), with_publisher_source=True)
    venv = pip_venv_over_repo_venv(tmp_path)
    variables = {**s3_variables(seaweedfs), "CI_PIPELINE_SOURCE": "merge_request_event",
                 "DAG_PUBLISHER_INSTALL": "pip",
                 "DAG_PUBLISHER_PIP_ARGS": "--no-deps --no-index --no-build-isolation",  # offline, as above
                 "DAG_VALIDATE_ARGS": "--no-dynamic"}
    template = yaml.load(TEMPLATE.read_text(), Loader=_TemplateLoader)
    assert template["variables"]["DAG_PUBLISHER_PIP_SPEC"] == ""  # the default under test

    result = run_job(gitlab_ci_local, repo, "validate_dags", variables, path_first=venv / "bin")

    assert result.returncode == 0, result.output
    assert "dag-publish: installing the publisher from " in result.output
    assert "/packages/orchestration" in result.output
    assert (venv / "bin" / "airflow-dag-publisher").exists(), "pip did not install the repository's publisher"
    installed = subprocess.run([str(venv / "bin" / "python"), "-c",
                                "import airflow_dag_publisher as p; print(p.__file__)"],
                               capture_output=True, text=True, timeout=60, check=True).stdout
    assert installed.startswith(str(venv)), installed  # the build, not the .venv's editable copy
    assert "airflow-dag-publisher 0.1.0" in result.output, result.output


def test_default_install_outside_the_monorepo_names_the_variable_to_set(gitlab_ci_local: Path, tmp_path: Path) -> None:
    pipeline = yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text())
    repo = make_package_repo(tmp_path, pipeline=on_shell_runner(pipeline))  # no packages/orchestration here

    result = run_job(gitlab_ci_local, repo, "validate_dags",
                     {"CI_PIPELINE_SOURCE": "merge_request_event", "DAG_PUBLISHER_INSTALL": "pip"})

    assert result.returncode != 0
    assert "dag-publish: DAG_PUBLISHER_PIP_SPEC is empty and" in result.output, result.output
    assert "airflow-dag-publisher==0.1.0" in result.output  # the documented override
    assert "airflow-dag-publisher --version" not in result.output.split("DAG_PUBLISHER_PIP_SPEC is empty")[1]


class _TemplateLoader(yaml.SafeLoader):
    """Reads GitLab's `!reference [job, key]` tags as plain lists."""


_TemplateLoader.add_constructor("!reference", lambda loader, node: loader.construct_sequence(node))


def test_template_validates_in_the_airflow_image_the_helm_values_deploy() -> None:
    template = yaml.load(TEMPLATE.read_text(), Loader=_TemplateLoader)
    values = yaml.safe_load((REPO / "infra" / "airflow" / "k8s" / "airflow-values.yaml").read_text())
    repository = (values.get("images", {}).get("airflow", {}).get("repository")
                  or values.get("defaultAirflowRepository") or "apache/airflow")
    assert template["variables"]["AIRFLOW_IMAGE"] == f"{repository}:{values['defaultAirflowTag']}"
    assert template[".dag_publish_base"]["image"]["name"] == "$AIRFLOW_IMAGE"


def test_deployment_guide_shows_the_package_pipeline_this_suite_runs() -> None:
    guide = (REPO / "docs" / "airflow" / "DEPLOYMENT.md").read_text()
    blocks = [yaml.safe_load(b) for b in guide.split("```yaml\n")[1:] for b in [b.split("```", 1)[0]]]
    shown = next(b for b in blocks if isinstance(b, dict) and "publish_dags_dev" in b)
    tested = yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text())
    assert shown["include"][0]["file"] == tested["include"][0]["local"] == ".gitlab/ci/dag-publish-template.yml"
    for key in ("variables", "validate_dags", "publish_dags_dev"):
        assert shown[key] == tested[key], key
    assert shown["promote_dags_staging"]["extends"] == shown["promote_dags_prod"]["extends"] == ".dag_promote_template"
    assert (shown["promote_dags_staging"]["variables"]["PROMOTE_FROM_ENV"],
            shown["promote_dags_prod"]["variables"]["PROMOTE_FROM_ENV"]) == ("dev", "staging")


def test_template_scripts_pass_shellcheck_as_posix_sh() -> None:
    """The Airflow image runs them with bash, other images may only have sh: keep them POSIX."""
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (make system-tools installs it)")
    template = yaml.load(TEMPLATE.read_text(), Loader=_TemplateLoader)
    publish_script = [line for line in template[".dag_publish_template"]["script"] if isinstance(line, str)]
    promote_script = [line for line in template[".dag_promote_template"]["script"] if isinstance(line, str)]
    lines = [*template[".dag_publish_base"]["before_script"], *template[".dag_publish_validate_step"]["script"],
             *template[".dag_publish_wait_step"]["script"], *publish_script, *promote_script]
    script = "#!/bin/sh\nset -e\n" + "\n".join(lines) + "\n"
    result = subprocess.run(["shellcheck", "-s", "sh", "-"], input=script, text=True, capture_output=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout


def test_promote_job_copies_the_source_environments_release_without_building_anything(
        gitlab_ci_local: Path, seaweedfs: SeaweedFS, bucket: str, tmp_path: Path) -> None:
    """The manual promote job of the deployment guide's pipeline, run for real: staging's release of
    the package becomes prod's, byte for byte, from staging's bucket into prod's."""
    prod_bucket = seaweedfs.create_bucket(f"{bucket}-prod")
    staging = subprocess.run([str(Path(sys.executable).parent / "airflow-dag-publisher"), "publish", "--env",
                              "staging", "--bucket", bucket, "--package", "orders_report", "--source",
                              str(PACKAGE / "airflow_dags"), "--skip-dynamic-validation", "--json"],
                             capture_output=True, text=True, timeout=120, check=True)
    staging_release = json.loads(staging.stdout)["release_id"]
    pipeline = yaml.safe_load((PACKAGE / ".gitlab-ci.yml").read_text())
    pipeline["promote_dags_prod"] = {"extends": ".dag_promote_template", "variables": {
        "ENVIRONMENT": "prod", "DAG_BUCKET": prod_bucket, "PROMOTE_FROM_ENV": "staging",
        "PROMOTE_FROM_BUCKET": bucket}}
    listed = make_package_repo(tmp_path / "schema", pipeline=pipeline)
    assert list_jobs(gitlab_ci_local, listed, {}) == ["promote_dags_prod", "publish_dags_dev"]
    assert list_jobs(gitlab_ci_local, listed, {"CI_PIPELINE_SOURCE": "merge_request_event"}) == ["validate_dags"]
    repo = make_package_repo(tmp_path, pipeline=on_shell_runner(pipeline))

    result = run_job(gitlab_ci_local, repo, "promote_dags_prod", s3_variables(seaweedfs))

    assert result.returncode == 0, result.output
    assert "Airflow parse" not in result.output  # nothing is validated or built: the bytes are staging's
    assert "dag-promote: release " in result.output and f"promoted from staging release {staging_release}" \
        in result.output, result.output
    client = seaweedfs.client()
    source = json.loads(client.get_object(Bucket=bucket, Key="staging/orders_report/manifest.json")["Body"].read())
    target = json.loads(client.get_object(Bucket=prod_bucket, Key="prod/orders_report/manifest.json")["Body"].read())
    assert target["content_digest"] == source["content_digest"]
    assert target["promoted_from"] == {"env": "staging", "release_id": staging_release}
    live = client.get_object(Bucket=prod_bucket, Key="prod/orders_report/dags/orders_report_daily.py")["Body"].read()
    assert live == (PACKAGE / "airflow_dags" / "orders_report_daily.py").read_bytes()
    promoted = json.loads(result.artifact("promote_dags_prod", "dag-promote.json").read_text())
    assert promoted["release_id"] == target["release_id"]


def published_keys(seaweedfs: SeaweedFS, bucket: str) -> list[str]:
    """Every key of the bucket but the environments' settings files (the fixture declares them)."""
    listed = seaweedfs.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return [o["Key"] for o in listed if not o["Key"].endswith("/_environment.json")]
