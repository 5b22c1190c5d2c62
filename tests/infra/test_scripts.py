"""infra/airflow/scripts: shellcheck clean, strict mode, --help, dry-runs print the commands, bad
input exits 2 with a message, confirmations refuse without a terminal, and setup_localstack.sh
really brings up SeaweedFS with a versioned bucket (and reuses an existing endpoint)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import pytest

from tests.infra.infra_helpers import SCRIPTS, VENV_BIN

SCRIPT_NAMES = ["manage.sh", "deploy_airflow.sh", "setup_localstack.sh"]


def run(name: str, *args: str, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPTS / name), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, check=False)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (make system-tools)")
def test_shellcheck_clean() -> None:
    proc = subprocess.run(["shellcheck", "--severity=style", *(str(SCRIPTS / n) for n in SCRIPT_NAMES)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_strict_mode_executable_and_help(name: str) -> None:
    path = SCRIPTS / name
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text
    assert os.access(path, os.X_OK)
    proc = run(name, "--help")
    assert proc.returncode == 0 and "Usage:" in proc.stdout and "--dry-run" in proc.stdout


@pytest.mark.parametrize(("name", "args", "message"), [
    ("manage.sh", ["dev"], "Usage:"),
    ("manage.sh", ["Dev", "plan"], "invalid environment name"),
    ("manage.sh", ["qa", "plan"], "no variables for environment qa"),
    ("manage.sh", ["dev", "bogus"], "unknown command"),
    ("manage.sh", ["--force", "dev", "plan"], "unknown option"),
    ("deploy_airflow.sh", [], "Usage:"),
    ("deploy_airflow.sh", ["--env", "qa", "install"], "unknown environment qa"),
    ("deploy_airflow.sh", ["--chart-version", "latest", "install"], "invalid chart version"),
    ("deploy_airflow.sh", ["logs", "webserver"], "unknown component"),
    ("deploy_airflow.sh", ["frobnicate"], "unknown command"),
    ("deploy_airflow.sh", ["--env"], "--env needs a value"),
    ("setup_localstack.sh", ["--bucket", "Bad_Bucket"], "invalid bucket name"),
    ("setup_localstack.sh", ["--port", "80"], "invalid --port"),
    ("setup_localstack.sh", ["--endpoint", "localhost:4566"], "invalid --endpoint"),
    ("setup_localstack.sh", ["--what"], "unknown argument"),
])
def test_usage_errors_exit_2(name: str, args: list[str], message: str) -> None:
    proc = run(name, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr


def commands(out: str) -> list[str]:
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


# deploy_airflow.sh's last step: dag-processor shards no longer listed are deleted (bash's %q quoting)
PRUNE_SHARDS = ("kubectl delete deployment\\,configmap --namespace {namespace} --ignore-not-found "
                "-l airflow-dag-processor-shard\\,airflow-dag-processor-shard\\ notin\\ \\({keep}\\)")


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_manage_dry_runs(env: str) -> None:
    tf = f"terraform -chdir={SCRIPTS}/../terraform"
    expected = {
        "init": [f"{tf} init -input=false -reconfigure -backend-config=envs/{env}.backend.hcl"],
        "plan": [f"{tf} plan -input=false -var-file=envs/{env}.tfvars -out={env}.tfplan"],
        "apply": [f"{tf} plan -input=false -var-file=envs/{env}.tfvars -out={env}.tfplan",
                  f"{tf} apply -input=false {env}.tfplan"],
        "destroy": [f"{tf} destroy -input=false -auto-approve -var-file=envs/{env}.tfvars"],
        "outputs": [f"{tf} output -json"],
        "trust": [f"{tf} output -raw dag_sync_trust_values > {SCRIPTS}/../k8s/envs/{env}/dag-sync-trust-values.yaml"],
    }
    for command, cmds in expected.items():
        proc = run("manage.sh", "--dry-run", env, command, env={"PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stderr
        assert commands(proc.stdout) == cmds, command
        asks = "would ask" in proc.stdout
        assert asks == (command == "destroy" or (command == "apply")), command


def test_manage_yes_skips_confirmation_except_prod_and_destroy() -> None:
    assert "would ask" not in run("manage.sh", "--dry-run", "--yes", "dev", "apply").stdout
    assert "would ask" in run("manage.sh", "--dry-run", "--yes", "prod", "apply").stdout
    assert "would ask" in run("manage.sh", "--dry-run", "--yes", "dev", "destroy").stdout


def test_manage_refuses_destroy_and_prod_apply_without_a_terminal(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    fake = tmp_path / "terraform"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    for args in (["dev", "destroy"], ["--yes", "dev", "destroy"], ["--yes", "prod", "apply"], ["staging", "apply"]):
        proc = run("manage.sh", *args, env={"TERRAFORM": str(fake)})
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "refusing without a terminal" in proc.stderr
    assert not calls.exists(), "terraform ran although nothing was confirmed"
    proc = run("manage.sh", "--yes", "dev", "apply", env={"TERRAFORM": str(fake)})
    assert proc.returncode == 0, proc.stderr
    assert calls.read_text().splitlines()[0].startswith(f"-chdir={SCRIPTS}/../terraform plan")


def test_manage_without_terraform_exits_3() -> None:
    proc = run("manage.sh", "dev", "plan", env={"TERRAFORM": "no-such-terraform"})
    assert proc.returncode == 3 and "terraform not found" in proc.stderr


CHECKSUM_COMPONENTS = ("scheduler", "dagProcessor", "triggerer", "workers")


def checksum_sets(digest: str, trust_digest: str) -> list[str]:
    """Per component: the agent ConfigMap's checksum annotation, then its trust ConfigMap's."""
    return [s for c in CHECKSUM_COMPONENTS for s in (f"{c}.podAnnotations.checksum/airflow-dag-sync={digest}",
                                                     f"{c}.podAnnotations.checksum/airflow-dag-sync-trust={trust_digest}")]


def checksum_flags(digest: str, trust_digest: str) -> str:
    return " ".join(f"--set-string {s}" for s in checksum_sets(digest, trust_digest))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_deploy_dry_runs() -> None:
    k8s = (SCRIPTS / ".." / "k8s").resolve()
    digest = sha256_of(k8s / "envs" / "staging" / "dag-sync-values.yaml")
    trust_digest = sha256_of(k8s / "envs" / "staging" / "dag-sync-trust-values.yaml")
    proc = run("deploy_airflow.sh", "--dry-run", "--env", "staging", "install", env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    values = (f"-f {k8s}/airflow-values.yaml -f {k8s}/envs/staging/values.yaml "
              f"-f {k8s}/envs/staging/dag-sync-values.yaml -f {k8s}/envs/staging/dag-sync-trust-values.yaml "
              f"{checksum_flags(digest, trust_digest)}")
    assert commands(proc.stdout) == [
        f"kubectl apply -f {k8s}/namespaces.yaml",
        # the prerequisites only you can create (exit 1 naming each missing one) ...
        "kubectl get secret airflow-metadata-db --namespace airflow",
        "kubectl get secret registry-pull --namespace airflow",
        "kubectl get secret registry-pull --namespace etl-jobs",
        # ... and the keys every pod must agree on, created once (never by Helm, which regenerates them)
        *(f"kubectl create secret generic {name} --namespace airflow --from-file={key}=/dev/stdin  "
          "# only if missing; never changed" for name, key in (("airflow-fernet-key", "fernet-key"),
                                                               ("airflow-jwt-key", "jwt-secret"),
                                                               ("airflow-api-key", "api-secret-key"))),
        f"kubectl apply -f {k8s}/etl-jobs-rbac.yaml",
        f"kubectl apply -f {k8s}/etl-jobs-packages.yaml",
        f"kubectl apply -f {k8s}/network-policies.yaml",
        "helm repo add apache-airflow https://airflow.apache.org --force-update",
        "helm repo update apache-airflow",
        f"helm upgrade --install airflow apache-airflow/airflow --version 1.18.0 --namespace airflow "
        f"{values} --wait --timeout 15m",
        PRUNE_SHARDS.format(namespace="airflow", keep="0"),  # no dag-processor shards: none may stay
    ]
    assert f"# agent ConfigMap airflow-dag-sync: sha256 {digest} of envs/staging/dag-sync-values.yaml" in proc.stdout
    assert (f"# agent ConfigMap airflow-dag-sync-trust: sha256 {trust_digest} of "
            "envs/staging/dag-sync-trust-values.yaml") in proc.stdout
    assert "dag-sync-configmap" not in proc.stdout  # no kubectl-applied ConfigMap beside the release
    upgrade = commands(run("deploy_airflow.sh", "--dry-run", "--release", "af", "upgrade").stdout)
    assert upgrade[:6] == commands(proc.stdout)[1:7]  # the same prerequisites and keys
    upgrade = upgrade[6:]
    assert upgrade[:4] == [f"kubectl apply -f {k8s}/etl-jobs-rbac.yaml",
                           f"kubectl apply -f {k8s}/etl-jobs-packages.yaml",
                           f"kubectl apply -f {k8s}/network-policies.yaml", "helm repo update apache-airflow"]
    assert upgrade[-2].startswith("helm upgrade af apache-airflow/airflow --version 1.18.0")
    assert f"-f {k8s}/envs/dev/dag-sync-trust-values.yaml --set-string scheduler.podAnnotations." in upgrade[-2]
    assert upgrade[-1] == PRUNE_SHARDS.format(namespace="airflow", keep="0")
    status = commands(run("deploy_airflow.sh", "--dry-run", "status").stdout)
    assert status == ["helm status airflow --namespace airflow",
                      "kubectl get pods --namespace airflow -l release=airflow -o wide"]
    logs = commands(run("deploy_airflow.sh", "--dry-run", "logs", "dag-processor", "dag-sync-init").stdout)
    assert logs == ["kubectl logs --namespace airflow -l release=airflow\\,component=dag-processor -c dag-sync-init "
                    "--tail=200 --prefix --max-log-requests=10"]


def infra_copy(tmp_path: Path) -> Path:
    """infra/airflow (scripts and k8s) copied, so a test may change a ConfigMap the script deploys."""
    copy = tmp_path / "infra-airflow"
    shutil.copytree(SCRIPTS.parent / "scripts", copy / "scripts")
    shutil.copytree(SCRIPTS.parent / "k8s", copy / "k8s")
    return copy


def annotation_of(helm_command: str) -> str:
    found = re.findall(r"--set-string scheduler\.podAnnotations\.checksum/airflow-dag-sync=([0-9a-f]{64})",
                       helm_command)
    assert len(found) == 1, helm_command
    return str(found[0])


def test_upgrade_dry_run_shows_a_changed_configmap_rolling_the_pods(tmp_path: Path) -> None:
    """The runbook's "wrong bucket: fix the ConfigMap, then deploy_airflow.sh upgrade": the fix changes
    the pod annotation of every pod that reads the ConfigMap, so Kubernetes replaces those pods; an
    unchanged ConfigMap keeps the annotation, so an upgrade without a change rolls nothing."""
    copy = infra_copy(tmp_path)
    script = copy / "scripts" / "deploy_airflow.sh"

    def upgrade_command() -> str:
        proc = subprocess.run(["bash", str(script), "--dry-run", "--env", "dev", "upgrade"], capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
        assert proc.returncode == 0, proc.stderr
        return next(c for c in commands(proc.stdout) if c.startswith("helm upgrade "))

    before = upgrade_command()
    assert upgrade_command() == before
    values = copy / "k8s" / "envs" / "dev" / "dag-sync-values.yaml"
    values.write_text(values.read_text().replace('DAGSYNC_BUCKET: "acme-airflow-dags-dev"',
                                                 'DAGSYNC_BUCKET: "the-right-bucket"'))
    after = upgrade_command()
    assert annotation_of(after) != annotation_of(before)
    assert annotation_of(after) == hashlib.sha256(values.read_bytes()).hexdigest()
    assert after.count(annotation_of(after)) == len(CHECKSUM_COMPONENTS)
    trust = copy / "k8s" / "envs" / "dev" / "dag-sync-trust-values.yaml"
    trust.write_text(trust.read_text().replace("{}", "{}  # a new key"))
    rotated = upgrade_command()
    assert annotation_of(rotated) == annotation_of(after)  # the agent ConfigMap did not change ...
    assert f"checksum/airflow-dag-sync-trust={sha256_of(trust)}" in rotated  # ... its trust did


def fake_tools(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """helm and kubectl stand-ins that record their arguments (one line per call, NUL-separated)."""
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("helm", "kubectl"):
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\nprintf "{tool}" >> {calls}\n'
                        f'for a in "$@"; do printf "\\0%s" "$a" >> {calls}; done\necho >> {calls}\n')
        stub.chmod(0o755)
    return calls, {"HELM": str(bin_dir / "helm"), "KUBECTL": str(bin_dir / "kubectl")}


def recorded(calls: Path) -> list[list[str]]:
    return [line.split("\0") for line in calls.read_text().splitlines()]


@pytest.mark.parametrize("command", ["install", "upgrade"])
def test_deploy_runs_helm_with_the_agent_configmap_and_its_checksum(tmp_path: Path, command: str) -> None:
    calls, env = fake_tools(tmp_path)
    k8s = (SCRIPTS / ".." / "k8s").resolve()
    proc = run("deploy_airflow.sh", "--env", "prod", command, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran = recorded(calls)
    applied = [c[3] for c in ran if c[:3] == ["kubectl", "apply", "-f"]]
    assert f"{k8s}/etl-jobs-packages.yaml" in applied and f"{k8s}/etl-jobs-rbac.yaml" in applied
    assert not [a for a in applied if "dag-sync" in a], "the agent's ConfigMap belongs to the Helm release"
    (helm,) = [c for c in ran if c[0] == "helm" and c[1] == "upgrade"]
    files = [helm[i + 1] for i, a in enumerate(helm) if a == "-f"]
    assert files == [f"{k8s}/{name}" for name in ("airflow-values.yaml", "envs/prod/values.yaml",
                                                  "envs/prod/dag-sync-values.yaml",
                                                  "envs/prod/dag-sync-trust-values.yaml")]
    sets = [helm[i + 1] for i, a in enumerate(helm) if a == "--set-string"]
    assert sets == checksum_sets(sha256_of(k8s / "envs" / "prod" / "dag-sync-values.yaml"),
                                 sha256_of(k8s / "envs" / "prod" / "dag-sync-trust-values.yaml"))


def test_deploy_without_tools_exits_3() -> None:
    proc = run("deploy_airflow.sh", "status", env={"HELM": "no-such-helm"})
    assert proc.returncode == 3 and "no-such-helm not found" in proc.stderr


def test_setup_localstack_dry_run(tmp_path: Path) -> None:
    proc = run("setup_localstack.sh", "--dry-run", "--port", "18333", "--data-dir", str(tmp_path), "--bucket", "dags")
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc.stdout)
    assert any(" server " in c and "-s3.port=18333" in c and f"-dir={tmp_path}" in c
               and f"-s3.config={tmp_path}/s3-identities.json" in c for c in cmds)  # authentication on
    assert any(c.endswith("s3api create-bucket --bucket dags --query Location --output text") for c in cmds)
    versioning = "put-bucket-versioning --bucket dags --versioning-configuration Status=Enabled"
    assert any(c.endswith(versioning) for c in cmds)
    assert any("put-object --bucket dags --key dev/_environment.json --body " in c for c in cmds)
    assert not (tmp_path / "weed.pid").exists()
    existing = run("setup_localstack.sh", "--dry-run", "--endpoint", "http://localhost:4566")
    assert not any(" server " in c for c in commands(existing.stdout))
    assert "AWS_ENDPOINT_URL=http://localhost:4566" in existing.stdout


def _ports_free(base: int) -> bool:
    for port in [base + i for i in range(4)] + [base + 10000 + i for i in range(4)]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _free_base() -> int:
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if 1024 <= base <= 55000 and _ports_free(base):
            return base
    raise RuntimeError("no free loopback port block")


@pytest.mark.slow
def test_setup_localstack_for_real(tmp_path: Path) -> None:
    base = _free_base()
    env = {"PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    try:
        proc = run("setup_localstack.sh", "--port", str(base), "--data-dir", str(tmp_path), "--bucket", "dags-local",
                   "--timeout", "60", env=env, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr + (tmp_path / "weed.log").read_text()[-2000:]
        endpoint = f"http://127.0.0.1:{base}"
        assert f"export AWS_ENDPOINT_URL={endpoint}" in proc.stdout
        # an existing endpoint: nothing started, the bucket created there
        second = run("setup_localstack.sh", "--endpoint", endpoint, "--bucket", "dags-second", "--env", "prod",
                     "--require-signatures", env=env, timeout=60)
        assert second.returncode == 0, second.stdout + second.stderr
        s3 = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="devstack",
            aws_secret_access_key="devstack-secret",
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )
        for bucket in ("dags-local", "dags-second"):
            assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        # each declares its environment, as Terraform does, in the form the publisher reads
        from airflow_dag_publisher.environments import EnvironmentSettings, parse_settings

        for bucket, env_name, required in (("dags-local", "dev", False), ("dags-second", "prod", True)):
            body = s3.get_object(Bucket=bucket, Key=f"{env_name}/_environment.json")["Body"].read()
            assert parse_settings(body, source=bucket, env=env_name) == EnvironmentSettings(env_name, required)
        # the server authenticates as AWS does: a wrong secret is refused, by boto3, the publisher and the script
        wrong = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="devstack",
            aws_secret_access_key="not-the-secret", config=botocore.config.Config(s3={"addressing_style": "path"}))
        with pytest.raises(botocore.exceptions.ClientError, match="SignatureDoesNotMatch"):
            wrong.list_objects_v2(Bucket="dags-local")
        bad = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "devstack", "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
        listed = subprocess.run([f"{VENV_BIN}/airflow-dag-publisher", "list", "--env", "dev", "--bucket", "dags-local"],
                                env={**os.environ, **bad}, capture_output=True, text=True, timeout=60, check=False)
        assert listed.returncode == 3 and "AWS credentials rejected (SignatureDoesNotMatch)" in listed.stderr, listed
        refused = run("setup_localstack.sh", "--endpoint", endpoint, "--bucket", "dags-third", env={**env, **bad},
                      timeout=60)
        assert refused.returncode == 3 and "refuses the credentials (SignatureDoesNotMatch)" in refused.stderr
        # idempotent: a second run over the running server changes nothing and succeeds
        again = run("setup_localstack.sh", "--port", str(base), "--data-dir", str(tmp_path), "--bucket", "dags-local",
                    env=env, timeout=60)
        assert again.returncode == 0 and "already running" in again.stdout
    finally:
        stop = run("setup_localstack.sh", "--stop", "--data-dir", str(tmp_path), timeout=30)
    assert stop.returncode == 0 and not (tmp_path / "weed.pid").exists()
