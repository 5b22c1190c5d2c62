"""One name per bucket everywhere: the buckets the docs, the CI template and the package pipeline name are
the ones Terraform's tfvars create (and the agents' ConfigMaps read), and the deployment guide names the
Terraform state bucket each environment's backend needs before `manage.sh ENV init`."""

from __future__ import annotations

import re

import hcl2

from tests.infra.infra_helpers import INFRA, REPO, TERRAFORM

BUCKET_LIKE = re.compile(r"\bacme-[a-z0-9.-]*\b")
TEXTS = [*(REPO / "docs" / "airflow").glob("*.md"), REPO / "README.md", *INFRA.glob("*.md"),
         *(REPO / "packages").glob("*/README.md"), REPO / ".gitlab" / "ci" / "dag-publish-template.yml",
         REPO / "tests" / "gitlab" / "fixtures" / "orders_report" / ".gitlab-ci.yml"]


def hcl(path: str) -> dict[str, object]:
    with (TERRAFORM / "envs" / path).open() as fh:
        return {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in hcl2.load(fh).items()}


def tf_buckets() -> dict[str, str]:
    """bucket name -> environment, from every envs/<env>.tfvars."""
    return {str(hcl(p.name)["bucket_name"]): p.stem for p in sorted((TERRAFORM / "envs").glob("*.tfvars"))}


def test_every_bucket_the_docs_name_is_one_terraform_creates() -> None:
    buckets = tf_buckets()
    assert sorted(buckets.values()) == ["dev", "prod", "staging"]
    assert all(name == f"acme-airflow-dags-{env}" for name, env in buckets.items())
    state = {str(hcl(f"{env}.backend.hcl")["bucket"]) for env in buckets.values()}
    named = set()
    for path in TEXTS:
        for name in BUCKET_LIKE.findall(path.read_text()):
            if "airflow-dags" in name or "terraform-state" in name:
                named.add(name)
                assert name in buckets or name in state, f"{path.relative_to(REPO)} names bucket {name!r}"
    assert set(buckets) <= named, "the docs name every environment's bucket"


def test_the_guide_names_the_terraform_state_bucket_as_a_prerequisite() -> None:
    guide = (REPO / "docs" / "airflow" / "DEPLOYMENT.md").read_text()
    prerequisites = guide.split("## Prerequisites", 1)[1].split("\n## ", 1)[0]
    for env in ("dev", "staging", "prod"):
        backend = hcl(f"{env}.backend.hcl")
        assert f"`{backend['bucket']}`" in prerequisites
        assert backend["use_lockfile"] is True and backend["encrypt"] is True
