"""`Storage.get` against a real S3 server (SeaweedFS): the direct path (a presigned URL through the
client's own HTTP session) answers exactly as botocore does, in one request, and hands every other
answer to botocore, whose errors the caller gets."""

from __future__ import annotations

import http.server
import threading
import uuid
from typing import ClassVar

import pytest
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


class Refusing(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint that refuses every request (403 AccessDenied) and counts them."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>no</Message></Error>"
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_any_other_answer_is_asked_again_through_botocore_and_is_its_error(
        s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    absent = Storage(f"absent-{uuid.uuid4().hex[:8]}", make_client(attempts=1))
    with pytest.raises(StorageError) as caught:
        absent.get("k/manifest.json")
    assert caught.value.kind == "no_bucket" and absent.requests == 2  # the direct GET, then botocore's
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
        refused = Storage("b", make_client(attempts=1))
        with pytest.raises(StorageError) as caught:
            refused.get("k/manifest.json", if_none_match='"e"')
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert caught.value.kind == "access_denied" and "s3://b/k/manifest.json" in str(caught.value)
    assert refused.requests == 2 and len(Refusing.seen) == 2
    assert "X-Amz-Signature=" in Refusing.seen[0] and "X-Amz-Signature=" not in Refusing.seen[1]
