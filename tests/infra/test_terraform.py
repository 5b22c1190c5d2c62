"""The Terraform module: it parses, its templates match their templatefile() calls, its variables
and per-environment files agree, the settings the issue asks for are there, and checkov passes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from devstack import platform_packages
from tests.infra.infra_helpers import (
    K8S,
    PACKAGES_FILE,
    POLICIES,
    SCRIPTS,
    TERRAFORM,
    VENV_BIN,
    render,
    template_placeholders,
    terraform_env,
    terraform_eval,
    terraform_locals,
)

TF_FILES = sorted(TERRAFORM.rglob("*.tf"))
HCL_FILES = TF_FILES + sorted((TERRAFORM / "envs").glob("*.tfvars")) + sorted((TERRAFORM / "envs").glob("*.hcl"))
ENVS = sorted(p.stem for p in (TERRAFORM / "envs").glob("*.tfvars"))


def unwrap(value: Any) -> Any:
    """checkov's hcl2 parser wraps every attribute and block in a list; drop one-element wrappers
    and the line-number keys so tests read the module as written."""
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return unwrap(value[0]) if len(value) == 1 else [unwrap(v) for v in value]
    return value


def load(path: Path) -> dict[str, Any]:
    with path.open() as fh:
        return unwrap(hcl2.load(fh))  # type: ignore[no-any-return]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resources(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in TF_FILES:
        for block in as_list(load(path).get("resource", [])):
            for name, body in block.get(kind, {}).items():
                found[name] = body
    return found


def one(value: Any) -> Any:
    """python-hcl2 wraps nested blocks in lists."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def variables() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for block in as_list(load(TERRAFORM / "variables.tf")["variable"]):
        out.update(block)
    return out


@pytest.mark.parametrize("path", HCL_FILES, ids=[str(p.relative_to(TERRAFORM)) for p in HCL_FILES])
def test_every_hcl_file_parses(path: Path) -> None:
    assert load(path), f"{path} parsed to nothing"


