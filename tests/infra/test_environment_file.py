"""Terraform declares each environment's settings in the bucket (`<env>/_environment.json`, what every
publisher reads before it commits) and the agents' DAGSYNC_REQUIRE_SIGNATURES (the trust ConfigMap) from
one variable, require_signatures; evaluated by the real terraform where it is installed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from airflow_dag_publisher.environments import EnvironmentSettings, parse_settings

from devstack import platform_packages
from tests.infra.infra_helpers import PACKAGES_FILE, TERRAFORM, terraform_eval, terraform_locals
from tests.infra.test_terraform import package_locals, resources, variables


def content_expression() -> str:
    """The object's `content` expression, as main.tf writes it."""
    text = (TERRAFORM / "main.tf").read_text()
    found = re.search(r'resource "aws_s3_object" "environment" \{.*?\n  content\s+=\s+(jsonencode\(.*?\))\n', text,
                      re.S)
    assert found, "aws_s3_object.environment has no content"
    return found.group(1)


def test_the_environment_object_and_the_trust_configmap_come_from_require_signatures() -> None:
    assert variables()["require_signatures"]["default"] is True
    obj = resources("aws_s3_object")["environment"]
    assert obj["key"] == "${var.environment}/_environment.json"
    assert "require_signatures = var.require_signatures" in content_expression()
    assert obj["bucket"] == "${aws_s3_bucket.dags.id}"
    trust = terraform_locals(TERRAFORM / "signing.tf")["dag_sync_trust_values"]
    assert re.search(r'DAGSYNC_REQUIRE_SIGNATURES\s*=\s*var\.require_signatures \? "true" : "false"', trust)


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform binary not installed")
@pytest.mark.parametrize("required", [True, False])
def test_terraform_writes_what_the_publisher_and_the_agents_read(tmp_path: Path, required: bool) -> None:
    expression = content_expression()
    exprs = {**package_locals(), **terraform_locals(TERRAFORM / "signing.tf"), "signing_public_keys": "{}",
             "package_list": f'yamldecode(file("{PACKAGES_FILE}"))', "environment_json": expression}
    module = terraform_eval(tmp_path, exprs, ["environment_json", "dag_sync_trust_values"],
                            variables={"environment": "prod", "signing_key_versions": {},
                                       "require_signatures": required})
    state = json.loads((module / "terraform.tfstate").read_text())["outputs"]
    settings = parse_settings(state["environment_json"]["value"].encode(), source="_environment.json", env="prod")
    assert settings == EnvironmentSettings(env="prod", require_signatures=required)
    trust = yaml.safe_load(state["dag_sync_trust_values"]["value"])["extraConfigMaps"]["airflow-dag-sync-trust"]
    assert yaml.safe_load(trust["data"])["DAGSYNC_REQUIRE_SIGNATURES"] == ("true" if required else "false")
    assert platform_packages.load().service_accounts
