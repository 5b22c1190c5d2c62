"""Pure decisions of the sync agent: no I/O, no boto3. Every function maps observations to a plan.

- `journal_start_after` / `read_journal`: where the next journal listing starts (60 s before the
  cursor, to absorb publishers' clock skew), which of its keys are new, which packages they name,
  where the cursor moves. The keys are built and parsed by storage.py, which owns the key layout.
- `manifests_to_fetch`: after a listing, which packages' manifests changed (by ETag).
- `vanished_from_listing` / `vanished_on_read`: the guards that keep a package whose manifest S3
  no longer shows (a listing without it, an empty listing, a GET that finds nothing): never removed,
  reported once each.
- `decide`: for one package, what to do with what S3 returned (apply, remove, keep, refuse), given
  the package's trusted signing keys (a release whose signature does not verify is refused, kind
  `signature`, before anything else is decided: a forged tombstone removes nothing either).
- `plan_files`: which files of a release are already held locally (by sha256), which to download,
  and whether to fetch them as the release's archive (one request) or one by one.
- `owner_candidates` / `owner_of`: which packages may own a dag_id (its `<package>_` prefixes), and
  which one does, from their manifests (`--once --dag-id`).
- `failure_kind` / `fate`: what a failure while applying one package's release means, from its
  kind alone: the release is refused (its ETag skipped until the next publish), the package is
  retried (this node's disk failed, not the release), or the whole cycle fails (storage, network,
  its deadline, a stop request). The one place the agent's refusal rules live.
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from airflow_dag_publisher.errors import ErrorKind, ManifestError, kind_of
from airflow_dag_publisher.manifest import FileEntry, ReleaseManifest, parse_manifest
from airflow_dag_publisher.names import PACKAGE_RE, RELEASE_ID_RE
from airflow_dag_publisher.signing import signature_problem
from airflow_dag_publisher.storage import journal_start_key, parse_journal_key
from airflow_dag_publisher.sync.trust import Trust

SKEW_MS = 60_000
COLD_START_LOOKBACK_MS = 5 * 60_000
NO_TRUST = Trust()  # no keys, nothing required: releases apply unchecked


# -- journal --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JournalState:
    """The journal cursor: the largest epoch-ms seen and the keys seen within the skew window."""

    cursor_ms: int = 0
    seen: frozenset[str] = frozenset()


@dataclass(frozen=True)
class JournalRead:
    packages: frozenset[str]
    state: JournalState
    ignored: tuple[str, ...] = ()
    committed_ms: Mapping[str, int] = field(default_factory=dict)  # package -> newest new entry's epoch ms


def journal_start_after(env: str, state: JournalState, now_ms: int) -> str:
    """The StartAfter key of the next journal listing: 60 s before the cursor (cold: 5 min before now)."""
    return journal_start_key(env, state.cursor_ms - SKEW_MS if state.cursor_ms else now_ms - COLD_START_LOOKBACK_MS)


def read_journal(env: str, keys: Iterable[str], state: JournalState) -> JournalRead:
    """Packages named by keys not seen before; the cursor advances to the newest key."""
    committed: dict[str, int] = {}
    ignored: list[str] = []
    cursor = state.cursor_ms
    seen = set(state.seen)
    for key in keys:
        parsed = parse_journal_key(env, key)
        if parsed is None:
            ignored.append(key)
            continue
        ms, package = parsed
        if key not in seen:
            committed[package] = max(ms, committed.get(package, 0))
            seen.add(key)
        cursor = max(cursor, ms)
    floor = cursor - SKEW_MS
    kept = frozenset(k for k in seen if (p := parse_journal_key(env, k)) is not None and p[0] >= floor)
    return JournalRead(packages=frozenset(committed), state=JournalState(cursor, kept), ignored=tuple(ignored),
                       committed_ms=committed)


# -- manifests ------------------------------------------------------------------------------------
def manifests_to_fetch(listed: Mapping[str, str], applied: Mapping[str, str],
                       refused: Mapping[str, str]) -> list[str]:
    """Packages whose listed manifest ETag differs from the one applied, and was not already refused."""
    return sorted(p for p, etag in listed.items() if applied.get(p) != etag and refused.get(p) != etag)


@dataclass(frozen=True)
class Vanished:
    """Packages held locally whose manifest S3 no longer shows. They are always kept (only a retired
    release removes a package); each is reported once, when it first goes missing."""

    known: frozenset[str]             # every package currently missing (to remember for the next cycle)
    newly: tuple[str, ...] = ()       # missing since this observation: count and log these
    empty_listing: int = 0            # the whole listing came back empty: this many packages kept


def vanished_from_listing(listed: Iterable[str], held: Iterable[str], known: frozenset[str]) -> Vanished:
    """After a reconciliation listing. An empty listing while packages are held is reported as such
    every time (a wiped or wrong bucket), not as each package vanishing."""
    listed_set = set(listed)
    gone = frozenset(set(held) - listed_set)
    if gone and not listed_set:
        return Vanished(gone, empty_listing=len(gone))
    return Vanished(gone, tuple(sorted(gone - known)))


def vanished_on_read(package: str, held: bool, known: frozenset[str]) -> Vanished:
    """A package's manifest GET found nothing (it was listed or journaled a moment ago)."""
    if not held or package in known:
        return Vanished(known)
    return Vanished(known | {package}, (package,))


