"""The release archive: every file of a release in one deterministic `tar.gz`, so that a consumer
holding few of a release's files fetches it in one request (`<env>/<package>/dags.tar.gz`,
pinned in the manifest by VersionId, sha256 and size).

Deterministic: entries sorted by path, regular files only, mode 0644, uid/gid 0, no user or group
names, mtime 0, gzip header mtime 0 and no file name. The same files give the same bytes (with the
same zlib), so a republish or a rollback of the same content pins an identical archive.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Iterable

from airflow_dag_publisher.manifest import ArchiveRef

FORMAT = "tar.gz"
COMPRESS_LEVEL = 6
CONTENT_TYPE = "application/gzip"


def build_archive(files: Iterable[tuple[str, bytes]]) -> bytes:
    """The archive of `files` ((path, bytes) pairs; paths are the manifest's, already checked)."""
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=COMPRESS_LEVEL, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path, data in sorted(files, key=lambda item: item[0]):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def archive_ref(version_id: str, data: bytes) -> ArchiveRef:
    return ArchiveRef(version_id=version_id, sha256=hashlib.sha256(data).hexdigest(), size=len(data), format=FORMAT)
