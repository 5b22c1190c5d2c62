"""The sync loop: cheap journal cycles, a delimiter-listing reconciliation at start and at least every
`reconcile_interval` seconds (and after any failed cycle), per-cycle deadline, capped backoff,
graceful stop. One package's broken release never stops the others."""

from __future__ import annotations

import errno
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_dag_publisher.errors import DagPublisherError, RefusedError, StorageError
from airflow_dag_publisher.manifest import MAX_MANIFEST_BYTES, ReleaseManifest
from airflow_dag_publisher.names import PACKAGE_RE
from airflow_dag_publisher.storage import journal_prefix, manifest_key
from airflow_dag_publisher.sync import planner
from airflow_dag_publisher.sync.fetch import Deadline, build_release
from airflow_dag_publisher.sync.metrics import Metrics
from airflow_dag_publisher.sync.planner import Action, Decision, JournalState
from airflow_dag_publisher.sync.releases import Layout
from airflow_dag_publisher.sync.remote import Remote
from airflow_dag_publisher.sync.state import AppliedRelease, StateStore

log = logging.getLogger("airflow_dag_publisher.sync")


@dataclass(frozen=True)
class AgentConfig:
    bucket: str
    env: str
    interval: float = 5.0
    reconcile_interval: float = 60.0
    cycle_timeout: float = 120.0
    grace_period: float = 300.0
    workers: int = 8
    max_backoff: float = 60.0
    ready_max_age: float = 180.0


@dataclass
class CycleResult:
    outcome: str                      # success | noop | error
    reconciled: bool = False
    applied: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    error: str = ""
    requests: int = 0


