"""Signed releases on moto's KMS, S3 and IAM with IAM enforced, under the IAM documents Terraform
deploys (policies/ci_publish, ci_sign and airflow_read, rendered the same way), each verdict also
checked by the evaluator in infra_helpers:

- a package's CI role signs with its own package's key and is denied another package's key;
- a principal with s3:* on the bucket but no signing key commits a well-formed release: the agent
  refuses it (reason "signature") and the package stays on its signed release;
- a rotated key signs while the old one is still trusted.

moto signs MessageType=RAW correctly for ECDSA_SHA_256 (checked offline with cryptography here); KMS
requests are authorised against the key they name (tests/infra/moto_kms.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from airflow_dag_publisher.environments import EnvironmentSettings
from airflow_dag_publisher.errors import StorageError
from airflow_dag_publisher.kms import KmsSigner, translate
from airflow_dag_publisher.publisher import Publisher, PublishOptions, ReleaseMeta, Validation
from airflow_dag_publisher.signing import TrustedKey, signature_problem, statement, verifies
from airflow_dag_publisher.sources import read_source
from airflow_dag_publisher.storage import Storage, environment_key, manifest_key
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.releases import Layout
from airflow_dag_publisher.sync.trust import Trust
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devstack.dagfiles import write_kpo_dag
from packages.orchestration.tests.sync.support import folder_view
from tests.infra.infra_helpers import (
    MotoServer,
    airflow_read_policy,
    bucket_arn,
    ci_publish_policy,
    create_users,
    iam_allows,
    render,
)

BUCKET = "dags-signing"
ENV = "dev"
A, B = "pkg_a", "pkg_b"
META = ReleaseMeta(published_by="tests", tool_version="test")


def ci_sign_policy(key_arns: list[str]) -> dict[str, Any]:
    return render("ci_sign.json.tpl", signing_key_arns=json.dumps(key_arns))


def s3_star_policy() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Sid": "DataLakeAdmin", "Effect": "Allow", "Action": "s3:*",
                                                    "Resource": [bucket_arn(BUCKET), f"{bucket_arn(BUCKET)}/*"]}]}


ADMIN = {"Version": "2012-10-17", "Statement": [{"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass
class World:
    server: MotoServer
    creds: dict[str, tuple[str, str]]
    keys: dict[str, str]  # "a1", "a2", "b" -> key ARN
    policies: dict[str, list[dict[str, Any]]]

    def client(self, who: str, service: str) -> Any:
        return self.server.client(service, *self.creds[who])

    def signer(self, who: str, key: str) -> KmsSigner:
        return KmsSigner(key, client=self.client(who, "kms"))

    def storage(self, who: str) -> Storage:
        return Storage(BUCKET, self.client(who, "s3"))

    def public_key(self, name: str) -> TrustedKey:
        der = self.client("admin", "kms").get_public_key(KeyId=self.keys[name])["PublicKey"]
        key = serialization.load_der_public_key(der)
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return TrustedKey.from_key(key)


def alias(package: str) -> str:
    return f"alias/airflow-dags-{ENV}-sign-{package}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = MotoServer(Path(tmp_path_factory.mktemp("moto")) / "moto.log", kms_resources=True).start()
    try:
        s3, kms, iam = server.client("s3"), server.client("kms"), server.client("iam")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=BUCKET, Key=environment_key(ENV), Body=EnvironmentSettings(ENV).to_json())
        keys = {name: kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256",
                                     Description=f"release signing {name}")["KeyMetadata"]["Arn"]
                for name in ("a1", "a2", "b")}
        kms.create_alias(AliasName=alias(A), TargetKeyId=keys["a1"])
        kms.create_alias(AliasName=alias(B), TargetKeyId=keys["b"])
        policies = {
            "ci_a": [ci_publish_policy(BUCKET, ENV, A), ci_sign_policy([keys["a1"], keys["a2"]])],
            "ci_b": [ci_publish_policy(BUCKET, ENV, B), ci_sign_policy([keys["b"]])],
            "airflow": [airflow_read_policy(BUCKET, ENV)],
            "s3_admin": [s3_star_policy()],
            "admin": [ADMIN],
        }
        creds = create_users(iam, policies)
        server.enforce()
        yield World(server, creds, keys, policies)
    finally:
        server.stop()


def test_moto_signs_raw_ecdsa_messages_that_verify_offline(world: World) -> None:
    message = b'{"type":"test"}'
    answer = world.client("ci_a", "kms").sign(KeyId=alias(A), Message=message, MessageType="RAW",
                                              SigningAlgorithm="ECDSA_SHA_256")
    assert answer["KeyId"] == world.keys["a1"]
    assert verifies(world.public_key("a1").key, "ECDSA_SHA_256", message, answer["Signature"])
    assert not verifies(world.public_key("b").key, "ECDSA_SHA_256", message, answer["Signature"])


@pytest.mark.parametrize(("who", "key", "allowed"), [
    ("ci_a", "a1", True), ("ci_a", "a2", True), ("ci_a", "b", False),
    ("ci_b", "b", True), ("ci_b", "a1", False),
    ("airflow", "a1", False), ("airflow", "b", False), ("s3_admin", "a1", False),
])
def test_a_ci_role_signs_only_with_its_own_packages_key(world: World, who: str, key: str, allowed: bool) -> None:
    for action in ("kms:Sign", "kms:GetPublicKey"):
        assert iam_allows(world.policies[who], action, world.keys[key]) is allowed, (who, action, key)
    signer = world.signer(who, world.keys[key])
    if allowed:
        signature = signer.sign(b"statement")
        assert signature.key_id == world.keys[key] and signature.algorithm == "ECDSA_SHA_256"
        return
    with pytest.raises(StorageError) as info:
        signer.sign(b"statement")
    assert info.value.kind == "access_denied" and world.keys[key] in str(info.value)


def test_the_alias_resolves_to_the_key_it_points_at_for_iam(world: World) -> None:
    """CI signs with the alias (DAG_SIGNING_KEY); IAM decides on the key behind it."""
    assert world.signer("ci_a", alias(A)).sign(b"x").key_id == world.keys["a1"]
    with pytest.raises(StorageError, match=f"access denied.*KMS key {alias(B)}") as info:
        world.signer("ci_a", alias(B)).sign(b"x")
    assert info.value.kind == "access_denied"


def publish(world: World, who: str, source: Path, *, key: str | None) -> Any:
    signer = world.signer(who, key) if key else None
    publisher = Publisher(world.storage(who), ENV, A, signer=signer)
    return publisher.publish_files(read_source(source), META, PublishOptions(validation=Validation.STATIC))


def agent_for(world: World, dags: Path, trusted: list[str]) -> SyncAgent:
    trust = Trust({A: tuple(world.public_key(k) for k in trusted)}, require=True)
    agent = SyncAgent(AgentConfig(bucket=BUCKET, env=ENV, reconcile_interval=3600), world.storage("airflow"),
                      Layout(dags), trust=trust)
    agent.open()
    return agent


def test_an_s3_admin_without_the_key_commits_a_release_and_the_agent_refuses_it(world: World,
                                                                                tmp_path: Path) -> None:
    source = tmp_path / "src"
    write_kpo_dag(source, A, "daily", image="registry.example.com/pkg_a:1.0.1")
    signed = publish(world, "ci_a", source, key=alias(A))
    assert signed.manifest.signature.key_id == world.keys["a1"]
    agent = agent_for(world, tmp_path / "dags", ["a1", "a2"])
    try:
        assert agent.run_cycle(reconcile=True).applied == [A]
        good = folder_view(tmp_path / "dags")

        # s3:* on the bucket, no key: signing is denied, so nothing is committed that way ...
        before = world.storage("airflow").get(manifest_key(ENV, A)).obj
        with pytest.raises(StorageError) as denied:
            publish(world, "s3_admin", source, key=alias(A))
        assert denied.value.kind == "access_denied"
        assert world.storage("airflow").get(manifest_key(ENV, A)).obj == before
        # ... but it can write a well-formed release (files, sha256, digest, journal) unsigned
        write_kpo_dag(source, A, "daily", image="registry.example.com/evil:latest-but-tagged-1")
        forged = publish(world, "s3_admin", source, key=None)
        assert not forged.noop and forged.manifest.signature is None
        result = agent.run_cycle()
        assert A in result.refused and "is not signed" in result.refused[A]
        assert agent.metrics.sample("dagsync_refused_manifests_total", package=A, reason="signature") == 1
        assert folder_view(tmp_path / "dags") == good  # the package stays on its signed release
    finally:
        agent.close()


def test_a_rotated_key_signs_while_the_old_one_is_still_trusted(world: World, tmp_path: Path) -> None:
    source = tmp_path / "src"
    write_kpo_dag(source, A, "hourly", image="registry.example.com/pkg_a:2.0.0")
    old = publish(world, "ci_a", source, key=alias(A))
    assert old.manifest.signature.key_id == world.keys["a1"]
    both = agent_for(world, tmp_path / "both", ["a1", "a2"])
    try:
        assert both.run_cycle(reconcile=True).applied == [A]
        world.client("admin", "kms").update_alias(AliasName=alias(A), TargetKeyId=world.keys["a2"])
        try:
            resigned = publish(world, "ci_a", source, key=alias(A))  # same files, new key: a new release
            assert not resigned.noop and resigned.plan.uploads == ()
            assert resigned.manifest.signature.key_id == world.keys["a2"]
            assert both.run_cycle().refused == {}
            write_kpo_dag(source, A, "hourly", image="registry.example.com/pkg_a:2.0.1")
            newer = publish(world, "ci_a", source, key=alias(A))
            assert both.run_cycle().applied == [A]
            # once every package has a release signed by the new key, the old key leaves the trust file
            only_new = agent_for(world, tmp_path / "only-new", ["a2"])
            assert only_new.run_cycle(reconcile=True).applied == [A]
            only_new.close()
            assert folder_view(tmp_path / "only-new") == folder_view(tmp_path / "both")
            only_old = agent_for(world, tmp_path / "only-old", ["a1"])
            assert A in only_old.run_cycle(reconcile=True).refused
            only_old.close()
            assert signature_problem(newer.manifest, [world.public_key("a1")], require=True)
            assert verifies(world.public_key("a2").key, "ECDSA_SHA_256", statement(newer.manifest),
                            base64.b64decode(newer.manifest.signature.value))
        finally:
            world.client("admin", "kms").update_alias(AliasName=alias(A), TargetKeyId=world.keys["a1"])
    finally:
        both.close()


def test_kms_errors_name_the_key_and_carry_a_kind(world: World) -> None:
    # moto answers unknown credentials with a bare 403 (its XML error in a JSON protocol): AWS's own
    # codes are mapped as botocore raises them
    rejected = botocore.exceptions.ClientError({"Error": {"Code": "UnrecognizedClientException"}}, "Sign")
    assert translate(rejected, alias(A), "sign").kind == "credentials"
    assert translate(botocore.exceptions.NoCredentialsError(), alias(A), "sign").kind == "credentials"
    with pytest.raises(StorageError, match=f"KMS key {alias(A)}") as info:
        KmsSigner(alias(A), client=world.server.client("kms", "AKIAUNKNOWNUSER00000", "wrong")).public_key()
    assert info.value.kind in {"credentials", "access_denied"}, info.value
    with pytest.raises(StorageError, match="alias/no-such-key") as missing:
        world.signer("admin", "alias/no-such-key").public_key()
    assert missing.value.kind == "not_found"
