"""The agent's state: `AgentState`, everything it knows between cycles, as one object; and
`StateStore`, the part of it persisted in the state folder so a restart downloads nothing unchanged.

    <state>/journal.json           {"cursor_ms": int, "seen": [journal keys in the skew window]}
    <state>/packages/<pkg>.json    {"etag": str, "release_dir": str | null, "manifest": {...}}

Every write is files.write_atomic (a temporary file + os.replace): a crash of the agent leaves the
old or the new file, never half. Writes are not fsync'ed (a cold sync of 1,000 packages spent most of its time there):
after a crash of the whole machine a state file may be empty, and an unreadable state file only
makes the agent check and, if need be, download that package again (the release directories are
checked against the state at start, see SyncAgent.open).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from airflow_dag_publisher.errors import ManifestError
from airflow_dag_publisher.files import write_atomic
from airflow_dag_publisher.manifest import ReleaseManifest, parse_manifest
from airflow_dag_publisher.names import PACKAGE_RE
from airflow_dag_publisher.sync.planner import JournalState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppliedRelease:
    """The manifest (and its ETag) a package is on; release_dir is None for a retired package."""

    etag: str
    manifest: ReleaseManifest
    release_dir: str | None


@dataclass
class AgentState:
    """What the agent knows between cycles. Only the agent's loop changes it, one cycle at a time."""

    applied: dict[str, AppliedRelease] = field(default_factory=dict)   # persisted, per package
    floor: dict[str, ReleaseManifest] = field(default_factory=dict)  # saved release no longer in place: never older
    journal: JournalState = field(default_factory=JournalState)        # persisted
    refused: dict[str, str] = field(default_factory=dict)   # package -> ETag of the manifest refused (not retried)
    vanished: frozenset[str] = frozenset()                  # held packages whose manifest S3 no longer shows
    need_reconcile: bool = True                             # at start and after a failed cycle
    last_reconcile: float = float("-inf")                   # monotonic start of the last reconciliation
    retouch: dict[str, tuple[str, float]] = field(default_factory=dict)  # package -> (release dir, monotonic due)

    def held(self) -> list[str]:
        """Packages present in the DAGs folder (not retired)."""
        return sorted(p for p, a in self.applied.items() if a.release_dir is not None)

    def release_ids(self) -> dict[str, str]:
        return {p: a.manifest.release_id for p, a in self.applied.items() if a.release_dir is not None}


class StateStore:
    def __init__(self, root: Path, env: str) -> None:
        self.root = root
        self.env = env
        self.packages_dir = root / "packages"
        self.journal_path = root / "journal.json"

    def ensure(self) -> None:
        self.packages_dir.mkdir(parents=True, exist_ok=True)

    # -- journal --------------------------------------------------------------------------------
    def load_journal(self) -> JournalState:
        try:
            raw = json.loads(self.journal_path.read_bytes())
            return JournalState(int(raw["cursor_ms"]), frozenset(str(k) for k in raw["seen"]))
        except FileNotFoundError:
            return JournalState()
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable journal state %s: %s", self.journal_path, exc)
            return JournalState()

    def save_journal(self, state: JournalState) -> None:
        data = {"cursor_ms": state.cursor_ms, "seen": sorted(state.seen)}
        write_atomic(self.journal_path, json.dumps(data).encode())

    # -- packages -------------------------------------------------------------------------------
    def load_packages(self) -> dict[str, AppliedRelease]:
        applied: dict[str, AppliedRelease] = {}
        for path in sorted(self.packages_dir.glob("*.json")):
            package = path.stem
            if not PACKAGE_RE.match(package):
                continue
            try:
                raw = json.loads(path.read_bytes())
                manifest = parse_manifest(json.dumps(raw["manifest"]).encode(), source=str(path),
                                          env=self.env, package=package)
                release_dir = raw["release_dir"]
                applied[package] = AppliedRelease(str(raw["etag"]), manifest,
                                                  str(release_dir) if release_dir else None)
            except (ValueError, KeyError, TypeError, ManifestError) as exc:
                log.warning("ignoring unreadable package state %s: %s", path, exc)
        return applied

    def save_package(self, package: str, applied: AppliedRelease) -> None:
        data = {"etag": applied.etag, "release_dir": applied.release_dir, "manifest": applied.manifest.to_dict()}
        write_atomic(self.packages_dir / f"{package}.json", json.dumps(data).encode())
