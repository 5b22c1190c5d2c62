"""`Storage.get` against a real S3 server (SeaweedFS): the direct path (a presigned URL through the
client's own HTTP session) answers exactly as botocore does, in one request; a refusal no retry can
change (403, a missing bucket) is our error at once; every other answer (a 5xx) goes to botocore,
whose retries and errors the caller gets. Without botocore's private HTTP session the direct path is
off, said once, and every GET goes through botocore."""

from __future__ import annotations

import http.server
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import ClassVar

import botocore.parsers
import pytest
from airflow_dag_publisher import storage as storage_module
from airflow_dag_publisher.errors import NotFoundError, StorageError
from airflow_dag_publisher.storage import Storage, make_client

from devstack.seaweedfs import SeaweedFS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared_bucket(seaweedfs: SeaweedFS) -> str:
    return seaweedfs.create_bucket(f"get-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def storage(shared_bucket: str, s3_env: dict[str, str]) -> Storage:
    return Storage(shared_bucket, make_client(attempts=1))


def counted(storage: Storage, call: object) -> tuple[object, int]:
    before = storage.requests
    result = call() if callable(call) else None
    return result, storage.requests - before


def test_each_answer_comes_in_one_request_as_botocore_gives_it(storage: Storage) -> None:
    key = f"k{uuid.uuid4().hex[:8]}/manifest.json"
    first = storage.put(key, b"first version")
    second = storage.put(key, b"second version, longer")
    read, n = counted(storage, lambda: storage.get(key))
    assert n == 1 and read.obj is not None  # type: ignore[attr-defined]
    assert (read.obj.body, read.obj.etag, read.obj.version_id) == (  # type: ignore[attr-defined]
        b"second version, longer", second.etag, second.version_id)
    again, n = counted(storage, lambda: storage.get(key, if_none_match=second.etag))
    assert n == 1 and again.unchanged  # type: ignore[attr-defined]
    assert first.version_id is not None
    pinned, n = counted(storage, lambda: storage.get(key, version_id=first.version_id, if_none_match=second.etag))
    assert n == 1 and pinned.obj.body == b"first version"  # type: ignore[attr-defined]
    missing, n = counted(storage, lambda: storage.get(f"{key}.absent"))
    assert n == 1 and missing.missing  # type: ignore[attr-defined]
    before = storage.requests
    with pytest.raises(NotFoundError, match=r"versionId=3\.0000000000000000 not found"):
        storage.get(key, version_id="3.0000000000000000")  # a pin is a promise: its absence is an error
    assert storage.requests - before == 1


def test_a_capped_read_returns_one_byte_more_and_the_next_read_is_whole(storage: Storage) -> None:
    key = f"k{uuid.uuid4().hex[:8]}/big"
    storage.put(key, b"x" * 100_000)
    storage.put(f"{key}.small", b"small")
    for _ in range(3):  # the cut connection is not handed to the next request
        assert storage.get(key, max_bytes=10).obj.body == b"x" * 11  # type: ignore[union-attr]
        assert storage.get(f"{key}.small").obj.body == b"small"  # type: ignore[union-attr]


class Answering(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint that answers every request with one error (`status`, `code`) and counts them."""

    status: ClassVar[int] = 403
    code: ClassVar[str] = "AccessDenied"
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = f"<?xml version='1.0'?><Error><Code>{self.code}</Code><Message>no</Message></Error>".encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answering(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Answering]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answering)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    Answering.seen = []
    try:
        yield Answering
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_missing_bucket_is_our_error_in_one_request(s3_env: dict[str, str]) -> None:
    absent = Storage(f"absent-{uuid.uuid4().hex[:8]}", make_client(attempts=3))
    with pytest.raises(StorageError) as caught:
        absent.get("k/manifest.json")
    assert caught.value.kind == "no_bucket" and absent.requests == 1


@pytest.mark.parametrize(("code", "kind"), [("AccessDenied", "access_denied"),
                                            ("SignatureDoesNotMatch", "credentials"),
                                            ("InvalidAccessKeyId", "credentials")])
def test_a_refusal_is_our_error_in_one_request(answering: type[Answering], monkeypatch: pytest.MonkeyPatch,
                                               code: str, kind: str) -> None:
    monkeypatch.setattr(answering, "code", code)
    refused = Storage("b", make_client(attempts=3))
    with pytest.raises(StorageError) as caught:
        refused.get("k/manifest.json", if_none_match='"e"')
    assert caught.value.kind == kind and "s3://b/k/manifest.json" in str(caught.value)
    assert refused.requests == 1 and len(answering.seen) == 1 and "X-Amz-Signature=" in answering.seen[0]


def test_any_other_answer_is_asked_again_through_botocore_and_is_its_error(
        answering: type[Answering], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answering, "status", 500)
    monkeypatch.setattr(answering, "code", "InternalError")
    failing = Storage("b", make_client(attempts=1))
    with pytest.raises(StorageError) as caught:
        failing.get("k/manifest.json")
    assert caught.value.kind == "storage" and "InternalError" in str(caught.value)
    assert failing.requests == len(answering.seen) >= 2  # the direct GET, then botocore's own (and its retries)
    assert "X-Amz-Signature=" in answering.seen[0]
    assert not any("X-Amz-Signature=" in path for path in answering.seen[1:])


class WithoutEndpoint:
    """A client as a botocore without the private `_endpoint` would make it: everything else is the real one's."""

    def __init__(self, client: object) -> None:
        self._client = client

    def __getattr__(self, name: str) -> object:
        if name == "_endpoint":
            raise AttributeError(name)
        return getattr(self._client, name)


def test_without_the_private_http_session_every_get_goes_through_botocore(
        storage: Storage, shared_bucket: str, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_module, "_LOGGED", set())
    key = f"k{uuid.uuid4().hex[:8]}/manifest.json"
    stored = storage.put(key, b"body")
    with caplog.at_level(logging.INFO, logger="airflow_dag_publisher.storage"):
        plain = Storage(shared_bucket, WithoutEndpoint(make_client(attempts=1)))  # type: ignore[arg-type]
        again = Storage(shared_bucket, WithoutEndpoint(make_client(attempts=1)))  # type: ignore[arg-type]
    assert not plain.direct and not again.direct and storage.direct
    said = [r.getMessage() for r in caplog.records if "direct GET path is off" in r.getMessage()]
    assert len(said) == 1  # decided when each client is built, said once
    read, n = counted(plain, lambda: plain.get(key))
    assert n == 1 and read.obj.body == b"body" and read.obj.etag == stored.etag  # type: ignore[attr-defined]
    unchanged, n = counted(plain, lambda: plain.get(key, if_none_match=stored.etag))
    assert n == 1 and unchanged.unchanged  # type: ignore[attr-defined]
    missing, n = counted(plain, lambda: plain.get(f"{key}.absent"))
    assert n == 1 and missing.missing  # type: ignore[attr-defined]


def test_a_client_is_made_when_the_fast_timestamp_parser_cannot_be_installed(
        s3_env: dict[str, str], shared_bucket: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(storage_module, "_LOGGED", set())
    # as a botocore release that no longer has the private method
    monkeypatch.delattr(botocore.parsers.ResponseParserFactory, "set_parser_defaults")
    with caplog.at_level(logging.INFO, logger="airflow_dag_publisher.storage"):
        storage = Storage(shared_bucket, make_client(attempts=1))
    assert any("response_parser_factory" in r.getMessage() for r in caplog.records)
    assert list(storage.list_versions("absent/key")) == []
