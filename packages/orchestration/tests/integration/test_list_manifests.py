"""`Storage.list_manifests`, the reconciliation listing, against SeaweedFS with small pages so that every
page boundary is met: it finds every package's manifest with its ETag, and keys a package's layout does
not define (issue 26, attack 6) cost at most one more page per package that holds them, whatever their
number and wherever they sort; a package whose manifest a skip passed over is listed with an empty ETag
(the agent then reads it), never left out (left out, the agent would count it as vanished)."""

from __future__ import annotations

import pytest
from airflow_dag_publisher.storage import Storage, archive_key, dag_key, manifest_key

pytestmark = pytest.mark.usefixtures("s3_env")
PACKAGES = [f"p{i:02d}" for i in range(30)]
JUNK = {  # package -> keys it should not have written
    "p03": [f"a-{i:03d}" for i in range(40)],                 # before its manifest
    "p07": [f"z-{i:03d}" for i in range(40)],                 # after it
    "p11": [f"x{i:03d}/dump" for i in range(40)],             # rolled into common prefixes of their own
    "p19": ["manifest.jsonx", "m", "e", "dags.tar.gzz"],       # around the layout's own names
}


def requests_of(storage: Storage, env: str, page_size: int) -> tuple[list[tuple[str, str]], int]:
    before = storage.requests
    listed = storage.list_manifests(env, page_size=page_size)
    return sorted((m.package, m.etag) for m in listed), storage.requests - before


@pytest.mark.parametrize("page_size", [3, 7, 1000])
def test_every_manifest_is_listed_and_junk_costs_at_most_a_page_per_package(bucket: str, page_size: int) -> None:
    storage = Storage(bucket)
    etags = {}
    for package in PACKAGES:
        storage.put(dag_key("clean", package, "a.py"), b"A = 1\n")
        storage.put(archive_key("clean", package), b"archive")
        etags[package] = storage.put(manifest_key("clean", package), b"{}").etag
        storage.put(dag_key("dirty", package, "a.py"), b"A = 1\n")
        storage.put(archive_key("dirty", package), b"archive")
        storage.put(manifest_key("dirty", package), b"{}")
    for package, names in JUNK.items():
        for name in names:
            storage.put(f"dirty/{package}/{name}", b"")
    for key in ("dirty/root-junk", "dirty/Not-A-Package/x", "dirty/Not-A-Package/manifest.json"):
        storage.put(key, b"")

    clean, clean_requests = requests_of(storage, "clean", page_size)
    assert clean == sorted(etags.items())
    dirty, dirty_requests = requests_of(storage, "dirty", page_size)
    assert [p for p, _ in dirty] == PACKAGES  # every package, none twice, no junk folder
    blank = {p for p, etag in dirty if etag == ""}
    assert blank <= set(JUNK), blank  # only a package holding junk may lose its ETag to a skip
    assert all(etag for p, etag in dirty if p not in JUNK)
    assert dirty_requests <= clean_requests + len(JUNK) + 1, (clean_requests, dirty_requests)
