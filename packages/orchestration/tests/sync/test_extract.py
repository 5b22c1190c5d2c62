"""The release archive: deterministic bytes from the publisher, and an extraction that trusts
nothing in the archive but the bytes (only manifest paths, regular files, capped sizes, every file
verified), refusing a hostile archive with the kind the agent counts."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
from airflow_dag_publisher.archive import build_archive
from airflow_dag_publisher.errors import DagPublisherError, ManifestError, VerificationError
from airflow_dag_publisher.manifest import FileEntry
from airflow_dag_publisher.sync.extract import extract_archive

from packages.orchestration.tests.sync.hostile_archives import HOSTILE_ARCHIVES

FILES = {"acme_daily.py": b"VALUE = 2\n", "helper.py": b"HELPER = 2\n", "sql/q.sql": b"select 1\n" * 50}


def entries(files: dict[str, bytes]) -> dict[str, FileEntry]:
    return {p: FileEntry(p, hashlib.sha256(d).hexdigest(), len(d), "v1") for p, d in files.items()}


def extract(tmp_path: Path, archive: bytes, wanted: set[str] | None = None) -> dict[str, bytes]:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "release.tar.gz"
    path.write_bytes(archive)
    staging = tmp_path / "staging"
    staging.mkdir()
    extract_archive(path, staging, entries(FILES), set(FILES) if wanted is None else wanted, where="s3://b/k",
                    check=lambda: None)
    return {p.relative_to(staging).as_posix(): p.read_bytes() for p in staging.rglob("*") if p.is_file()}


def test_the_same_files_give_the_same_archive_bytes_whatever_their_order() -> None:
    forward = build_archive(FILES.items())
    backward = build_archive(reversed(list(FILES.items())))
    assert forward == backward
    with tarfile.open(fileobj=io.BytesIO(forward)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(FILES)
    assert {(m.type, m.mode, m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {
        (tarfile.REGTYPE, 0o644, 0, 0, 0, "", "")}
    assert forward[4:8] == b"\0\0\0\0"  # the gzip header's mtime


def test_an_archive_yields_exactly_the_wanted_files_byte_for_byte(tmp_path: Path) -> None:
    assert extract(tmp_path, build_archive(FILES.items())) == FILES
    only = extract(tmp_path / "some", build_archive(FILES.items()), {"helper.py"})
    assert only == {"helper.py": FILES["helper.py"]}


@pytest.mark.parametrize("name", sorted(HOSTILE_ARCHIVES))
def test_a_hostile_archive_is_refused_with_its_kind_and_writes_nothing_outside(name: str, tmp_path: Path) -> None:
    make, kind = HOSTILE_ARCHIVES[name]
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises((ManifestError, VerificationError)) as caught:
        extract(root, make(FILES))
    assert caught.value.kind == kind, str(caught.value)
    assert "s3://b/k" in str(caught.value)
    outside = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                     if not p.is_relative_to(root / "staging") and p != root / "release.tar.gz" and p != root
                     and p != root / "staging")
    assert outside == []
    assert not Path("/tmp/dagsync-archive-escape.py").exists()
    for path in (root / "staging").rglob("*"):
        assert not path.is_symlink() and (path.is_dir() or path.is_file())


def test_extraction_stops_when_the_cycle_is_abandoned(tmp_path: Path) -> None:
    class Stop(DagPublisherError):
        pass

    calls = []

    def check() -> None:
        calls.append(1)
        if len(calls) > 2:
            raise Stop("stopping")

    path = tmp_path / "a.tar.gz"
    path.write_bytes(build_archive(FILES.items()))
    (tmp_path / "s").mkdir()
    with pytest.raises(Stop):
        extract_archive(path, tmp_path / "s", entries(FILES), set(FILES), where="x", check=check)
    assert len(calls) == 3
    assert len(os.listdir(tmp_path / "s")) <= 2
