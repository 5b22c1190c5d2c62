"""The release manifest: model, JSON (de)serialisation, content digest and schema checks.

A manifest is the unit of truth: it pins every file of a release by path, sha256, size and the
S3 VersionId of the bytes uploaded. See docs/airflow/README.md, "The release manifest and its archive".

Schema compatibility: this tool writes schema_version N (SCHEMA_VERSION) and reads N and N+1, so
publishers may be upgraded before the agents, by one version. Version N+1 may only add top-level keys
that a reader of N can ignore without applying anything differently; a reader keeps such keys as they
are (`extra`), so the canonical manifest a signature covers is the same for every reader. A change an
older reader must not ignore takes version N+2, which readers of N refuse (kind `schema`): every agent
is upgraded to read it before any publisher writes it.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from airflow_dag_publisher.errors import ErrorKind, ManifestError
from airflow_dag_publisher.names import ENV_RE, PACKAGE_RE, path_conflicts, path_problem

SCHEMA_VERSION = 1  # what this tool writes
READABLE_SCHEMA_VERSIONS = (SCHEMA_VERSION, SCHEMA_VERSION + 1)  # what it reads: N and N+1
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_FILES = 10_000
MAX_FILE_SIZE = 64 * 1024 * 1024
MAX_ARCHIVE_SIZE = 1024 * 1024 * 1024
_HEX64 = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int
    version_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "version_id": self.version_id}


@dataclass(frozen=True)
class Signature:
    """A signature over the release's canonical statement (signing.py): who signed, how, and the
    signature bytes (base64)."""

    key_id: str
    algorithm: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "algorithm": self.algorithm, "value": self.value}


@dataclass(frozen=True)
class ArchiveRef:
    """One archive of all the release's files (`<env>/<package>/dags.tar.gz`), pinned like a file."""

    version_id: str
    sha256: str
    size: int
    format: str = "tar.gz"

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "sha256": self.sha256, "size": self.size, "version_id": self.version_id}


@dataclass(frozen=True)
class PromotedFrom:
    """The release of another environment whose exact bytes this release is (`promote`)."""

    env: str
    release_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "release_id": self.release_id}


@dataclass(frozen=True)
class ReleaseManifest:
    env: str
    package: str
    release_id: str
    created_at: str
    files: tuple[FileEntry, ...] = ()
    dag_ids: tuple[str, ...] = ()
    published_by: str = ""
    git_sha: str | None = None
    image: str | None = None
    tool_version: str = ""
    previous_release_id: str | None = None
    retired: bool = False
    sequence: int | None = None  # 1 for a package's first release, the release it follows + 1 (signed: no replay)
    content_digest: str = field(default="")
    schema_version: int = SCHEMA_VERSION
    archive: ArchiveRef | None = None
    promoted_from: PromotedFrom | None = None
    signature: Signature | None = None
    # Top-level keys of a newer schema (N+1) this tool does not know, kept as read (see the module's doc).
    extra: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not self.content_digest:
            object.__setattr__(self, "content_digest", content_digest(self.files))

    def file_map(self) -> dict[str, FileEntry]:
        return {f.path: f for f in self.files}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "env": self.env,
            "package": self.package,
            "release_id": self.release_id,
            "content_digest": self.content_digest,
            "created_at": self.created_at,
            "published_by": self.published_by,
            "git_sha": self.git_sha,
            "image": self.image,
            "tool_version": self.tool_version,
            "previous_release_id": self.previous_release_id,
            "retired": self.retired,
            "dag_ids": list(self.dag_ids),
            "files": [f.to_dict() for f in self.files],
            # Optional parts appear only when present, so a manifest without them keeps its bytes.
            **({"sequence": self.sequence} if self.sequence is not None else {}),
            **({"archive": self.archive.to_dict()} if self.archive else {}),
            **({"promoted_from": self.promoted_from.to_dict()} if self.promoted_from else {}),
            **({"signature": self.signature.to_dict()} if self.signature else {}),
            **self.extra,
        }

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n").encode("utf-8")

    def with_changes(self, **changes: Any) -> ReleaseManifest:
        return replace(self, **changes)


# Every top-level key this version of the schema defines (ReleaseManifest.to_dict's).
KNOWN_KEYS = frozenset({"schema_version", "env", "package", "release_id", "content_digest", "created_at",
                        "published_by", "git_sha", "image", "tool_version", "previous_release_id", "retired",
                        "dag_ids", "files", "archive", "promoted_from", "signature"})