class Action(enum.Enum):
    APPLY = "apply"      # build the release and swap the package's link to it
    REMOVE = "remove"    # a retired release: remove the package's link
    KEEP = "keep"        # nothing to do (same release, or nothing to remove)
    REFUSE = "refuse"    # the manifest is unusable: stay on the current release


@dataclass(frozen=True)
class Decision:
    package: str
    action: Action
    manifest: ReleaseManifest | None = None
    etag: str = ""
    reason: str = ""
    kind: ErrorKind | None = None  # REFUSE: the refusal's kind (a `reason` label of the refusal metric)


def decide(package: str, env: str, etag: str, body: bytes, current: ReleaseManifest | None, *,
           source: str, trust: Trust = NO_TRUST, newest: ReleaseManifest | None = None,
           written_at: float | None = None, commit_window: float = 0.0) -> Decision:
    """What to do with the manifest S3 returned for `package`, given the release applied locally, the
    keys trusted to sign the package's releases and the replay guard's observations: `newest`, the
    newest release this agent ever applied of the package (default `current`), `written_at`, when S3
    wrote the manifest, and `commit_window` (replay_problem)."""
    try:
        manifest = parse_manifest(body, source=source, env=env, package=package)
    except ManifestError as exc:
        return Decision(package, Action.REFUSE, etag=etag, reason=str(exc), kind=exc.kind)
    keys = trust.keys_for(package)
    problem = signature_problem(manifest, keys, require=trust.require)
    if problem:
        return Decision(package, Action.REFUSE, etag=etag, reason=f"{source}: {problem}", kind=ErrorKind.SIGNATURE)
    problem = replay_problem(manifest, newest or current, written_at=written_at,
                             commit_window=commit_window if keys else 0.0)
    if problem:
        return Decision(package, Action.REFUSE, etag=etag, reason=f"{source}: {problem}", kind=ErrorKind.REPLAY)
    if manifest.retired:
        if current is None or current.retired:
            return Decision(package, Action.KEEP, manifest, etag, "retired, nothing held")
        return Decision(package, Action.REMOVE, manifest, etag, "retired")
    if current is not None and not current.retired and current.content_digest == manifest.content_digest:
        return Decision(package, Action.KEEP, manifest, etag, "same content")
    return Decision(package, Action.APPLY, manifest, etag)