class SyncAgent:
    def __init__(self, config: AgentConfig, storage: Remote, layout: Layout, *, metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.storage = storage
        self.layout = layout
        self.state = StateStore(layout.state_dir, config.env)
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.stop_event = threading.Event()
        self.applied: dict[str, AppliedRelease] = {}
        self.journal = JournalState()
        self.refused: dict[str, str] = {}          # package -> ETag of the manifest refused
        self.vanished_known: set[str] = set()
        self.last_reconcile = float("-inf")
        self.need_reconcile = True
        self._prefix = journal_prefix(config.env)
        self._held_index: dict[str, str] | None = None  # see _held(); reset at every cycle
        self.retouch: dict[str, tuple[str, float]] = {}  # package -> (release dir, when to touch again)

    # -- start ----------------------------------------------------------------------------------
    def open(self) -> None:
        self.layout.prepare()
        self.state.ensure()
        self.journal = self.state.load_journal()
        for package, applied in self.state.load_packages().items():
            if self._still_in_place(package, applied):
                self.applied[package] = applied
            else:
                log.warning("package %s: local release does not match the saved state; it will be re-synced",
                            package, extra={"package": package})
        self._publish_releases()

    def close(self) -> None:
        self.layout.release()

    def _still_in_place(self, package: str, applied: AppliedRelease) -> bool:
        if applied.release_dir is None:
            return self.layout.current_target(package) is None
        return (self.layout.links_to(package, applied.release_dir)
                and self.layout.release_complete(package, applied.release_dir, applied.manifest))

    # -- one cycle ------------------------------------------------------------------------------
    def run_cycle(self, *, reconcile: bool | None = None) -> CycleResult:
        started = time.monotonic()
        requests_before = self.storage.requests
        if reconcile is None:
            reconcile = self.need_reconcile or time.monotonic() - self.last_reconcile >= self.config.reconcile_interval
        result = CycleResult(outcome="noop", reconciled=reconcile)
        deadline = Deadline(started + self.config.cycle_timeout, self.stop_event)
        try:
            self._cycle(result, reconcile, deadline)
            result.outcome = "success" if result.applied or result.removed else "noop"
            self.need_reconcile = False
            if reconcile:
                self.last_reconcile = started
                self.metrics.reconciliations += 1
                self.metrics.first_sync_done = True
        except DagPublisherError as exc:
            result.outcome, result.error = "error", str(exc)
            self.need_reconcile = True
            log.error("sync cycle failed: %s", exc, extra={"outcome": "error"})
        except Exception as exc:  # a bug or the local file system: the agent stays up and retries
            result.outcome, result.error = "error", f"{type(exc).__name__}: {exc}"
            self.need_reconcile = True
            log.exception("sync cycle failed unexpectedly: %s", result.error, extra={"outcome": "error"})
        finally:
            result.requests = self.storage.requests - requests_before
            self.metrics.s3_requests = self.storage.requests
        duration = time.monotonic() - started
        self.metrics.cycle(result.outcome, duration, now=self.clock())
        self._publish_releases()
        log.log(logging.INFO if result.outcome != "noop" else logging.DEBUG, "cycle %s", result.outcome,
                extra={"outcome": result.outcome, "reconciled": reconcile, "seconds": round(duration, 3),
                       "applied": result.applied, "removed": result.removed, "requests": result.requests})
        return result

    def _retouch_due(self) -> None:
        """A parse of the old files that was running at the swap finishes after the swap time and so
        hides the new files from Airflow until min_file_process_interval. Touching the release again a
        moment later makes the dag-processor parse each file once more, from the new release."""
        now = time.monotonic()
        for package, (name, due) in list(self.retouch.items()):
            if now < due:
                continue
            del self.retouch[package]
            current = self.applied.get(package)
            if current is not None and current.release_dir == name:
                try:
                    self.layout.set_mtime(package, name, time.time())
                except OSError as exc:
                    log.warning("package %s: cannot touch its release files: %s", package, exc)

    def _cycle(self, result: CycleResult, reconcile: bool, deadline: Deadline) -> None:
        self._held_index = None
        self._retouch_due()
        keys = self.storage.list_journal(self.config.env, planner.journal_start_after(
            self._prefix, self.journal, int(self.clock() * 1000)))
        read = planner.read_journal(self._prefix, keys, self.journal)
        for key in read.ignored:
            log.debug("ignoring journal key %s", key)
        if reconcile:
            deadline.check()
            candidates = self._reconcile_candidates()
        else:
            candidates = {p: None for p in sorted(read.packages)}
        for package, listed_etag in candidates.items():
            deadline.check()
            self._sync_package(package, listed_etag, result, deadline)
        if read.state != self.journal:
            self.state.save_journal(read.state)
            self.journal = read.state
        if reconcile or result.applied or result.removed:
            current = {p: a.release_dir for p, a in self.applied.items()}
            for path in self.layout.cleanup(current, self.config.grace_period, now=self.clock()):
                log.info("removed release directory %s after the grace period", path)

    def _reconcile_candidates(self) -> dict[str, str | None]:
        listing = self.storage.list_manifests(self.config.env)
        listed = {m.package: m.etag for m in listing if PACKAGE_RE.match(m.package)}
        gone = planner.vanished(listed, [p for p, a in self.applied.items() if a.release_dir is not None])
        if gone and not listed:
            self.metrics.guarded_removal("empty_listing", len(gone))
            log.warning("the listing of s3://%s/%s/ is empty; keeping all %d packages", self.storage.bucket,
                        self.config.env, len(gone))
        else:
            for package in sorted(set(gone) - self.vanished_known):
                self.metrics.guarded_removal("manifest_vanished")
                log.warning("package %s: manifest vanished from the listing; keeping its current release",
                            package, extra={"package": package})
        self.vanished_known = set(gone)
        applied_etags = {p: a.etag for p, a in self.applied.items()}
        wanted = planner.manifests_to_fetch(listed, applied_etags, self.refused)
        return {p: listed[p] for p in wanted}

    def _sync_package(self, package: str, listed_etag: str | None, result: CycleResult, deadline: Deadline) -> None:
        current = self.applied.get(package)
        key = manifest_key(self.config.env, package)
        held_etag = current.etag if current else None
        read = self.storage.get_if_changed(key, held_etag, max_bytes=MAX_MANIFEST_BYTES)
        if read.unchanged:
            return
        if read.missing or read.obj is None:
            if current is not None and current.release_dir is not None and package not in self.vanished_known:
                self.vanished_known.add(package)
                self.metrics.guarded_removal("manifest_vanished")
                log.warning("package %s: s3://%s/%s vanished; keeping its current release", package,
                            self.storage.bucket, key, extra={"package": package})
            return
        etag = read.obj.etag
        if self.refused.get(package) == etag:
            return
        try:
            decision = planner.decide(package, self.config.env, etag, read.obj.body,
                                      current.manifest if current else None,
                                      source=f"s3://{self.storage.bucket}/{key}")
            self._apply(decision, current, result, deadline)
        except RefusedError as exc:
            self._refuse(package, etag, str(exc), result)
        except OSError as exc:
            if exc.errno not in _LOCAL_RESOURCE_ERRORS:
                self._refuse(package, etag, f"release cannot be laid out here: {exc}", result, kind="unsafe_path")
                return
            # Full volume or quota: not the release's fault. Stay on the current release, retry later.
            self.need_reconcile = True
            result.refused[package] = f"local file system: {exc}"
            self.metrics.refuse(package, "local_storage")
            log.error("package %s: cannot build the release locally (%s); staying on the current release and "
                      "retrying", package, exc, extra={"package": package, "reason": "local_storage"})
        except (StorageError, DagPublisherError):
            raise
        except Exception as exc:  # a bug reached by this manifest: refuse it, keep the others syncing
            log.exception("package %s: unexpected error building its release", package, extra={"package": package})
            self._refuse(package, etag, f"{type(exc).__name__}: {exc}", result, kind="internal")

    def _apply(self, decision: Decision, current: AppliedRelease | None, result: CycleResult,
               deadline: Deadline) -> None:
        package, manifest = decision.package, decision.manifest
        if decision.action is Action.REFUSE:
            raise RefusedError(decision.reason)
        assert manifest is not None
        self.refused.pop(package, None)
        if decision.action is Action.KEEP:
            release_dir = current.release_dir if current else None
            self._record(package, AppliedRelease(decision.etag, manifest, release_dir))
            return
        if decision.action is Action.REMOVE:
            self.layout.unlink(package)
            self.layout.mark_superseded(package, current.release_dir if current else None)
            self._record(package, AppliedRelease(decision.etag, manifest, None))
            self.metrics.packages_removed += 1
            result.removed.append(package)
            log.info("package %s retired (release %s): link removed", package, manifest.release_id,
                     extra={"package": package, "release_id": manifest.release_id})
            return
        built = build_release(self.storage, self.layout, manifest, self._held(), workers=self.config.workers,
                              deadline=deadline)
        self._index_release(package, built.name, manifest)
        # Airflow re-parses a file before min_file_process_interval only when its mtime is newer than
        # its last parse (file_parsing_sort_mode = modified_time). Every file of the new release gets
        # the swap time, so each DAG file of the package is re-parsed now, also one that only imports
        # a changed helper. (Release files are never hard links of the live release's, so this does
        # not touch what Airflow reads until the swap.)
        self.layout.set_mtime(package, built.name, time.time())
        self.layout.swap(package, built.name)
        self.retouch[package] = (built.name, time.monotonic() + RETOUCH_AFTER)
        if current and current.release_dir != built.name:
            self.layout.mark_superseded(package, current.release_dir)
        self._record(package, AppliedRelease(decision.etag, manifest, built.name))
        self.metrics.downloaded(built.downloaded_files, built.downloaded_bytes, built.reused_files)
        self.metrics.releases_applied += 1
        result.applied.append(package)
        log.info("package %s now on release %s (%d files downloaded, %d reused)", package, manifest.release_id,
                 built.downloaded_files, built.reused_files,
                 extra={"package": package, "release_id": manifest.release_id, "bytes": built.downloaded_bytes})

    def _refuse(self, package: str, etag: str, reason: str, result: CycleResult, *, kind: str | None = None) -> None:
        self.refused[package] = etag
        result.refused[package] = reason
        kind = kind or _refusal_kind(reason)
        self.metrics.refuse(package, kind)
        log.error("package %s: release refused, staying on the current release: %s", package, reason,
                  extra={"package": package, "reason": kind})

    def _record(self, package: str, applied: AppliedRelease) -> None:
        self.state.save_package(package, applied)
        self.applied[package] = applied
        self.vanished_known.discard(package)

    def _held(self) -> dict[str, str]:
        """sha256 -> a local file with those bytes, over every applied release. Built once per cycle
        and extended as releases are built (rebuilding it per package made a cold sync of N packages
        cost N^2); a stale entry only costs a download, since reuse re-verifies every byte."""
        if self._held_index is None:
            self._held_index = {}
            for package, applied in self.applied.items():
                if applied.release_dir is not None:
                    self._index_release(package, applied.release_dir, applied.manifest)
        return self._held_index

    def _index_release(self, package: str, name: str, manifest: ReleaseManifest) -> None:
        assert self._held_index is not None
        root = self.layout.release_path(package, name)
        for entry in manifest.files:
            self._held_index.setdefault(entry.sha256, str(root / entry.path))

    def _publish_releases(self) -> None:
        self.metrics.set_releases({p: a.manifest.release_id for p, a in self.applied.items()
                                   if a.release_dir is not None})

    def releases(self) -> dict[str, ReleaseManifest]:
        return {p: a.manifest for p, a in self.applied.items() if a.release_dir is not None}

    # -- the loop -------------------------------------------------------------------------------
    def ready(self) -> bool:
        return self.metrics.first_sync_done and self.clock() - self.metrics.last_success <= self.config.ready_max_age

    def backoff(self, failures: int) -> float:
        if failures <= 0:
            return self.config.interval
        delay = min(self.config.max_backoff, max(self.config.interval, 0.5) * 2 ** min(failures, 16))
        return float(delay * random.uniform(0.8, 1.0))

    def run_forever(self) -> None:
        """Cycle until stop() (SIGTERM, SIGINT). After a failed cycle the next full cycle waits a capped
        backoff, but S3 is probed with one cheap request every interval meanwhile, so the agent resumes
        within about one interval of the server's return."""
        while not self.stop_event.is_set():
            result = self.run_cycle()
            if result.outcome != "error":
                self.stop_event.wait(self.config.interval)
                continue
            self._wait_for_recovery(self.backoff(self.metrics.consecutive_failures))

    def _wait_for_recovery(self, backoff: float) -> None:
        until = time.monotonic() + backoff
        while not self.stop_event.wait(min(self.config.interval, max(0.0, until - time.monotonic()))):
            if time.monotonic() >= until or self._probe():
                return

    def _probe(self) -> bool:
        """One small request: does S3 answer again?"""
        try:
            self.storage.list_journal(self.config.env, planner.journal_start_after(
                self._prefix, self.journal, int(self.clock() * 1000)))
        except Exception:  # any failure means "not yet"
            return False
        return True

    def stop(self) -> None:
        self.stop_event.set()


RETOUCH_AFTER = 2.0  # seconds after a swap to touch the release's files once more (see _retouch_due)
_LOCAL_RESOURCE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EROFS})


def _refusal_kind(reason: str) -> str:
    text = reason.lower()
    for needle, kind in (("schema_version", "schema"), ("not valid utf-8 json", "invalid_json"),
                         ("path", "unsafe_path"), ("sha256", "checksum"), ("does not exist", "missing_version"),
                         ("version_id", "missing_version"), ("limit", "too_large"), ("not a symlink", "not_owned")):
        if needle in text:
            return kind
    return "invalid"


__all__ = ["AgentConfig", "CycleResult", "StorageError", "SyncAgent"]
