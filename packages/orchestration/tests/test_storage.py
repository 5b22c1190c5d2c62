"""botocore errors never reach the user raw: each maps to our error, naming what was touched; every
key is built and parsed back by storage.py."""

from __future__ import annotations

import botocore.exceptions
import pytest
from airflow_dag_publisher.errors import ConflictError, NotFoundError, StorageError
from airflow_dag_publisher.storage import (
    journal_key,
    journal_start_key,
    make_client,
    manifest_key,
    parse_journal_key,
    parse_manifest_key,
    translate,
)


def client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


@pytest.mark.parametrize(
    ("exc", "cls", "kind", "text"),
    [
        (botocore.exceptions.NoCredentialsError(), StorageError, "credentials", "no AWS credentials found"),
        (client_error("AccessDenied", 403), StorageError, "access_denied",
         "access denied: cannot write s3://b/dev/p/manifest.json"),
        (client_error("NoSuchBucket", 404), StorageError, "no_bucket", "bucket s3://b does not exist"),
        (client_error("PreconditionFailed", 412), ConflictError, "conflict", "changed while we were writing it"),
        (client_error("NoSuchKey", 404), NotFoundError, "not_found", "s3://b/dev/p/manifest.json not found"),
        (client_error("InvalidAccessKeyId", 403), StorageError, "credentials",
         "AWS credentials rejected (InvalidAccessKeyId)"),
        (client_error("SignatureDoesNotMatch", 403), StorageError, "credentials",
         "AWS credentials rejected (SignatureDoesNotMatch)"),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), StorageError, "network", "cannot reach"),
        (client_error("InvalidRequest", 400), StorageError, "bad_request", "S3 refused (InvalidRequest) to write"),
        (client_error("InternalError", 500), StorageError, "storage", "S3 error InternalError"),
    ],
)
def test_botocore_errors_map_to_our_errors_with_their_kind(exc: Exception, cls: type, kind: str, text: str) -> None:
    err = translate(exc, "b", "dev/p/manifest.json", "write")
    assert type(err) is cls and err.kind == kind
    assert text in str(err)
    assert kind != "credentials" or "access denied" not in str(err)


def test_journal_keys_sort_by_time_and_name_one_package() -> None:
    assert journal_key("dev", "alpha", 1_764_000_000_000) == "_journal/dev/0001764000000000-alpha"
    assert journal_key("dev", "a", 9) < journal_key("dev", "a", 10)


@pytest.mark.parametrize(("environ", "style"), [
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:8333"}, "path"),
    ({"AWS_ENDPOINT_URL_S3": "http://minio.internal:9000"}, "path"),
    ({}, "auto"),  # AWS itself: virtual-hosted style, as AWS recommends
])
def test_path_style_addressing_only_for_an_endpoint_that_needs_it(environ: dict[str, str], style: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert make_client().meta.config.s3["addressing_style"] == style


@pytest.mark.parametrize(("key", "parsed"), [
    ("dev/alpha/manifest.json", "alpha"),
    ("dev/alpha_ext/manifest.json", "alpha_ext"),
    ("dev/alpha/dags/manifest.json", None),
    ("dev/Alpha/manifest.json", None),
    ("prod/alpha/manifest.json", None),
    ("dev/manifest.json", None),
    ("dev/alpha/manifest.json.tmp", None),
])
def test_manifest_keys_parse_back_to_their_package(key: str, parsed: str | None) -> None:
    assert parse_manifest_key("dev", key) == parsed
    if parsed:
        assert manifest_key("dev", parsed) == key


@pytest.mark.parametrize(("key", "parsed"), [
    ("_journal/dev/0001700000000000-alpha", (1_700_000_000_000, "alpha")),
    ("_journal/dev/0001700000000000-a_b", (1_700_000_000_000, "a_b")),
    ("_journal/dev/1700000000000-alpha", None),        # not 16 digits
    ("_journal/dev/0001700000000000-Bad-Name", None),
    ("_journal/prod/0001700000000000-alpha", None),
    ("dev/alpha/manifest.json", None),
])
def test_journal_keys_parse_back_to_their_time_and_package(key: str, parsed: tuple[int, str] | None) -> None:
    assert parse_journal_key("dev", key) == parsed
    if parsed:
        assert journal_key("dev", parsed[1], parsed[0]) == key
        assert journal_start_key("dev", parsed[0]) < key  # a listing from that time includes it