def content_digest(files: tuple[FileEntry, ...] | list[FileEntry]) -> str:
    """sha256 of the text `<sha256>  <path>\\n` per file, sorted by path (sha256sum's format)."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        h.update(f"{f.sha256}  {f.path}\n".encode())
    return "sha256:" + h.hexdigest()


def next_sequence(current: ReleaseManifest | None, now: datetime | None = None) -> int:
    """The `sequence` of the release that follows `current`: larger than every release before it. The
    publisher's clock in epoch milliseconds, or `current`'s + 1 when that is larger: so a release
    published after an older one was put back (a replay of `current`) is still newer than every release
    an agent applied, without reading the package's history."""
    now_ms = int((now or datetime.now(timezone.utc)).timestamp() * 1000)
    return min(max(((current.sequence or 0) if current else 0) + 1, now_ms), MAX_SEQUENCE - 1)


def new_release_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(6)


def utc_now_iso(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


MAX_VERSION_ID = 1024  # S3's own limit
_VERSION_ID = re.compile(rf"^[\x21-\x7e]{{1,{MAX_VERSION_ID}}}$")


def is_version_id(value: str) -> bool:
    """What an S3 VersionId can be (opaque, URL-ready, at most 1,024 bytes; "null" for a version made before
    versioning): a pin outside this is refused when the manifest is read. One S3 still will not serve (it
    answers 400) refuses its release when it is fetched."""
    return bool(_VERSION_ID.match(value))


def is_sha256_hex(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX64


def parse_manifest(data: bytes, *, source: str, env: str | None = None, package: str | None = None) -> ReleaseManifest:
    """Parse and check a manifest. Raises ManifestError naming `source` and the field at fault."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{source}: manifest is {len(data)} bytes, over the {MAX_MANIFEST_BYTES} byte limit",
                            kind=ErrorKind.TOO_LARGE)
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{source}: not valid UTF-8 JSON ({exc})", kind=ErrorKind.INVALID_JSON) from None
    except RecursionError:
        raise ManifestError(f"{source}: not valid UTF-8 JSON (nested too deeply)",
                            kind=ErrorKind.INVALID_JSON) from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{source}: top level is not a JSON object", kind=ErrorKind.INVALID_JSON)
    problems: list[str] = []
    unsafe: list[str] = []  # path problems: the release could write outside its folder

    def need(key: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
        if key not in raw:
            if not optional:
                problems.append(f"missing key {key!r}")
            return None
        value = raw[key]
        if value is None and optional:
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append(f"key {key!r} has the wrong type")
            return None
        return value

    schema = need("schema_version", int)
    if schema is not None and schema not in READABLE_SCHEMA_VERSIONS:
        raise ManifestError(f"{source}: unknown schema_version {schema!r} (this tool reads "
                            f"{' and '.join(map(str, READABLE_SCHEMA_VERSIONS))}; upgrade it to read newer "
                            "releases)", kind=ErrorKind.SCHEMA)
    m_env = need("env", str)
    m_pkg = need("package", str)
    release_id = need("release_id", str)
    created_at = need("created_at", str)
    retired = need("retired", bool)
    dag_ids = need("dag_ids", list)
    files_raw = need("files", list)
    digest = need("content_digest", str)
    if m_env is not None and not ENV_RE.match(m_env):
        problems.append(f"env {m_env!r} is not a valid environment name")
    if m_pkg is not None and not PACKAGE_RE.match(m_pkg):
        problems.append(f"package {m_pkg!r} is not a valid package name")
    if env is not None and m_env is not None and m_env != env:
        problems.append(f"env {m_env!r} does not match the prefix's environment {env!r}")
    if package is not None and m_pkg is not None and m_pkg != package:
        problems.append(f"package {m_pkg!r} does not match the prefix's package {package!r}")
    if release_id is not None and not (
        0 < len(release_id) <= 128 and release_id.isprintable() and "/" not in release_id
    ):
        problems.append("release_id is empty, too long or has unprintable characters")
    if dag_ids is not None and not all(isinstance(d, str) and 0 < len(d) <= 250 for d in dag_ids):
        problems.append("dag_ids must be a list of non-empty strings")
    files: list[FileEntry] = []
    if files_raw is not None:
        if len(files_raw) > MAX_FILES:
            raise ManifestError(f"{source}: {len(files_raw)} files, over the limit of {MAX_FILES}",
                                kind=ErrorKind.TOO_LARGE)
        seen: set[str] = set()
        for i, item in enumerate(files_raw):
            entry = _parse_file_entry(item, i, problems, unsafe)
            if entry is None:
                continue
            if entry.path in seen:
                unsafe.append(f"files[{i}]: duplicate path {entry.path!r}")
            seen.add(entry.path)
            files.append(entry)
    unsafe.extend(path_conflicts([f.path for f in files]))
    sequence = _sequence(raw, problems)
    if problems or unsafe:
        raise ManifestError(f"{source}: " + "; ".join((unsafe + problems)[:10]),
                            kind=ErrorKind.UNSAFE_PATH if unsafe else ErrorKind.INVALID)
    assert m_env is not None and m_pkg is not None and release_id is not None and created_at is not None
    manifest = ReleaseManifest(
        env=m_env,
        package=m_pkg,
        release_id=release_id,
        created_at=created_at,
        files=tuple(files),
        dag_ids=tuple(dag_ids or ()),
        published_by=str(raw.get("published_by") or ""),
        git_sha=_opt_str(raw.get("git_sha")),
        image=_opt_str(raw.get("image")),
        tool_version=str(raw.get("tool_version") or ""),
        previous_release_id=_opt_str(raw.get("previous_release_id")),
        sequence=sequence,
        retired=bool(retired),
        content_digest=digest or "",
        archive=_optional(raw, "archive", source, _parse_archive),
        promoted_from=_optional(raw, "promoted_from", source, _parse_promoted_from),
        signature=_optional(raw, "signature", source, _parse_signature),
        schema_version=schema if schema is not None else SCHEMA_VERSION,
        extra={k: v for k, v in raw.items() if k not in KNOWN_KEYS} if schema != SCHEMA_VERSION else {},
    )
    expected = content_digest(manifest.files)
    if manifest.content_digest != expected:
        raise ManifestError(f"{source}: content_digest does not match the files listed", kind=ErrorKind.CHECKSUM)
    if manifest.retired and manifest.files:
        raise ManifestError(f"{source}: a retired release lists files")
    return manifest


MAX_SEQUENCE = 2**53  # JSON numbers stay exact below this


def _sequence(raw: dict[str, Any], problems: list[str]) -> int | None:
    value = raw.get("sequence")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < MAX_SEQUENCE:
        problems.append(f"sequence must be a whole number from 1 to {MAX_SEQUENCE - 1}")
        return None
    return value


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


_T = TypeVar("_T")


def _optional(raw: dict[str, Any], key: str, source: str, parse: Callable[[dict[str, Any]], _T | None]) -> _T | None:
    """An optional object of the manifest: absent or null is None; present, it must be well formed."""
    value = raw.get(key)
    if value is None:
        return None
    parsed = parse(value) if isinstance(value, dict) else None
    if parsed is None:
        raise ManifestError(f"{source}: {key} is malformed",
                            kind=ErrorKind.SIGNATURE if key == "signature" else ErrorKind.INVALID)
    return parsed


def _strings(value: dict[str, Any], *keys: str) -> list[str] | None:
    found = [value.get(k) for k in keys]
    return [v for v in found if isinstance(v, str) and v] if all(isinstance(v, str) and v for v in found) else None


def _parse_signature(value: dict[str, Any]) -> Signature | None:
    fields = _strings(value, "key_id", "algorithm", "value")
    return Signature(*fields) if fields and all(len(f) <= 8192 for f in fields) else None


def _parse_promoted_from(value: dict[str, Any]) -> PromotedFrom | None:
    fields = _strings(value, "env", "release_id")
    return PromotedFrom(*fields) if fields and ENV_RE.match(fields[0]) and len(fields[1]) <= 128 else None


def _parse_archive(value: dict[str, Any]) -> ArchiveRef | None:
    fields = _strings(value, "version_id", "sha256", "format")
    size = value.get("size")
    if not fields or not is_version_id(fields[0]) or not is_sha256_hex(fields[1]) or fields[2] != "tar.gz":
        return None
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_ARCHIVE_SIZE:
        return None
    return ArchiveRef(version_id=fields[0], sha256=fields[1], size=size, format=fields[2])


def _parse_file_entry(item: object, i: int, problems: list[str], unsafe: list[str]) -> FileEntry | None:
    if not isinstance(item, dict):
        problems.append(f"files[{i}] is not an object")
        return None
    path, sha, size, version = item.get("path"), item.get("sha256"), item.get("size"), item.get("version_id")
    if not isinstance(path, str):
        problems.append(f"files[{i}].path is missing or not a string")
        return None
    why = path_problem(path)
    if why:
        unsafe.append(f"files[{i}].path {path!r}: {why}")
        return None
    if not is_sha256_hex(sha):
        problems.append(f"files[{i}] ({path}): sha256 is not 64 lowercase hex digits")
        return None
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FILE_SIZE:
        problems.append(f"files[{i}] ({path}): size must be an integer from 0 to {MAX_FILE_SIZE}")
        return None
    if not isinstance(version, str) or not version:
        problems.append(f"files[{i}] ({path}): version_id is missing")
        return None
    if not is_version_id(version):
        problems.append(f"files[{i}] ({path}): version_id is not an S3 version id (1 to {MAX_VERSION_ID} printable "
                        "ASCII characters, no space)")
        return None
    assert isinstance(sha, str)
    return FileEntry(path=path, sha256=sha, size=size, version_id=version)
