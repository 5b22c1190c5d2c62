"""The IAM documents Terraform deploys (policies/*.json.tpl, rendered the same way), loaded into
moto's server with IAM enforcement on, and exercised as the identities that will hold them.

moto checks actions and resources but ignores IAM condition keys, so each case is also run through
the small evaluator in infra_helpers (which does evaluate s3:prefix), and the list-prefix cases that
only conditions decide are checked there: both engines must agree with the expected verdict."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from airflow_dag_publisher.storage import LISTING_DELIMITER

from devstack import platform_packages
from tests.infra.infra_helpers import (
    MotoServer,
    airflow_read_policy,
    bucket_arn,
    ci_publish_policy,
    create_users,
    iam_allows,
)

BUCKET = "dags-matrix"
ENV, OTHER_ENV = "dev", "prod"
A, B = "pkg_a", "pkg_b"
JOURNAL_A = f"_journal/{ENV}/{1760000000000:016d}-{A}"
JOURNAL_B = f"_journal/{ENV}/{1760000000000:016d}-{B}"
RELEASE_A = f"_releases/{ENV}/{A}/20260101T000000Z-00000000000a.json"
RELEASE_B = f"_releases/{ENV}/{B}/20260101T000000Z-00000000000b.json"
RELEASE_PROD_A = f"_releases/{OTHER_ENV}/{A}/20260101T000000Z-0000000000pa.json"

SEED = {
    f"{ENV}/{A}/manifest.json": b'{"package": "pkg_a"}',
    f"{ENV}/{A}/dags/old.py": b"# old",
    f"{ENV}/{A}/dags/keep.py": b"# keep",
    f"{ENV}/{B}/manifest.json": b'{"package": "pkg_b"}',
    f"{ENV}/{B}/dags/b.py": b"# b",
    f"{ENV}/{B}/dags.tar.gz": b"archive of b",
    f"{ENV}/{B}/dags/manifest.json": b"# a file of B that happens to be called manifest.json",
    f"{ENV}/{B}/dags/sql/manifest.json": b"# another one, deeper",
    f"{OTHER_ENV}/{A}/manifest.json": b'{"package": "pkg_a", "env": "prod"}',
    f"{OTHER_ENV}/{A}/dags/a.py": b"# prod a",
    JOURNAL_B: b"",
    f"{ENV}/_environment.json": b'{"schema_version": 1, "env": "dev", "require_signatures": true}',
    RELEASE_B: b'{"package": "pkg_b"}',
    RELEASE_PROD_A: b'{"package": "pkg_a", "env": "prod"}',
}


# The packages of infra/airflow/packages.yaml, each with the CI policy Terraform gives it.
LISTED = list(platform_packages.load().service_accounts)


def identities() -> dict[str, list[dict[str, Any]]]:
    return {
        "ci_a": [ci_publish_policy(BUCKET, ENV, A)],
        "ci_b": [ci_publish_policy(BUCKET, ENV, B)],
        "airflow_dev": [airflow_read_policy(BUCKET, ENV)],
        "nobody": [],
        **{f"ci_listed_{name}": [ci_publish_policy(BUCKET, ENV, name)] for name in LISTED},
    }


@dataclass
class World:
    server: MotoServer
    keys: dict[str, tuple[str, str]]
    versions: dict[str, str] = field(default_factory=dict)

    def s3(self, who: str) -> Any:
        return self.server.client("s3", *self.keys[who])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = MotoServer(Path(tmp_path_factory.mktemp("moto")) / "moto.log").start()
    try:
        admin_s3 = server.client("s3")
        iam = server.client("iam")
        admin_s3.create_bucket(Bucket=BUCKET)
        admin_s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        versions = {}
        for key, body in SEED.items():
            versions[key] = admin_s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]
        keys = create_users(iam, identities())
        server.enforce()
        yield World(server, keys, versions)
    finally:
        server.stop()


def _denied(exc: botocore.exceptions.ClientError) -> bool:
    err = exc.response.get("Error", {})
    return err.get("Code") in {"AccessDenied", "403"} or exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@dataclass(frozen=True)
class Case:
    who: str
    what: str
    call: Callable[[Any, World], Any]
    action: str
    resource: str  # object key, or "" for the bucket
    allowed: bool
    prefix: str | None = None  # s3:prefix of a listing


def _key_arn(key: str) -> str:
    return f"{bucket_arn(BUCKET)}/{key}" if key else bucket_arn(BUCKET)


def put(key: str) -> Callable[[Any, World], Any]:
    return lambda s3, w: s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")


def get(key: str, *, pinned: bool = False) -> Callable[[Any, World], Any]:
    def call(s3: Any, w: World) -> Any:
        extra = {"VersionId": w.versions[key]} if pinned else {}
        return s3.get_object(Bucket=BUCKET, Key=key, **extra)["Body"].read()
    return call


def delete(key: str, *, version: bool = False) -> Callable[[Any, World], Any]:
    def call(s3: Any, w: World) -> Any:
        extra = {"VersionId": w.versions[key]} if version else {}
        return s3.delete_object(Bucket=BUCKET, Key=key, **extra)
    return call


def list_v2(prefix: str, delimiter: str | None = None) -> Callable[[Any, World], Any]:
    def call(s3: Any, w: World) -> Any:
        extra = {"Delimiter": delimiter} if delimiter else {}
        return s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix, **extra)
    return call


def list_versions(prefix: str) -> Callable[[Any, World], Any]:
    return lambda s3, w: s3.list_object_versions(Bucket=BUCKET, Prefix=prefix)


CASES = [
    # package A's CI publishes A
    Case("ci_a", "read bucket versioning", lambda s3, w: s3.get_bucket_versioning(Bucket=BUCKET),
         "s3:GetBucketVersioning", "", True),
    Case("ci_a", "list the env's manifests (delimiter /d)", list_v2(f"{ENV}/", LISTING_DELIMITER),
         "s3:ListBucket", "", True, prefix=f"{ENV}/"),
    Case("ci_a", "read B's manifest (dag_id ownership)", get(f"{ENV}/{B}/manifest.json"),
         "s3:GetObject", f"{ENV}/{B}/manifest.json", True),
    Case("ci_a", "read own manifest", get(f"{ENV}/{A}/manifest.json"),
         "s3:GetObject", f"{ENV}/{A}/manifest.json", True),
    Case("ci_a", "upload a DAG file", put(f"{ENV}/{A}/dags/new.py"), "s3:PutObject", f"{ENV}/{A}/dags/new.py", True),
    Case("ci_a", "upload the release archive", put(f"{ENV}/{A}/dags.tar.gz"), "s3:PutObject", f"{ENV}/{A}/dags.tar.gz",
         True),
    Case("ci_a", "write B's release archive", put(f"{ENV}/{B}/dags.tar.gz"), "s3:PutObject", f"{ENV}/{B}/dags.tar.gz",
         False),
    Case("ci_a", "write own manifest", put(f"{ENV}/{A}/manifest.json"),
         "s3:PutObject", f"{ENV}/{A}/manifest.json", True),
    Case("ci_a", "read a pinned version of own file", get(f"{ENV}/{A}/dags/keep.py", pinned=True),
         "s3:GetObjectVersion", f"{ENV}/{A}/dags/keep.py", True),
    Case("ci_a", "list own manifest's versions", list_versions(f"{ENV}/{A}/manifest.json"),
         "s3:ListBucketVersions", "", True, prefix=f"{ENV}/{A}/manifest.json"),
    Case("ci_a", "write own journal entry", put(JOURNAL_A), "s3:PutObject", JOURNAL_A, True),
    Case("ci_a", "keep its release under its id", put(RELEASE_A), "s3:PutObject", RELEASE_A, True),
    Case("ci_a", "write a release of B under its id", put(RELEASE_B), "s3:PutObject", RELEASE_B, False),
    Case("ci_a", "write its release under an id in another env", put(RELEASE_PROD_A), "s3:PutObject",
         RELEASE_PROD_A, False),
    Case("ci_a", "write at the root of the release copies", put(f"_releases/{ENV}/x.json"), "s3:PutObject",
         f"_releases/{ENV}/x.json", False),
    Case("ci_a", "delete a removed DAG file (delete marker)", delete(f"{ENV}/{A}/dags/old.py"),
         "s3:DeleteObject", f"{ENV}/{A}/dags/old.py", True),
    # ... and nothing else
    Case("ci_a", "write under B", put(f"{ENV}/{B}/dags/evil.py"), "s3:PutObject", f"{ENV}/{B}/dags/evil.py", False),
    Case("ci_a", "overwrite B's manifest", put(f"{ENV}/{B}/manifest.json"),
         "s3:PutObject", f"{ENV}/{B}/manifest.json", False),
    Case("ci_a", "delete B's DAG file", delete(f"{ENV}/{B}/dags/b.py"),
         "s3:DeleteObject", f"{ENV}/{B}/dags/b.py", False),
    Case("ci_a", "read B's DAG file", get(f"{ENV}/{B}/dags/b.py"), "s3:GetObject", f"{ENV}/{B}/dags/b.py", False),
    Case("ci_a", "delete a version of its own file", delete(f"{ENV}/{A}/dags/keep.py", version=True),
         "s3:DeleteObjectVersion", f"{ENV}/{A}/dags/keep.py", False),
    Case("ci_a", "delete a version of B's manifest", delete(f"{ENV}/{B}/manifest.json", version=True),
         "s3:DeleteObjectVersion", f"{ENV}/{B}/manifest.json", False),
    Case("ci_a", "write B's journal entry", put(JOURNAL_B), "s3:PutObject", JOURNAL_B, False),
    Case("ci_a", "write a journal key that names no package", put(f"_journal/{ENV}/anything"),
         "s3:PutObject", f"_journal/{ENV}/anything", False),
    Case("ci_a", "write its package in another env", put(f"{OTHER_ENV}/{A}/dags/a.py"),
         "s3:PutObject", f"{OTHER_ENV}/{A}/dags/a.py", False),
    Case("ci_a", "read its package's manifest in another env", get(f"{OTHER_ENV}/{A}/manifest.json"),
         "s3:GetObject", f"{OTHER_ENV}/{A}/manifest.json", False),
    Case("ci_a", "write at the env root", put(f"{ENV}/stray.txt"), "s3:PutObject", f"{ENV}/stray.txt", False),
    # the environment's settings (require_signatures): every publisher reads them, none may change them
    Case("ci_a", "read the environment's settings", get(f"{ENV}/_environment.json"),
         "s3:GetObject", f"{ENV}/_environment.json", True),
    Case("ci_a", "rewrite the environment's settings", put(f"{ENV}/_environment.json"),
         "s3:PutObject", f"{ENV}/_environment.json", False),
    Case("ci_a", "read another env's settings", get(f"{OTHER_ENV}/_environment.json"),
         "s3:GetObject", f"{OTHER_ENV}/_environment.json", False),
    # issue 26, attack 9: IAM's `*` spans `/`, so `<env>/*/manifest.json` once matched B's DAG files too
    Case("ci_a", "read a DAG file of B named manifest.json", get(f"{ENV}/{B}/dags/manifest.json"),
         "s3:GetObject", f"{ENV}/{B}/dags/manifest.json", False),
    Case("ci_a", "read a deeper DAG file of B named manifest.json", get(f"{ENV}/{B}/dags/sql/manifest.json"),
         "s3:GetObject", f"{ENV}/{B}/dags/sql/manifest.json", False),
    # issue 26, attack 6: a package writes only the keys the layout defines under its prefix
    Case("ci_a", "write a key the layout does not define", put(f"{ENV}/{A}/junk-0001"),
         "s3:PutObject", f"{ENV}/{A}/junk-0001", False),
    Case("ci_a", "write a key that sorts before manifest.json", put(f"{ENV}/{A}/a/b.txt"),
         "s3:PutObject", f"{ENV}/{A}/a/b.txt", False),
    Case("ci_a", "write a key beside dags/", put(f"{ENV}/{A}/dagsx/x.py"),
         "s3:PutObject", f"{ENV}/{A}/dagsx/x.py", False),
    Case("ci_a", "suspend versioning",
         lambda s3, w: s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"}),
         "s3:PutBucketVersioning", "", False),
    Case("ci_b", "B's CI writes B", put(f"{ENV}/{B}/dags/b2.py"), "s3:PutObject", f"{ENV}/{B}/dags/b2.py", True),
    Case("ci_b", "B's CI writes A", put(f"{ENV}/{A}/dags/x.py"), "s3:PutObject", f"{ENV}/{A}/dags/x.py", False),
    # Airflow reads its environment and writes nothing
    Case("airflow_dev", "list the env (delimiter /d)", list_v2(f"{ENV}/", LISTING_DELIMITER),
         "s3:ListBucket", "", True, prefix=f"{ENV}/"),
    Case("airflow_dev", "list the journal", list_v2(f"_journal/{ENV}/"), "s3:ListBucket", "", True,
         prefix=f"_journal/{ENV}/"),
    Case("airflow_dev", "read A's manifest", get(f"{ENV}/{A}/manifest.json"),
         "s3:GetObject", f"{ENV}/{A}/manifest.json", True),
    Case("airflow_dev", "read B's DAG file", get(f"{ENV}/{B}/dags/b.py"), "s3:GetObject", f"{ENV}/{B}/dags/b.py", True),
    Case("airflow_dev", "read a pinned version", get(f"{ENV}/{B}/dags/b.py", pinned=True),
         "s3:GetObjectVersion", f"{ENV}/{B}/dags/b.py", True),
    Case("airflow_dev", "read a pinned release archive", get(f"{ENV}/{B}/dags.tar.gz", pinned=True),
         "s3:GetObjectVersion", f"{ENV}/{B}/dags.tar.gz", True),
    Case("airflow_dev", "read a journal entry", get(JOURNAL_B), "s3:GetObject", JOURNAL_B, True),
    Case("airflow_dev", "read a release by its id (a task's bundle)", get(RELEASE_B), "s3:GetObject", RELEASE_B,
         True),
    Case("airflow_dev", "read a release of another env by its id", get(RELEASE_PROD_A), "s3:GetObject",
         RELEASE_PROD_A, False),
    Case("airflow_dev", "write a release copy", put(RELEASE_A), "s3:PutObject", RELEASE_A, False),
    Case("airflow_dev", "write a DAG file", put(f"{ENV}/{A}/dags/x.py"), "s3:PutObject", f"{ENV}/{A}/dags/x.py", False),
    Case("airflow_dev", "write a manifest", put(f"{ENV}/{B}/manifest.json"),
         "s3:PutObject", f"{ENV}/{B}/manifest.json", False),
    Case("airflow_dev", "write a journal entry", put(JOURNAL_A), "s3:PutObject", JOURNAL_A, False),
    Case("airflow_dev", "delete a DAG file", delete(f"{ENV}/{B}/dags/b.py"),
         "s3:DeleteObject", f"{ENV}/{B}/dags/b.py", False),
    Case("airflow_dev", "delete a version", delete(f"{ENV}/{B}/dags/b.py", version=True),
         "s3:DeleteObjectVersion", f"{ENV}/{B}/dags/b.py", False),
    Case("airflow_dev", "read another env's manifest", get(f"{OTHER_ENV}/{A}/manifest.json"),
         "s3:GetObject", f"{OTHER_ENV}/{A}/manifest.json", False),
    Case("airflow_dev", "read another env's pinned file", get(f"{OTHER_ENV}/{A}/dags/a.py", pinned=True),
         "s3:GetObjectVersion", f"{OTHER_ENV}/{A}/dags/a.py", False),
    # the enforcement itself is on: an identity without policies gets nothing
    Case("nobody", "list", list_v2(f"{ENV}/"), "s3:ListBucket", "", False, prefix=f"{ENV}/"),
    Case("nobody", "read", get(f"{ENV}/{A}/manifest.json"), "s3:GetObject", f"{ENV}/{A}/manifest.json", False),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.who}:{c.what}" for c in CASES])
def test_iam_matrix_on_moto(world: World, case: Case) -> None:
    context = {"s3:prefix": case.prefix} if case.prefix is not None else {}
    evaluated = iam_allows(identities()[case.who], case.action, _key_arn(case.resource), context)
    assert evaluated == case.allowed, f"evaluator disagrees for {case.who}: {case.what}"
    try:
        case.call(world.s3(case.who), world)
    except botocore.exceptions.ClientError as exc:
        if case.allowed or not _denied(exc):
            raise
        return
    assert case.allowed, f"{case.who} was allowed to {case.what}"


def test_package_a_full_publish_sequence(world: World) -> None:
    """The publisher's real request sequence, as A's CI identity, including the conditional
    manifest writes, a server-side copy of its own version (rollback) and HEAD of a version."""
    s3 = world.s3("ci_a")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{ENV}/", Delimiter=LISTING_DELIMITER)
    assert {o["Key"] for o in listing.get("Contents", [])} >= {f"{ENV}/{B}/manifest.json"}
    s3.get_object(Bucket=BUCKET, Key=f"{ENV}/{B}/manifest.json")["Body"].read()
    first = s3.put_object(Bucket=BUCKET, Key=f"{ENV}/{A}/dags/flow.py", Body=b"v1")
    key = f"{ENV}/{A}/manifest.json"  # the commit: conditional on the ETag read
    created = s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}", IfMatch=s3.head_object(Bucket=BUCKET, Key=key)["ETag"])
    s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"n": 2}', IfMatch=created["ETag"])
    s3.put_object(Bucket=BUCKET, Key=f"_releases/{ENV}/{A}/20260101T000000Z-000000000flo.json", Body=b"{}",
                  IfNoneMatch="*")
    s3.put_object(Bucket=BUCKET, Key=f"_journal/{ENV}/{1760000000001:016d}-{A}", Body=b"")
    s3.put_object(Bucket=BUCKET, Key=f"{ENV}/{A}/dags/flow.py", Body=b"v2")
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]
    assert len(versions) >= 3
    s3.copy_object(Bucket=BUCKET, Key=f"{ENV}/{A}/dags/flow.py",
                   CopySource={"Bucket": BUCKET, "Key": f"{ENV}/{A}/dags/flow.py", "VersionId": first["VersionId"]})
    head = s3.head_object(Bucket=BUCKET, Key=f"{ENV}/{A}/dags/flow.py", VersionId=first["VersionId"])
    assert head["ContentLength"] == 2
    assert s3.get_object(Bucket=BUCKET, Key=f"{ENV}/{A}/dags/flow.py")["Body"].read() == b"v1"
    s3.delete_object(Bucket=BUCKET, Key=f"{ENV}/{A}/dags/flow.py")


# Listing scope is decided by the s3:prefix condition, which moto does not evaluate.
PREFIX_CASES = [
    ("airflow_dev", "s3:ListBucket", f"{ENV}/", True),
    ("airflow_dev", "s3:ListBucket", f"{ENV}/{A}/dags/", True),
    ("airflow_dev", "s3:ListBucket", f"_journal/{ENV}/", True),
    ("airflow_dev", "s3:ListBucket", f"{OTHER_ENV}/", False),
    ("airflow_dev", "s3:ListBucket", f"_journal/{OTHER_ENV}/", False),
    ("airflow_dev", "s3:ListBucket", f"{ENV}x/", False),
    ("airflow_dev", "s3:ListBucket", "", False),
    ("airflow_dev", "s3:ListBucketVersions", f"{ENV}/", False),
    ("ci_a", "s3:ListBucket", f"{ENV}/", True),
    ("ci_a", "s3:ListBucket", f"{ENV}/{A}/dags/", True),
    ("ci_a", "s3:ListBucket", f"_journal/{ENV}/", True),
    ("ci_a", "s3:ListBucket", f"{ENV}/{B}/dags/", False),
    ("ci_a", "s3:ListBucket", f"{OTHER_ENV}/", False),
    ("ci_a", "s3:ListBucket", "", False),
    ("ci_a", "s3:ListBucketVersions", f"{ENV}/{A}/manifest.json", True),
    ("ci_a", "s3:ListBucketVersions", f"{ENV}/{B}/manifest.json", False),
    ("ci_a", "s3:ListBucketVersions", f"{ENV}/", False),
    ("ci_a", "s3:ListBucketVersions", "", False),
]


@pytest.mark.parametrize(("who", "action", "prefix", "allowed"), PREFIX_CASES,
                         ids=[f"{w}:{a}:{p or '<none>'}" for w, a, p, _ in PREFIX_CASES])
def test_listing_prefix_conditions(who: str, action: str, prefix: str, allowed: bool) -> None:
    context = {"s3:prefix": prefix} if prefix else {}
    assert iam_allows(identities()[who], action, bucket_arn(BUCKET), context) is allowed


def test_iam_star_spanning_slashes_reaches_no_file_of_another_package() -> None:
    """Issue 26, attack 9: `<env>/*/manifest.json` (the other packages' manifests, for dag_id ownership) also
    matched any key ending in /manifest.json, such as another package's DAG file of that name; a Deny on
    `<env>/*/*/manifest.json` (two folders or more) takes those back, and the top-level manifests stay."""
    ci_a = identities()["ci_a"]
    for key in (f"{ENV}/{B}/dags/manifest.json", f"{ENV}/{B}/dags/a/b/manifest.json", f"{ENV}/{B}/x/manifest.json"):
        assert not iam_allows(ci_a, "s3:GetObject", f"{bucket_arn(BUCKET)}/{key}"), key
    assert iam_allows(ci_a, "s3:GetObject", f"{bucket_arn(BUCKET)}/{ENV}/{B}/manifest.json")
    assert iam_allows(ci_a, "s3:GetObject", f"{bucket_arn(BUCKET)}/{ENV}/{A}/manifest.json")
    assert not iam_allows(ci_a, "s3:PutObject", f"{bucket_arn(BUCKET)}/{ENV}/{B}/dags/manifest.json")


def _listed_cases() -> list[Case]:
    cases = []
    for own in LISTED:
        who = f"ci_listed_{own}"
        journal = f"_journal/{ENV}/{1760000000002:016d}-{own}"
        cases += [
            Case(who, f"{own} publishes a DAG file of its own", put(f"{ENV}/{own}/dags/listed.py"),
                 "s3:PutObject", f"{ENV}/{own}/dags/listed.py", True),
            Case(who, f"{own} commits its own manifest", put(f"{ENV}/{own}/manifest.json"),
                 "s3:PutObject", f"{ENV}/{own}/manifest.json", True),
            Case(who, f"{own} writes its own journal entry", put(journal), "s3:PutObject", journal, True),
            Case(who, f"{own} keeps its own release under its id", put(f"_releases/{ENV}/{own}/r.json"),
                 "s3:PutObject", f"_releases/{ENV}/{own}/r.json", True),
        ]
        for other in (p for p in LISTED if p != own):
            cases += [
                Case(who, f"{own} writes a DAG file of {other}", put(f"{ENV}/{other}/dags/evil.py"),
                     "s3:PutObject", f"{ENV}/{other}/dags/evil.py", False),
                Case(who, f"{own} overwrites the manifest of {other}", put(f"{ENV}/{other}/manifest.json"),
                     "s3:PutObject", f"{ENV}/{other}/manifest.json", False),
                Case(who, f"{own} writes a release of {other} under its id", put(f"_releases/{ENV}/{other}/r.json"),
                     "s3:PutObject", f"_releases/{ENV}/{other}/r.json", False),
                Case(who, f"{own} writes a journal entry of {other}",
                     put(f"_journal/{ENV}/{1760000000003:016d}-{other}"), "s3:PutObject",
                     f"_journal/{ENV}/{1760000000003:016d}-{other}", False),
            ]
    return cases


LISTED_CASES = _listed_cases()


def test_the_package_list_has_packages_to_check() -> None:
    assert len(LISTED) >= 2, "the matrix below needs at least two listed packages"


@pytest.mark.parametrize("case", LISTED_CASES, ids=[c.what for c in LISTED_CASES])
def test_every_listed_package_publishes_only_its_own_prefix(world: World, case: Case) -> None:
    """The packages of infra/airflow/packages.yaml, each as the CI identity holding the policy
    Terraform derives from the list, on moto with IAM enforced (and the evaluator agreeing)."""
    test_iam_matrix_on_moto(world, case)