# -- replays ---------------------------------------------------------------------------------------
def _epoch(created_at: str) -> float | None:
    try:
        return datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def replay_problem(manifest: ReleaseManifest, newest: ReleaseManifest | None, *, written_at: float | None,
                   commit_window: float) -> str | None:
    """Why `manifest` may be an older release put back as the current one (a replay), or None.

    - Against the newest release this agent applied (`newest`): each release's `sequence` is its
      predecessor's + 1 and is signed, so a release at or below it is an older one; one just above it
      must name it as its `previous_release_id`. A release without a sequence (published before them)
      after one with a sequence is older; between two without, `created_at` decides unless the new
      one names the held one as its predecessor.
    - Against S3's own clock (`commit_window` seconds, 0: off; only for signed releases, since an
      unsigned one can be forged outright): a publisher writes its manifest right after signing it,
      so S3's `Last-Modified` follows the signed `created_at` within seconds. A copy of an old version
      made later does not: that is what a cold agent, which has applied nothing yet, can still check."""
    if newest is not None and manifest.release_id != newest.release_id:
        here, held = manifest.sequence, newest.sequence
        if held is not None:
            if here is None or here <= held:
                return (f"release {manifest.release_id} (sequence {here}) is not newer than release "
                        f"{newest.release_id} (sequence {held}), which this agent applied: an older release "
                        "put back (replayed)")
            if here == held + 1 and manifest.previous_release_id != newest.release_id:
                return (f"release {manifest.release_id} (sequence {here}) follows {manifest.previous_release_id}, "
                        f"not release {newest.release_id} (sequence {held}), which this agent applied")
        elif (here is None and manifest.previous_release_id != newest.release_id
              and manifest.created_at < newest.created_at):
            return (f"release {manifest.release_id} was created at {manifest.created_at}, before release "
                    f"{newest.release_id} ({newest.created_at}), which this agent applied: replayed")
    created = _epoch(manifest.created_at)
    if commit_window > 0 and written_at is not None and created is not None and written_at - created > commit_window:
        return (f"release {manifest.release_id} was signed at {manifest.created_at} but S3 wrote this manifest "
                f"{written_at - created:.0f} s later (more than --commit-window {commit_window:g} s): a copy of "
                "an older release put back (replayed)")
    return None


# -- files ----------------------------------------------------------------------------------------
# One more request costs about as long as fetching this many more bytes (on S3 a GET's first byte
# takes tens of milliseconds; at tens of MB/s that is a few hundred KB): the archive-or-files scale.
REQUEST_COST_BYTES = 256 * 1024


@dataclass(frozen=True)
class FilePlan:
    reuse: tuple[tuple[FileEntry, str], ...] = ()    # (entry, local path holding the same sha256)
    download: tuple[FileEntry, ...] = ()
    download_bytes: int = field(default=0)
    archive: bool = False                            # fetch `download` from the release's archive


def plan_files(manifest: ReleaseManifest, held: Mapping[str, str]) -> FilePlan:
    """Reuse every file whose sha256 is already held locally (`held`: sha256 -> path); download the
    rest: as the release's archive when that costs less than the files one by one (each request
    counted as REQUEST_COST_BYTES more bytes), i.e. when few of the release's files are held (a
    cold start, a large change); one by one otherwise, and always for a single file."""
    reuse: list[tuple[FileEntry, str]] = []
    download: list[FileEntry] = []
    for entry in manifest.files:
        local = held.get(entry.sha256)
        if local is not None:
            reuse.append((entry, local))
        else:
            download.append(entry)
    size = sum(e.size for e in download)
    archive = manifest.archive is not None and len(download) > 1 and (
        manifest.archive.size + REQUEST_COST_BYTES < size + len(download) * REQUEST_COST_BYTES)
    return FilePlan(tuple(reuse), tuple(download), size, archive)


# -- which package owns a dag_id ------------------------------------------------------------------
MAX_OWNER_CANDIDATES = 4


