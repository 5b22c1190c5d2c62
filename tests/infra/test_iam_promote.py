"""Who may promote into which environment, on moto with IAM enforced: each environment has its own
bucket (as the Terraform deploys them), and a package's CI role of an environment holds that
environment's publish policy plus the promote policy for the one environment before it
(policies/ci_promote.json.tpl: prod reads staging, staging reads dev). The publisher's real
`promote` runs as those identities; the evaluator of infra_helpers agrees case by case."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from airflow_dag_publisher.environments import EnvironmentSettings
from airflow_dag_publisher.errors import StorageError
from airflow_dag_publisher.publisher import Publisher, PublishOptions, ReleaseMeta, Validation
from airflow_dag_publisher.sources import LocalFile
from airflow_dag_publisher.storage import Storage, environment_key

from devstack.dagfiles import kpo_dag
from tests.infra.infra_helpers import (
    MotoServer,
    bucket_arn,
    ci_promote_policy,
    ci_publish_policy,
    create_users,
    iam_allows,
)

A, B = "pkg_a", "pkg_b"
BUCKETS = {"dev": "dags-promote-dev", "staging": "dags-promote-staging", "prod": "dags-promote-prod"}
META = ReleaseMeta(published_by="test", tool_version="0")  # the image recorded is the one the jobs run


def identities() -> dict[str, list[dict[str, Any]]]:
    return {
        "ci_prod_a": [ci_publish_policy(BUCKETS["prod"], "prod", A),
                      ci_promote_policy(BUCKETS["staging"], "staging", A)],
        "ci_staging_a": [ci_publish_policy(BUCKETS["staging"], "staging", A),
                         ci_promote_policy(BUCKETS["dev"], "dev", A)],
    }


def files(package: str, n: int) -> list[LocalFile]:
    dag = kpo_dag(package, "daily", image=f"registry.example.com/{package}:1.0.{n}").encode()
    helper = f"VERSION = {n}\n".encode()
    return [LocalFile(f"{package}_daily.py", hashlib.sha256(dag).hexdigest(), len(dag), dag),
            LocalFile("helpers.py", hashlib.sha256(helper).hexdigest(), len(helper), helper)]


@dataclass
class World:
    server: MotoServer
    keys: dict[str, tuple[str, str]]
    releases: dict[str, str]  # env -> release id of pkg_a there

    def storage(self, who: str, env: str) -> Storage:
        return Storage(BUCKETS[env], self.server.client("s3", *self.keys[who]))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = MotoServer(Path(tmp_path_factory.mktemp("moto")) / "moto.log").start()
    try:
        admin = server.client("s3")
        iam = server.client("iam")
        releases = {}
        for env, bucket in BUCKETS.items():
            admin.create_bucket(Bucket=bucket)
            admin.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            admin.put_object(Bucket=bucket, Key=environment_key(env), Body=EnvironmentSettings(env).to_json())
            if env == "prod":
                continue
            for package in (A, B):
                result = Publisher(Storage(bucket, admin), env, package).publish_files(
                    files(package, 1 if env == "staging" else 0), META,
                    PublishOptions(validation=Validation.STATIC))
                assert result.release_id
                if package == A:
                    releases[env] = result.release_id
        keys = create_users(iam, identities())
        server.enforce()
        yield World(server, keys, releases)
    finally:
        server.stop()


def test_prod_ci_promotes_a_staging_release_under_enforced_iam(world: World) -> None:
    prod = world.storage("ci_prod_a", "prod")
    staging = world.storage("ci_prod_a", "staging")
    result = Publisher(prod, "prod", A).promote(META, "staging", world.releases["staging"], source_storage=staging)
    assert result.manifest is not None and not result.warnings, result.warnings
    assert result.manifest.promoted_from is not None
    assert result.manifest.promoted_from.release_id == world.releases["staging"]
    source = json.loads(staging.get(f"staging/{A}/manifest.json").obj.body)  # type: ignore[union-attr]
    assert result.manifest.content_digest == source["content_digest"]
    body = prod.get(f"prod/{A}/dags/helpers.py").obj
    assert body is not None and body.body == b"VERSION = 1\n"


def test_prod_ci_cannot_promote_from_dev_or_another_package(world: World) -> None:
    prod = world.storage("ci_prod_a", "prod")
    before = prod.get(f"prod/{A}/manifest.json").obj
    with pytest.raises(StorageError) as caught:
        Publisher(prod, "prod", A).promote(META, "dev", source_storage=world.storage("ci_prod_a", "dev"))
    assert caught.value.kind == "access_denied"  # refused at the source environment's settings, before any copy
    assert f"s3://{BUCKETS['dev']}/dev/_environment.json" in str(caught.value)
    with pytest.raises(StorageError) as other:
        Publisher(prod, "prod", B).promote(META, "staging", source_storage=world.storage("ci_prod_a", "staging"))
    assert other.value.kind == "access_denied"
    after = prod.get(f"prod/{A}/manifest.json").obj
    assert (before.etag if before else None) == (after.etag if after else None)


def test_staging_ci_promotes_from_dev(world: World) -> None:
    staging = world.storage("ci_staging_a", "staging")
    result = Publisher(staging, "staging", A).promote(META, "dev", source_storage=world.storage("ci_staging_a", "dev"))
    assert result.manifest is not None and result.manifest.promoted_from is not None
    assert result.manifest.promoted_from.env == "dev"


CASES = [
    # (who, action, bucket env, key, allowed)
    ("ci_prod_a", "s3:GetObject", "staging", f"staging/{A}/manifest.json", True),
    ("ci_prod_a", "s3:GetObjectVersion", "staging", f"staging/{A}/dags/helpers.py", True),
    ("ci_prod_a", "s3:PutObject", "staging", f"staging/{A}/dags/helpers.py", False),
    ("ci_prod_a", "s3:PutObject", "staging", f"staging/{A}/manifest.json", False),
    ("ci_prod_a", "s3:DeleteObject", "staging", f"staging/{A}/dags/helpers.py", False),
    ("ci_prod_a", "s3:GetObject", "staging", f"staging/{B}/manifest.json", False),
    ("ci_prod_a", "s3:GetObject", "dev", f"dev/{A}/manifest.json", False),
    ("ci_prod_a", "s3:GetObjectVersion", "dev", f"dev/{A}/dags/helpers.py", False),
    ("ci_prod_a", "s3:PutObject", "prod", f"prod/{A}/dags/helpers.py", True),
    ("ci_staging_a", "s3:GetObject", "dev", f"dev/{A}/manifest.json", True),
    ("ci_staging_a", "s3:GetObject", "prod", f"prod/{A}/manifest.json", False),
]


@pytest.mark.parametrize(("who", "action", "env", "key", "allowed"), CASES,
                         ids=[f"{w}:{a}:{k}" for w, a, _, k, _ in CASES])
def test_promote_matrix_on_moto(world: World, who: str, action: str, env: str, key: str, allowed: bool) -> None:
    assert iam_allows(identities()[who], action, f"{bucket_arn(BUCKETS[env])}/{key}") is allowed
    s3 = world.server.client("s3", *world.keys[who])
    bucket = BUCKETS[env]
    try:
        if action == "s3:PutObject":
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        elif action == "s3:DeleteObject":
            s3.delete_object(Bucket=bucket, Key=key)
        elif action == "s3:GetObjectVersion":
            version = s3.list_object_versions(Bucket=bucket, Prefix=key) if allowed else None
            extra = {"VersionId": version["Versions"][0]["VersionId"]} if version else {}
            s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
        else:
            s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except botocore.exceptions.ClientError as exc:
        assert not allowed and exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403, exc
        return
    assert allowed, f"{who} was allowed {action} on {key}"


@pytest.mark.parametrize(("who", "env", "prefix", "allowed"), [
    ("ci_prod_a", "staging", f"staging/{A}/manifest.json", True),
    ("ci_prod_a", "staging", f"staging/{B}/manifest.json", False),
    ("ci_prod_a", "staging", "staging/", False),
    ("ci_prod_a", "dev", f"dev/{A}/manifest.json", False),
])
def test_promote_history_listing_is_limited_to_the_package(who: str, env: str, prefix: str, allowed: bool) -> None:
    """moto ignores s3:prefix; the evaluator decides the listing of the source's manifest versions."""
    assert iam_allows(identities()[who], "s3:ListBucketVersions", bucket_arn(BUCKETS[env]),
                      {"s3:prefix": prefix}) is allowed
