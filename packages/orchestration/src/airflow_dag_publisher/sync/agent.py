"""The sync loop: cheap journal cycles, a delimiter-listing reconciliation at start and at least every
`reconcile_interval` seconds (and after any failed cycle), per-cycle deadline, capped backoff,
graceful stop. One package's broken release never stops the others.

Decisions are the planner's (planner.py); what the agent knows between cycles is one object
(state.AgentState); metrics change only through Metrics methods.

A cycle fetches the changed manifests, then builds the changed packages concurrently (at most
`workers` at once, every download through the cycle's one DownloadPool); each finished build is
swapped in by the loop's own thread, one package at a time, so each swap stays atomic and
independent, and a refusal touches only its package. `run_cycle(dag_id=...)` (`--once --dag-id`)
syncs only the package that owns a dag_id, found from the dag_id's prefixes in a few requests.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_dag_publisher.errors import (
    EXIT_STORAGE,
    DagPublisherError,
    ErrorKind,
    LocalStorageError,
    ManifestError,
    RefusedError,
    exit_code,
)
from airflow_dag_publisher.manifest import MAX_MANIFEST_BYTES, ReleaseManifest, parse_manifest
from airflow_dag_publisher.spec_release import SpecOnlyCheck
from airflow_dag_publisher.storage import Fetched, ManifestListing, manifest_key
from airflow_dag_publisher.sync import planner
from airflow_dag_publisher.sync.fetch import POLL_SECONDS, Built, Deadline, DownloadPool, build_release
from airflow_dag_publisher.sync.metrics import Metrics
from airflow_dag_publisher.sync.package_list import PackageListWatch
from airflow_dag_publisher.sync.planner import Action, Decision, Fate, Vanished
from airflow_dag_publisher.sync.releases import Layout
from airflow_dag_publisher.sync.remote import Remote
from airflow_dag_publisher.sync.state import AgentState, AppliedRelease, StateStore
from airflow_dag_publisher.sync.trust import Trust

log = logging.getLogger("airflow_dag_publisher.sync")

RETOUCH_AFTER = 2.0  # seconds after a swap to touch the release's files once more (see _retouch_due)


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
    commit_window: float = 900.0  # a signed manifest S3 wrote later than this after its created_at is refused

    @property
    def stuck_after(self) -> float:
        """/healthz fails when no cycle (or, while backing off, no probe) started for this long: a
        cycle is abandoned at its timeout and the loop turns at least every interval otherwise."""
        return 2 * (self.cycle_timeout + self.interval)


@dataclass
class CycleResult:
    outcome: str                      # success (something changed) | noop (nothing changed) | error
    reconciled: bool = False
    applied: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)     # package -> why its release was refused
    deferred: dict[str, str] = field(default_factory=dict)    # package -> why this node could not build it (retried)
    error: Exception | None = None    # outcome error: what failed the cycle, with its kind (errors.kind_of)
    requests: int = 0
    owner: str | None = None          # with a dag_id: the package that owns it, the only one synced


@dataclass
class _Cycle:
    """What one cycle carries from step to step."""

    result: CycleResult
    deadline: Deadline
    committed_ms: dict[str, int]            # package -> the publisher's commit time, from the journal
    pool: DownloadPool
    held_index: dict[str, str] | None = None  # sha256 -> a local file with those bytes (built lazily)
    reads: dict[str, Fetched] = field(default_factory=dict)  # manifests already fetched this cycle


@dataclass(frozen=True)
class _ManifestGet:
    """Work item: the conditional GET of a package's manifest, in the cycle's download pool."""

    package: str


@dataclass(frozen=True)
class _ReleaseBuild:
    """Work item: building, swapping in and saving one release, in a builder thread."""

    decision: Decision


class _PackageRun:
    """One cycle's work over a list of packages. Their manifests are fetched (conditional GETs,
    through the cycle's pool); as each arrives the planner decides, then the decision is applied
    here (keep, remove, refuse) or the release is built: at most `workers` builds at once, every
    download through the same pool. A builder swaps its package in and saves its state file as soon
    as the release is complete (file system work, so it runs beside the other builds); this thread
    then records it in memory. The first failure that fails the cycle (storage, the deadline, a stop
    request) abandons the work still running; what finished is kept."""

    def __init__(self, agent: SyncAgent, cycle: _Cycle, count: int) -> None:
        self.agent = agent
        self.cycle = cycle
        self.builders = ThreadPoolExecutor(max_workers=max(1, min(agent.config.workers, count)),
                                           thread_name_prefix="dagsync-build")
        self.pending: dict[Future[Any], _ManifestGet | _ReleaseBuild] = {}
        # Futures report here as they finish: `concurrent.futures.wait` over thousands of pending
        # futures locks each of them on every call, which made a cold start spend its time in locks.
        self.finished: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()
        self.failure: DagPublisherError | None = None

    def run(self, packages: list[str]) -> None:
        try:
            for package in packages:
                if package in self.cycle.reads:
                    self._arrived(package, self.cycle.reads[package])
                else:
                    self._track(self.cycle.pool.submit(self.agent._get_manifest, package), _ManifestGet(package))
            while self.pending:  # bounded by the cycle's deadline: every download and build checks it
                self._collect()
        except BaseException:
            self.cycle.deadline.abandon.set()
            raise
        finally:
            for fut in self.pending:
                fut.cancel()
            self.builders.shutdown(wait=True, cancel_futures=True)
        if self.failure is not None:
            raise self.failure

    def _track(self, fut: Future[Any], item: _ManifestGet | _ReleaseBuild) -> None:
        self.pending[fut] = item
        fut.add_done_callback(self.finished.put)

    def _collect(self) -> None:
        """Handle the next finished work item (if one finishes within a poll), then look at the deadline."""
        try:
            fut = self.finished.get(timeout=POLL_SECONDS)
        except queue.Empty:
            fut = None
        if fut is not None:
            item = self.pending.pop(fut)
            if isinstance(item, _ManifestGet):
                self._manifest_done(item, fut)
            else:
                self._build_done(item, fut)
        if self.failure is None:
            try:
                self.cycle.deadline.check()
            except DagPublisherError as exc:
                self._fail(exc)

    def _manifest_done(self, item: _ManifestGet, fut: Future[Fetched]) -> None:
        try:
            read = fut.result()
        except DagPublisherError as exc:
            if exc.kind is ErrorKind.BAD_REQUEST:  # S3 will not serve this package's manifest (e.g. SSE-C): its own
                self.agent._refuse(item.package, "", f"its manifest cannot be read: {exc}", ErrorKind.UNREADABLE,
                                   self.cycle.result)
                return
            self._fail(exc)
            return
        if self.failure is None:
            self._arrived(item.package, read)

    def _build_done(self, item: _ReleaseBuild, fut: Future[tuple[Built, float]]) -> None:
        try:
            built, swapped_at = fut.result()
        except Exception as exc:
            self._settle(item.decision, exc)
        else:
            self.agent._swapped(item.decision, built, swapped_at, self.cycle)

    def _arrived(self, package: str, read: Fetched) -> None:
        agent = self.agent
        current = agent.state.applied.get(package)
        decision = agent._decide(package, read, current)
        if decision is None:
            return
        if decision.action is Action.APPLY:
            held = agent._held(self.cycle)  # built here, before any builder reads it
            self._track(self.builders.submit(agent._build, decision, current, held, self.cycle),
                        _ReleaseBuild(decision))
            return
        try:
            agent._apply(decision, current, self.cycle)
        except Exception as exc:
            self._settle(decision, exc)

    def _settle(self, decision: Decision, exc: Exception) -> None:
        try:
            self.agent._settle(decision, exc, self.cycle)
        except DagPublisherError as err:
            self._fail(err)

    def _fail(self, exc: DagPublisherError) -> None:
        self.failure = self.failure or exc
        self.cycle.deadline.abandon.set()


class SyncAgent:
    def __init__(self, config: AgentConfig, storage: Remote, layout: Layout, *, metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.time, trust: Trust | None = None,
                 packages: PackageListWatch | None = None) -> None:
        self.config = config
        self.trust = trust or Trust()  # the keys each package's releases must be signed with
        self.packages = packages  # --packages-file: which packages are spec-only
        self.spec_only: frozenset[str] = packages.spec_only() if packages else frozenset()
        self.storage = storage
        self.layout = layout
        self.store = StateStore(layout.state_dir, config.env)
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.stop_event = threading.Event()
        self.state = AgentState()
        self.started_at = clock()
        self._prefetched: tuple[Future[list[str]], Future[list[ManifestListing]]] | None = None
        self._requests_at_prefetch = 0

    # -- start and stop ---------------------------------------------------------------------------
    def open(self, *, prefetch: bool = False) -> None:
        """Take the folders and read the saved state. With `prefetch`, the first reconciliation's two
        listings (journal, manifests) are sent now, in the background, while the saved state is read:
        at a pod's start the wait on S3 then overlaps the local work."""
        try:
            self.layout.prepare()
            self.store.ensure()
        except OSError as exc:
            raise _local_fault(exc) from exc
        self.state.journal = self.store.load_journal()
        if prefetch:
            self._requests_at_prefetch = self.storage.requests
            start_after = planner.journal_start_after(self.config.env, self.state.journal, int(self.clock() * 1000))
            listing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dagsync-list")
            self._prefetched = (listing.submit(self.storage.list_journal, self.config.env, start_after),
                                listing.submit(self.storage.list_manifests, self.config.env))
            listing.shutdown(wait=False)  # its threads end with these two listings
        for package, applied in self.store.load_packages().items():
            if self._still_in_place(package, applied):
                self.state.applied[package] = applied
            else:
                self.state.floor[package] = applied.manifest  # never go back below it (replay_problem)
                log.warning("package %s: local release does not match the saved state; it will be re-synced",
                            package, extra={"package": package})
        self.metrics.set_releases(self.state.release_ids())

    def close(self) -> None:
        self.layout.unlock()

    def stop(self) -> None:
        self.stop_event.set()

    def _still_in_place(self, package: str, applied: AppliedRelease) -> bool:
        if applied.release_dir is None:
            return self.layout.current_target(package) is None
        return (self.layout.links_to(package, applied.release_dir)
                and self.layout.release_complete(package, applied.release_dir, applied.manifest))

    # -- one cycle ------------------------------------------------------------------------------
    def run_cycle(self, *, reconcile: bool | None = None, dag_id: str | None = None,
                  report: bool = True) -> CycleResult:
        """One cycle. With `dag_id`: only the package that owns it (no journal, no listing), or, when
        its owner cannot be found, a reconciliation of every package. A failure is kept in the
        result with its kind; `report=False` leaves logging it to the caller (`--once` reports it
        once, as every entry point reports a failure)."""
        started = time.monotonic()
        self.metrics.heartbeat(started)
        self._read_package_list()
        requests_before = self._requests_at_prefetch if self._prefetched else self.storage.requests
        state = self.state
        if reconcile is None:
            reconcile = state.need_reconcile or started - state.last_reconcile >= self.config.reconcile_interval
        result = CycleResult(outcome="noop", reconciled=reconcile or dag_id is not None)
        pool = DownloadPool(self.config.workers)
        cycle = _Cycle(result, Deadline(started + self.config.cycle_timeout, self.stop_event), {}, pool)
        try:
            self._cycle(cycle, result.reconciled, dag_id)
            result.outcome = "success" if result.applied or result.removed else "noop"
            if result.owner is None:
                state.need_reconcile = False
            if result.reconciled:
                state.last_reconcile = started
                self.metrics.reconciled()
        except Exception as exc:  # storage, the deadline, the local file system or a bug: the agent stays up
            result.outcome, result.error = "error", _local_fault(exc) if isinstance(exc, OSError) else exc
            state.need_reconcile = True
        finally:
            cycle.deadline.abandon.set()
            pool.close()
            result.requests = self.storage.requests - requests_before
            self.metrics.count_requests(self.storage.requests)
        duration = time.monotonic() - started
        self.metrics.cycle(result.outcome, duration, now=self.clock())
        self.metrics.set_releases(state.release_ids())
        extra = {"outcome": result.outcome, "reconciled": result.reconciled, "seconds": round(duration, 3),
                 "applied": result.applied, "removed": result.removed, "requests": result.requests}
        if result.error is None:
            log.log(logging.INFO if result.outcome != "noop" else logging.DEBUG, "cycle %s", result.outcome,
                    extra=extra)
        elif not report:  # the caller reports the failure, once (`--once`: the one handler)
            log.debug("cycle error", extra=extra)
        elif isinstance(result.error, DagPublisherError):  # one line per failed cycle, the summary with it
            log.error("sync cycle failed: %s", result.error, extra={**extra, "reason": result.error.kind})
        else:
            log.error("sync cycle failed unexpectedly: %s: %s", type(result.error).__name__, result.error,
                      exc_info=result.error, extra={**extra, "reason": ErrorKind.INTERNAL})
        return result

    def _read_package_list(self) -> None:
        """A changed list of spec-only packages: releases refused under the old list are looked at again."""
        if self.packages is None:
            return
        spec_only = self.packages.spec_only()
        if spec_only != self.spec_only:
            self.spec_only = spec_only
            self.state.refused.clear()
            self.state.need_reconcile = True

    def _cycle(self, cycle: _Cycle, reconcile: bool, dag_id: str | None = None) -> None:
        state = self.state
        self._retouch_due()
        if dag_id is not None:
            owner = self._owner(dag_id, cycle)
            if owner is not None:
                cycle.result.owner, cycle.result.reconciled = owner, False
                self._sync_packages([owner], cycle)
                return
            log.warning("no package's manifest lists dag_id %s (its candidate packages: %s); syncing every package "
                        "instead", dag_id, ", ".join(planner.owner_candidates(dag_id)) or "none",
                        extra={"dag_id": dag_id})
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None:
            keys = prefetched[0].result()
        else:
            keys = self.storage.list_journal(self.config.env, planner.journal_start_after(
                self.config.env, state.journal, int(self.clock() * 1000)))
        read = planner.read_journal(self.config.env, keys, state.journal)
        for key in read.ignored:
            log.debug("ignoring journal key %s", key)
        cycle.committed_ms = dict(read.committed_ms)
        if reconcile:
            cycle.deadline.check()
            candidates = self._reconcile_candidates(prefetched[1].result() if prefetched else None)
        else:
            candidates = dict.fromkeys(sorted(read.packages))
        self._sync_packages(list(candidates), cycle)
        if read.state != state.journal:
            self.store.save_journal(read.state)
            state.journal = read.state
        if reconcile or cycle.result.applied or cycle.result.removed:
            current = {p: a.release_dir for p, a in state.applied.items()}
            for path in self.layout.cleanup(current, self.config.grace_period, now=self.clock()):
                log.info("removed release directory %s after the grace period", path)

    def _owner(self, dag_id: str, cycle: _Cycle) -> str | None:
        """The package that owns `dag_id`: its candidate prefixes' manifests, longest first, until one
        lists it (each GET conditional on the ETag held; a candidate's unreadable manifest is skipped)."""
        for package in planner.owner_candidates(dag_id):
            cycle.deadline.check()
            read = cycle.reads[package] = self._get_manifest(package)
            if planner.owner_of(dag_id, {package: self._readable(package, read)}) is not None:
                return package
        return None

    def _readable(self, package: str, read: Fetched) -> ReleaseManifest | None:
        held = self.state.applied.get(package)
        if read.unchanged:
            return held.manifest if held else None
        if read.obj is None:
            return None
        try:
            return parse_manifest(read.obj.body, source=self.storage.url(read.obj.key), env=self.config.env,
                                  package=package)
        except ManifestError:
            return None

    def _reconcile_candidates(self, listing: list[ManifestListing] | None = None) -> dict[str, str | None]:
        listing = self.storage.list_manifests(self.config.env) if listing is None else listing
        listed = {m.package: m.etag for m in listing}
        self._note_vanished(planner.vanished_from_listing(listed, self.state.held(), self.state.vanished))
        applied_etags = {p: a.etag for p, a in self.state.applied.items()}
        wanted = planner.manifests_to_fetch(listed, applied_etags, self.state.refused)
        return {p: listed[p] for p in wanted}

    def _note_vanished(self, vanished: Vanished) -> None:
        """The guards' verdict: keep every vanished package; count and log each once."""
        self.state.vanished = vanished.known
        if vanished.empty_listing:
            self.metrics.guarded_removal("empty_listing", vanished.empty_listing)
            log.warning("the listing of %s is empty; keeping all %d packages",
                        self.storage.url(f"{self.config.env}/"), vanished.empty_listing)
        for package in vanished.newly:
            self.metrics.guarded_removal("manifest_vanished")
            log.warning("package %s: its manifest vanished from %s; keeping its current release", package,
                        self.storage.url(f"{self.config.env}/"), extra={"package": package})

    # -- packages -------------------------------------------------------------------------------
    def _get_manifest(self, package: str) -> Fetched:
        current = self.state.applied.get(package)
        return self.storage.get(manifest_key(self.config.env, package),
                                if_none_match=current.etag if current else None, max_bytes=MAX_MANIFEST_BYTES)

    def _sync_packages(self, packages: list[str], cycle: _Cycle) -> None:
        """Fetch, decide, build and swap in the given packages (see _PackageRun)."""
        if packages:
            _PackageRun(self, cycle, len(packages)).run(packages)

    def _decide(self, package: str, read: Fetched, current: AppliedRelease | None) -> Decision | None:
        if read.unchanged:
            return None
        if read.obj is None:
            held = current is not None and current.release_dir is not None
            self._note_vanished(planner.vanished_on_read(package, held, self.state.vanished))
            return None
        etag = read.obj.etag
        if self.state.refused.get(package) == etag:
            return None
        applied = current.manifest if current else None
        return planner.decide(package, self.config.env, etag, read.obj.body, applied,
                              source=self.storage.url(read.obj.key), trust=self.trust,
                              newest=applied or self.state.floor.get(package), written_at=read.obj.last_modified,
                              commit_window=self.config.commit_window)

    def _settle(self, decision: Decision, exc: Exception, cycle: _Cycle) -> None:
        """One package's failure, as the planner's `fate` of its kind says: the release refused (for
        that package only), the package retried (this node's disk), or the cycle failed (re-raised)."""
        package, kind = decision.package, planner.failure_kind(exc)
        verdict = planner.fate(kind)
        if verdict is Fate.FAIL:
            raise exc
        if verdict is Fate.RETRY:  # not the release's fault: nothing remembered, the next reconciliation retries
            cycle.result.deferred[package] = f"local file system: {exc}"
            self.metrics.refuse(package, kind)
            log.error("package %s: cannot build the release on this node (%s); staying on the current release "
                      "and retrying", package, exc, extra={"package": package, "reason": kind})
            return
        if isinstance(exc, DagPublisherError):
            reason = str(exc)
        elif kind is ErrorKind.INTERNAL:  # a bug reached by this manifest: refuse it, keep the others syncing
            log.error("package %s: unexpected error building its release", package, exc_info=exc,
                      extra={"package": package})
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = f"release cannot be laid out here: {exc}"
        self._refuse(package, decision.etag, reason, kind, cycle.result)

    def _apply(self, decision: Decision, current: AppliedRelease | None, cycle: _Cycle) -> None:
        """Refuse, keep or remove (a retired release): everything but building a release."""
        package, manifest = decision.package, decision.manifest
        if decision.action is Action.REFUSE:
            raise RefusedError(decision.reason, kind=decision.kind)
        assert manifest is not None
        self.state.refused.pop(package, None)
        if decision.action is Action.KEEP:
            self._record(package, AppliedRelease(decision.etag, manifest, current.release_dir if current else None))
            return
        assert decision.action is Action.REMOVE
        self.layout.unlink(package)
        self.layout.mark_superseded(package, current.release_dir if current else None)
        self._record(package, AppliedRelease(decision.etag, manifest, None))
        self.metrics.package_removed()
        cycle.result.removed.append(package)
        log.info("package %s retired (release %s): link removed", package, manifest.release_id,
                 extra={"package": package, "release_id": manifest.release_id})

    def _build(self, decision: Decision, current: AppliedRelease | None, held: dict[str, str],
               cycle: _Cycle) -> tuple[Built, float]:
        """In a builder thread: build the release, swap the package's link to it, save its state."""
        package, manifest = decision.package, decision.manifest
        assert manifest is not None
        check = SpecOnlyCheck() if package in self.spec_only else None
        built = build_release(self.storage, self.layout, manifest, held, pool=cycle.pool, deadline=cycle.deadline,
                              check=check)
        # The build gave every file of the release the time it finished, just before this swap (see
        # fetch.build_release), and _retouch_due gives them the time again 2 s after it.
        swapped_at = time.time()
        self.layout.swap(package, built.name)
        if current and current.release_dir != built.name:
            self.layout.mark_superseded(package, current.release_dir)
        self.store.save_package(package, AppliedRelease(decision.etag, manifest, built.name))
        return built, swapped_at

    def _swapped(self, decision: Decision, built: Built, swapped_at: float, cycle: _Cycle) -> None:
        """A builder swapped the package in and saved its state file: the loop records it in memory."""
        package, manifest = decision.package, decision.manifest
        assert manifest is not None
        self.state.refused.pop(package, None)
        self._index_release(cycle, package, built.name, manifest)
        self.state.retouch[package] = (built.name, time.monotonic() + RETOUCH_AFTER)
        self._remember(package, AppliedRelease(decision.etag, manifest, built.name))
        self.metrics.downloaded(built.downloaded_files, built.downloaded_bytes, built.reused_files,
                                archives=int(built.archive))
        self.metrics.release_applied(self._latency(package, manifest, cycle, swapped_at))
        cycle.result.applied.append(package)
        log.info("package %s now on release %s (%d file%s downloaded%s, %d reused)", package, manifest.release_id,
                 built.downloaded_files, "" if built.downloaded_files == 1 else "s",
                 " in its archive" if built.archive else "", built.reused_files,
                 extra={"package": package, "release_id": manifest.release_id, "bytes": built.downloaded_bytes})

    def _latency(self, package: str, manifest: ReleaseManifest, cycle: _Cycle, swapped_at: float) -> float | None:
        """Seconds from the publisher's commit (its journal entry's milliseconds, else the manifest's
        created_at) to the swap; None for a release committed before this agent started (a cold
        sync is not a sync latency)."""
        ms = cycle.committed_ms.get(package)
        if ms is not None:
            committed = ms / 1000
        else:
            try:
                committed = datetime.strptime(manifest.created_at, "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=timezone.utc).timestamp()
            except ValueError:
                return None
        return swapped_at - committed if committed >= self.started_at else None

    def _refuse(self, package: str, etag: str, reason: str, kind: ErrorKind, result: CycleResult) -> None:
        self.state.refused[package] = etag
        result.refused[package] = reason
        self.metrics.refuse(package, kind)
        log.error("package %s: release refused, staying on the current release: %s", package, reason,
                  extra={"package": package, "reason": kind})

    def _record(self, package: str, applied: AppliedRelease) -> None:
        self.store.save_package(package, applied)
        self._remember(package, applied)

    def _remember(self, package: str, applied: AppliedRelease) -> None:
        self.state.applied[package] = applied
        self.state.vanished = self.state.vanished - {package}

    def _held(self, cycle: _Cycle) -> dict[str, str]:
        """sha256 -> a local file with those bytes, over every applied release. Built once per cycle
        and extended as releases are built (rebuilding it per package made a cold sync of N packages
        cost N^2); a stale entry only costs a download, since reuse re-verifies every byte."""
        if cycle.held_index is None:
            cycle.held_index = {}
            for package, applied in self.state.applied.items():
                if applied.release_dir is not None:
                    self._index_release(cycle, package, applied.release_dir, applied.manifest)
        return cycle.held_index

    def _index_release(self, cycle: _Cycle, package: str, name: str, manifest: ReleaseManifest) -> None:
        index = self._held(cycle)
        root = self.layout.files_path(package, name)
        for entry in manifest.files:
            index.setdefault(entry.sha256, str(root / entry.path))

    def _retouch_due(self) -> None:
        """A parse of the old files that was running at the swap finishes after the swap time and so
        hides the new files from Airflow until min_file_process_interval. Touching the release again a
        moment later makes the dag-processor parse each file once more, from the new release."""
        now = time.monotonic()
        for package, (name, due) in list(self.state.retouch.items()):
            if now < due:
                continue
            del self.state.retouch[package]
            current = self.state.applied.get(package)
            if current is not None and current.release_dir == name:
                try:
                    self.layout.set_mtime(package, name, time.time(), [e.path for e in current.manifest.files])
                except OSError as exc:
                    log.warning("package %s: cannot touch its release files: %s", package, exc)

    # -- the loop -------------------------------------------------------------------------------
    def ready(self) -> bool:
        """The first full sync was applied and, unless ready_max_age is 0, a cycle succeeded recently."""
        if not self.metrics.first_sync_done:
            return False
        return self.config.ready_max_age <= 0 or self.clock() - self.metrics.last_success <= self.config.ready_max_age

    def run_once(self, *, dag_id: str | None = None, retry_for: float = 0.0) -> CycleResult:
        """`--once`: a reconciling cycle; after one that failed (S3, STS, the network), more, each after
        the capped backoff during which S3 is probed every interval, until one completes, a stop is
        requested, or `retry_for` seconds have passed since the first began."""
        deadline = time.monotonic() + retry_for
        result = self.run_cycle(reconcile=True, dag_id=dag_id, report=False)
        for failures in range(1, 1_000_000):
            left = deadline - time.monotonic()
            if result.outcome != "error" or self.stop_event.is_set() or left <= 0:
                break
            if result.error is not None and exit_code(result.error) != EXIT_STORAGE:
                break  # a bug or a refusal: trying again changes nothing; the caller reports it
            delay = min(self.backoff(failures), left)
            log.warning("sync did not complete: %s; trying again within %.0f s (--retry-for: %.0f s left)",
                        result.error, delay, left, extra={"outcome": "error"})
            self._wait_for_recovery(delay)
            if self.stop_event.is_set():
                break
            result = self.run_cycle(reconcile=True, dag_id=dag_id, report=False)
        return result

    def alive(self) -> bool:
        """The loop is turning: a cycle or probe started within `stuck_after` (or none yet: starting)."""
        age = self.metrics.heartbeat_age()
        return age is None or age <= self.config.stuck_after

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
        self.metrics.heartbeat()
        return self.storage.answers(self.config.env)


def _local_fault(exc: OSError) -> LocalStorageError:
    """A file system error of the state or DAGs folder as ours (exit 3: this node's disk, worth retrying)."""
    error = LocalStorageError(f"local file system: {exc}")
    error.__cause__ = exc
    return error


__all__ = ["AgentConfig", "CycleResult", "SyncAgent"]