def owner_candidates(dag_id: str) -> list[str]:
    """The packages that may own `dag_id`, longest first: every prefix of it ending just before an
    `_` that is a valid package name (a dag_id starts with `<package>_`). At most
    MAX_OWNER_CANDIDATES, so resolving costs a handful of requests whatever the dag_id."""
    found = [dag_id[:i] for i, char in enumerate(dag_id) if char == "_" and PACKAGE_RE.match(dag_id[:i])]
    return sorted(found, key=len, reverse=True)[:MAX_OWNER_CANDIDATES]


def owner_of(dag_id: str, manifests: Mapping[str, ReleaseManifest | None]) -> str | None:
    """The candidate whose current (not retired) manifest lists `dag_id`, longest first; None when
    none does (the caller then syncs every package). A dag_id has one owner per environment (the
    publisher refuses a second), so the first match is the owner."""
    for package in sorted(manifests, key=len, reverse=True):
        manifest = manifests[package]
        if manifest is not None and not manifest.retired and dag_id in manifest.dag_ids:
            return package
    return None


def release_dir_name(manifest: ReleaseManifest) -> str:
    """A release directory is named by its release id: the package link's target then says which
    release the package is on, in the same readlink(2) that finds its files (Airflow's versioned
    bundle, `airflow_dag_publisher.bundle`, reads its version so). A release id that cannot be one
    path component is refused."""
    if not RELEASE_ID_RE.match(manifest.release_id):
        raise ManifestError(f"release id {manifest.release_id!r} of package {manifest.package} cannot name a "
                            f"release directory (expected {RELEASE_ID_RE.pattern})", kind=ErrorKind.INVALID)
    return manifest.release_id


# -- what a failure means for a package -------------------------------------------------------------
class Fate(enum.Enum):
    REFUSE = "refuse"  # the release is bad: stay on the current release, skip its ETag until the next publish
    RETRY = "retry"    # this node failed (its disk): stay on the current release, try again next reconciliation
    FAIL = "fail"      # the cycle cannot go on (storage, network, its deadline, a stop request): fail it whole


# The faults of a release (and a bug its manifest reached): the package refuses it.
RELEASE_FAULTS = frozenset({ErrorKind.SCHEMA, ErrorKind.INVALID_JSON, ErrorKind.UNSAFE_PATH, ErrorKind.CHECKSUM,
                            ErrorKind.MISSING_VERSION, ErrorKind.TOO_LARGE, ErrorKind.NOT_OWNED, ErrorKind.INVALID,
                            ErrorKind.SIGNATURE, ErrorKind.NOT_GENERATED, ErrorKind.REPLAY, ErrorKind.UNREADABLE,
                            ErrorKind.INTERNAL})
# The `reason` label of `dagsync_refused_manifests_total`: the release faults, and this node's disk.
REFUSAL_REASONS = RELEASE_FAULTS | {ErrorKind.LOCAL_STORAGE}
# A file system error about the names a release asks for (too long, not representable, a file where
# its folder must be): the release cannot be laid out on any node. Every other one (EACCES, ENOSPC,
# EDQUOT, EIO, EROFS, EMFILE, ...) is this node's fault.
_RELEASE_NAME_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.EILSEQ, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                                  errno.ELOOP})


def failure_kind(exc: BaseException) -> ErrorKind:
    """The kind of a failure while applying a release: ours say it; a file system error is this
    node's disk (`local_storage`) unless the release's names caused it (`unsafe_path`); anything
    else is a bug (`internal`)."""
    if isinstance(exc, OSError):
        return ErrorKind.UNSAFE_PATH if exc.errno in _RELEASE_NAME_ERRNOS else ErrorKind.LOCAL_STORAGE
    return kind_of(exc)


def fate(kind: ErrorKind) -> Fate:
    """Refuse the release, retry the package, or fail the cycle: decided by the failure's kind only."""
    if kind in RELEASE_FAULTS:
        return Fate.REFUSE
    if kind is ErrorKind.LOCAL_STORAGE:
        return Fate.RETRY
    return Fate.FAIL