def test_providers_are_pinned() -> None:
    terraform = one(load(TERRAFORM / "versions.tf")["terraform"])
    assert re.fullmatch(r">= ?1\.\d+\.\d+, ?< ?2\.0\.0", terraform["required_version"])
    aws = one(terraform["required_providers"])["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert re.fullmatch(r"~> ?\d+\.\d+", aws["version"]), aws["version"]


TEMPLATE_CALL = re.compile(r'templatefile\("\$\{path\.module\}/policies/([a-z_]+\.json\.tpl)",\s*\{(.*?)\}\)', re.S)


def template_calls() -> list[tuple[str, set[str]]]:
    text = "\n".join(p.read_text() for p in TF_FILES)
    calls = []
    for name, body in TEMPLATE_CALL.findall(text):
        keys = set(re.findall(r"^\s*([a-z_]+)\s*=", body, re.M))
        calls.append((name, keys))
    return calls


def test_every_template_is_used_with_exactly_its_placeholders() -> None:
    calls = template_calls()
    used = {name for name, _ in calls}
    assert used == {p.name for p in POLICIES.glob("*.json.tpl")}, "a template is unused or missing"
    for name, keys in calls:
        assert keys == template_placeholders(name), f"templatefile({name}) passes {keys}"
        text = (POLICIES / name).read_text()
        # plain ${var} interpolation only: what tests/infra renders is exactly what Terraform renders
        assert "%{" not in text and "$${" not in text, name


SAMPLE = {
    "bucket_arn": "arn:aws:s3:::b", "environment": "dev", "package": "pkg", "region": "eu-west-1",
    "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/k", "kms_actions": '["kms:Decrypt"]',
    "oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/oidc.example/id/X",
    "oidc_provider": "oidc.example/id/X", "service_account_subjects": '["system:serviceaccount:airflow:s"]',
    "signing_key_arns": '["arn:aws:kms:eu-west-1:123456789012:key/a1", "arn:aws:kms:eu-west-1:123456789012:key/a2"]',
    "source_bucket_arn": "arn:aws:s3:::staging-b", "source_environment": "staging",
}


@pytest.mark.parametrize("name", sorted(p.name for p in POLICIES.glob("*.json.tpl")))
def test_templates_render_to_policy_json(name: str) -> None:
    doc = render(name, **{k: SAMPLE[k] for k in template_placeholders(name)})
    assert doc["Version"] == "2012-10-17"
    for st in doc["Statement"]:
        assert st["Effect"] in {"Allow", "Deny"} and "Sid" in st
        assert "Action" in st and ("Resource" in st or "Principal" in st)
        if st["Effect"] == "Allow" and "Principal" not in st:
            assert "*" not in json.dumps(st["Resource"]) or name != "kms_use.json.tpl"
            assert st["Resource"] != "*", f"{name}: {st['Sid']} allows on every resource"
            assert not any(a.endswith(":*") for a in st["Action"] if isinstance(st["Action"], list)), st["Sid"]


def test_ci_policy_never_grants_version_deletion_and_denies_it_explicitly() -> None:
    doc = render("ci_publish.json.tpl", **{k: SAMPLE[k] for k in template_placeholders("ci_publish.json.tpl")})
    allowed = {a for st in doc["Statement"] if st["Effect"] == "Allow" for a in st["Action"]}
    denied = {a for st in doc["Statement"] if st["Effect"] == "Deny" for a in st["Action"]}
    assert allowed == {"s3:GetBucketVersioning", "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObject",
                       "s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject"}
    assert "s3:DeleteObjectVersion" in denied and "s3:PutBucketVersioning" in denied


def test_airflow_policy_is_read_only() -> None:
    doc = render("airflow_read.json.tpl", bucket_arn="arn:aws:s3:::b", environment="dev")
    actions = {a for st in doc["Statement"] for a in st["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:GetObjectVersion"}


def test_bucket_settings() -> None:
    versioning = one(resources("aws_s3_bucket_versioning")["dags"]["versioning_configuration"])
    assert versioning["status"] == "Enabled"
    pab = resources("aws_s3_bucket_public_access_block")["dags"]
    assert all(pab[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                                         "restrict_public_buckets"))
    ownership = one(one(resources("aws_s3_bucket_ownership_controls")["dags"]["rule"]))
    assert ownership["object_ownership"] == "BucketOwnerEnforced"
    kms = resources("aws_kms_key")["dags"]
    assert kms["enable_key_rotation"] is True
    sse = one(one(resources("aws_s3_bucket_server_side_encryption_configuration")["dags"]["rule"])
              ["apply_server_side_encryption_by_default"])
    assert "aws:kms" in sse["sse_algorithm"] and "AES256" in sse["sse_algorithm"]
    assert variables()["encryption"]["default"] == "SSE-KMS"
    policy = render("bucket_policy.json.tpl", bucket_arn="arn:aws:s3:::b")["Statement"][0]
    assert policy["Effect"] == "Deny" and policy["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert "aws_s3_bucket_logging" in json.dumps([load(p) for p in TF_FILES])


def test_lifecycle_rules() -> None:
    rules = {r["id"]: r for r in resources("aws_s3_bucket_lifecycle_configuration")["dags"]["rule"]}
    history = rules["expire-noncurrent-versions"]
    nve = one(history["noncurrent_version_expiration"])
    assert nve["noncurrent_days"] == "${var.noncurrent_version_expiration_days}"
    assert nve["newer_noncurrent_versions"] == "${var.noncurrent_versions_to_keep}"
    assert one(history["abort_incomplete_multipart_upload"])["days_after_initiation"]
    journal = rules["expire-change-journal"]
    assert one(journal["filter"])["prefix"] == "_journal/"
    assert one(journal["expiration"])["days"] == 1
    assert all(r["status"] == "Enabled" for r in rules.values())


def test_lifecycle_keeps_releases_at_least_as_long_as_the_documented_retention() -> None:
    """A release stays runnable by its id (docs/airflow/README.md, "Versioned runs") while its pinned
    objects live: noncurrent_version_expiration_days after a later release replaced them, in every
    environment at least the 90 days the contract promises; its copy under `_releases/` never
    expires (no rule expires current objects there or in a prefix that covers it)."""
    rules = resources("aws_s3_bucket_lifecycle_configuration")["dags"]["rule"]
    for rule in as_list(rules):
        prefix = (one(rule.get("filter")) or {}).get("prefix", "")
        expires = [e for e in as_list(rule.get("expiration", [])) if e.get("days") is not None]
        if expires:
            assert prefix and not "_releases/".startswith(prefix), f"rule {rule['id']} expires release copies"
    default = variables()["noncurrent_version_expiration_days"]["default"]
    assert default >= 90
    readme = (TERRAFORM.parents[2] / "docs" / "airflow" / "README.md").read_text()
    assert f"retention: `noncurrent_version_expiration_days` ({default} days by default)" in readme
    for tfvars in sorted((TERRAFORM / "envs").glob("*.tfvars")):
        assert load(tfvars).get("noncurrent_version_expiration_days", default) >= 90, tfvars.name


def test_irsa_role_trusts_only_the_named_service_accounts() -> None:
    doc = render("airflow_trust.json.tpl", **{k: SAMPLE[k] for k in template_placeholders("airflow_trust.json.tpl")})
    st = doc["Statement"][0]
    assert st["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert st["Condition"]["StringEquals"]["oidc.example/id/X:aud"] == "sts.amazonaws.com"
    assert st["Condition"]["StringEquals"]["oidc.example/id/X:sub"] == ["system:serviceaccount:airflow:s"]


def test_promote_policy_only_reads_the_source_environments_prefix_of_the_package() -> None:
    doc = render("ci_promote.json.tpl", **{k: SAMPLE[k] for k in template_placeholders("ci_promote.json.tpl")})
    actions = {a for st in doc["Statement"] for a in st["Action"]}
    assert actions == {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucketVersions"}
    targets = {r for st in doc["Statement"] for r in as_list(st["Resource"])}
    # the package's prefix, and the source environment's settings (the promote checks that it exists)
    assert targets == {"arn:aws:s3:::staging-b/staging/pkg/*", "arn:aws:s3:::staging-b",
                       "arn:aws:s3:::staging-b/staging/_environment.json"}
    promote = resources("aws_iam_policy")["ci_promote"]
    assert promote["for_each"] == "${local.promote_packages}"


@pytest.mark.parametrize(("env", "source"), [("dev", None), ("staging", "dev"), ("prod", "staging")])
def test_each_environment_promotes_only_from_the_one_before_it(env: str, source: str | None) -> None:
    """prod takes releases only from staging, staging only from dev, dev from nobody: the promote
    policy of an environment's package CI reads exactly promote_from's bucket and prefix."""
    tfvars = load(TERRAFORM / "envs" / f"{env}.tfvars")
    if source is None:
        assert "promote_from" not in tfvars
        return
    promote_from = tfvars["promote_from"]
    assert promote_from["environment"] == source
    assert promote_from["bucket_name"] == load(TERRAFORM / "envs" / f"{source}.tfvars")["bucket_name"]
    assert promote_from["kms_key_arn"].startswith("arn:aws:kms:")


def test_ci_policy_per_package() -> None:
    ci = resources("aws_iam_policy")["ci"]
    assert ci["for_each"] == "${local.packages}"
    assert "'package': '${each.key}'" in ci["policy"]


PACKAGE_LOCALS = re.compile(r"^  (package_list|package_names|packages)\s+= (.+)$", re.M)


def package_locals() -> dict[str, str]:
    return dict(PACKAGE_LOCALS.findall((TERRAFORM / "main.tf").read_text()))


def test_ci_policies_come_from_the_one_package_list() -> None:
    """Terraform reads infra/airflow/packages.yaml itself: no tfvars list to keep in step."""
    exprs = package_locals()
    assert exprs["package_list"] == 'yamldecode(file("${path.module}/../packages.yaml"))'
    assert (TERRAFORM / ".." / "packages.yaml").resolve() == PACKAGES_FILE
    assert "packages" not in variables(), "a `packages` variable would be a second list"
    for env in ENVS:
        assert "packages" not in load(TERRAFORM / "envs" / f"{env}.tfvars"), f"{env}.tfvars lists packages"
    text = (TERRAFORM / "main.tf").read_text()
    assert "var.packages" not in text
    ci = resources("aws_iam_policy")["ci"]
    preconditions = as_list(one(ci["lifecycle"])["precondition"])
    assert any("^[a-z][a-z0-9_]{0,62}$" in p["condition"] for p in preconditions)


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform binary not installed")
def test_terraform_evaluates_the_package_list_as_the_generator_reads_it(tmp_path: Path) -> None:
    """The locals of main.tf, evaluated by terraform itself (console, no provider needed) over the
    committed list, give the packages devstack.platform_packages reads: one CI policy per package."""
    module = tmp_path / "terraform"
    module.mkdir()
    shutil.copy(PACKAGES_FILE, tmp_path / "packages.yaml")
    exprs = package_locals()
    body = "".join(f"  {name} = {expr}\n" for name, expr in exprs.items())
    (module / "main.tf").write_text(f"locals {{\n{body}}}\n")
    (tmp_path / "empty.tfrc").write_text("")
    env = dict(os.environ, TF_CLI_CONFIG_FILE=str(tmp_path / "empty.tfrc"), TF_IN_AUTOMATION="1",
               HOME=str(tmp_path))
    proc = subprocess.run(["terraform", f"-chdir={module}", "console"], input="jsonencode(sort(local.packages))\n",
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = json.loads(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert names == sorted(list(platform_packages.load().service_accounts))
    assert names, "the package list is empty"


@pytest.mark.parametrize("env", ENVS)
def test_environment_files_set_every_required_variable(env: str) -> None:
    declared = variables()
    tfvars = load(TERRAFORM / "envs" / f"{env}.tfvars")
    assert set(tfvars) <= set(declared), f"unknown variables in {env}.tfvars: {set(tfvars) - set(declared)}"
    required = {name for name, body in declared.items() if "default" not in body}
    assert required <= set(tfvars), f"{env}.tfvars misses {required - set(tfvars)}"
    assert tfvars["environment"] == env
    assert re.fullmatch(r"[a-z][a-z0-9-]{0,31}", env)
    backend = load(TERRAFORM / "envs" / f"{env}.backend.hcl")
    assert env in backend["key"] and backend["encrypt"] is True


def test_checkov_passes_with_justified_skips_only(tmp_path: Path) -> None:
    env = dict(os.environ, HOME=str(tmp_path), BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false")
    proc = subprocess.run(
        [str(VENV_BIN / "checkov"), "-d", str(TERRAFORM), "--framework", "terraform", "--skip-download",
         "-o", "json"],
        capture_output=True, text=True, timeout=180, env=env, check=False,
    )
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 25, summary
    for check in report["results"]["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment", "").strip()) >= 20, check["check_id"]
    skips = re.findall(r"#checkov:skip=([A-Z0-9_]+):(.*)", "\n".join(p.read_text() for p in TF_FILES))
    assert skips and all(len(reason.strip()) >= 20 for _, reason in skips)
    assert summary["skipped"] == len(skips)


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform binary not installed")
def test_terraform_fmt() -> None:
    proc = subprocess.run(["terraform", "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- signed releases -----------------------------------------------------------------------------

def test_one_asymmetric_signing_key_per_package_with_an_alias() -> None:
    key = resources("aws_kms_key")["signing"]
    assert key["for_each"] == "${local.signing_keys}"
    assert key["key_usage"] == "SIGN_VERIFY" and key["customer_master_key_spec"] == "ECC_NIST_P256"
    assert "enable_key_rotation" not in key  # KMS cannot rotate asymmetric keys: rotation is a new version
    alias = resources("aws_kms_alias")["signing"]
    assert alias["for_each"] == "${local.signing_current}"
    assert alias["name"] == "alias/${local.name_prefix}-sign-${each.key}"
    assert resources("aws_iam_policy")["ci_sign"]["for_each"] == "${local.packages}"
    attach = resources("aws_iam_role_policy_attachment")["ci_sign"]
    assert attach["for_each"] == "${local.ci_attachments}"  # the same CI roles as the publish policy


def test_ci_may_only_sign_and_read_the_public_key_of_the_keys_it_is_given() -> None:
    doc = render("ci_sign.json.tpl", signing_key_arns=SAMPLE["signing_key_arns"])
    (st,) = doc["Statement"]
    assert st["Effect"] == "Allow" and sorted(st["Action"]) == ["kms:GetPublicKey", "kms:Sign"]
    assert st["Resource"] == json.loads(SAMPLE["signing_key_arns"])
    text = (TERRAFORM / "signing.tf").read_text()
    assert "aws_kms_key.signing[k].arn if v.package == each.key" in text  # its own package's keys only


def test_airflow_gets_no_kms_access_to_signing_keys() -> None:
    """The agents verify offline with public keys: no KMS permission of Airflow's role names a
    signing key (its only KMS policy is the bucket key's, through S3)."""
    text = "\n".join(p.read_text() for p in TF_FILES)
    airflow_kms = resources("aws_iam_policy")["airflow_kms"]
    assert "local.kms_key_arn" in json.dumps(airflow_kms) and "signing" not in json.dumps(airflow_kms)
    attached = re.findall(r'role\s+= aws_iam_role\.airflow\.name\s+policy_arn\s+= ([^\n]+)', text)
    assert sorted(attached) == ["aws_iam_policy.airflow_kms[0].arn", "aws_iam_policy.airflow_read.arn"]
    doc = render("airflow_read.json.tpl", bucket_arn="arn:aws:s3:::b", environment="dev")
    assert not [a for st in doc["Statement"] for a in st["Action"] if a.startswith("kms:")]


def test_signing_outputs() -> None:
    outputs: dict[str, Any] = {}
    for block in as_list(load(TERRAFORM / "outputs.tf")["output"]):
        outputs.update(block)
    wanted = {"signing_key_aliases", "signing_public_keys", "ci_sign_policy_arns", "dag_sync_trust_values"}
    assert wanted <= set(outputs)
    assert variables()["signing_key_versions"]["default"] == {}


needs_terraform = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform binary not installed")


def signing_module(tmp_path: Path, public_keys: str, versions: dict[str, list[int]]) -> Path:
    """signing.tf's locals, evaluated by terraform over the committed package list, with the public
    keys (a data source in the real module) given."""
    exprs = {**package_locals(), **terraform_locals(TERRAFORM / "signing.tf")}
    exprs["signing_public_keys"] = public_keys
    exprs["package_list"] = f'yamldecode(file("{PACKAGES_FILE}"))'
    return terraform_eval(tmp_path, exprs, ["signing_keys", "signing_current", "dag_sync_trust_values"],
                          variables={"environment": "dev", "signing_key_versions": versions,
                                     "require_signatures": True})


@needs_terraform
def test_key_versions_give_every_package_a_key_and_the_alias_the_newest(tmp_path: Path) -> None:
    names = list(platform_packages.load().service_accounts)
    first, *_ = names
    module = signing_module(tmp_path, "{}", {first: [1, 2]})
    proc = subprocess.run(["terraform", f"-chdir={module}", "output", "-json"], capture_output=True, text=True,
                          timeout=60, env=terraform_env(tmp_path), check=True)
    out = {k: v["value"] for k, v in json.loads(proc.stdout).items()}
    assert set(out["signing_keys"]) == {f"{first}/v1", f"{first}/v2"} | {f"{p}/v1" for p in names if p != first}
    assert out["signing_current"] == {p: f"{p}/v2" if p == first else f"{p}/v1" for p in names}


@needs_terraform
def test_manage_trust_writes_the_trust_configmap_the_agent_reads(tmp_path: Path) -> None:
    """Terraform's own yamlencode output, through `manage.sh ENV trust`, is a values file yamllint
    accepts whose ConfigMap holds a trust file the agent parses to exactly the keys given."""
    from airflow_dag_publisher.sync.trust import parse_trust

    from devstack.signing_keys import public_pem, write_key

    names = list(platform_packages.load().service_accounts)
    pems = {p: [public_pem(write_key(tmp_path / "keys" / f"{p}-{v}.pem")) for v in (1, 2)] for p in names}
    module = signing_module(tmp_path, json.dumps(pems), {})
    (module / "envs").mkdir()
    for name in ("dev.tfvars", "dev.backend.hcl"):
        (module / "envs" / name).write_text("")
    k8s = tmp_path / "k8s"
    (k8s / "envs" / "dev").mkdir(parents=True)
    proc = subprocess.run(["bash", str(SCRIPTS / "manage.sh"), "dev", "trust"], capture_output=True, text=True,
                          timeout=120, env={**terraform_env(tmp_path), "TF_DIR": str(module), "K8S_DIR": str(k8s)},
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = k8s / "envs" / "dev" / "dag-sync-trust-values.yaml"
    assert f"wrote {written}" in proc.stdout
    lint = subprocess.run([str(VENV_BIN / "yamllint"), "-s", "-c", str(TERRAFORM.parent / ".yamllint.yaml"),
                           str(written)], capture_output=True, text=True, timeout=60, check=False)
    assert lint.returncode == 0, lint.stdout
    values = yaml.safe_load(written.read_text())
    (name,) = values["extraConfigMaps"]
    assert name == "airflow-dag-sync-trust"
    data = yaml.safe_load(values["extraConfigMaps"][name]["data"])
    trust = parse_trust(data["trust.yaml"], source="trust.yaml")
    assert sorted(trust) == sorted(names) and all(len(trust[p]) == 2 for p in names)
    committed = yaml.safe_load((K8S / "envs" / "dev" / "dag-sync-trust-values.yaml").read_text())
    assert set(committed["extraConfigMaps"][name]) == set(values["extraConfigMaps"][name])
