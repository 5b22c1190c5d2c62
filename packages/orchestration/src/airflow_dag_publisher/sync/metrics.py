"""The agent's Prometheus metrics (prometheus_client, one registry per agent); the small HTTP server
for /metrics, /healthz and /readyz is health_server.py. Cycle outcomes follow git-sync: success, noop,
error.

Every value changes only through a `Metrics` method, under its lock; the health and readiness
answers are read from the same state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from airflow_dag_publisher.errors import ErrorKind
from airflow_dag_publisher.sync.planner import REFUSAL_REASONS

OUTCOMES = ("success", "noop", "error")
CYCLE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
LATENCY_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `<name>_created` series beside every counter: nothing here reads them


def refusal_reason(kind: ErrorKind) -> str:
    """The `reason` label of a refusal (the fixed set is the planner's, `REFUSAL_REASONS`); a kind
    outside it is a bug of the caller."""
    if kind not in REFUSAL_REASONS:
        raise ValueError(f"{kind!r} is not a refusal reason ({', '.join(sorted(REFUSAL_REASONS))})")
    return str(kind)


class _Releases(Collector):
    """`dagsync_packages` and `dagsync_package_release_info`, from one consistent snapshot."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.releases: dict[str, str] = {}

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            releases = dict(self.releases)
        count = GaugeMetricFamily("dagsync_packages", "Packages present in the DAGs folder.")
        count.add_metric([], len(releases))
        info = GaugeMetricFamily("dagsync_package_release_info", "The release each package is on (value 1).",
                                 labels=["package", "release_id"])
        for package, release_id in sorted(releases.items()):
            info.add_metric([package, release_id], 1)
        yield count
        yield info


class Metrics:
    """Every value the agent exports, and the state /healthz and /readyz answer from."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.registry = r = CollectorRegistry()
        self._cycles = Counter("dagsync_cycles", "Sync cycles by outcome (success: something changed, noop, error).",
                               ["outcome"], registry=r)
        self._cycle_seconds = Histogram("dagsync_cycle_duration_seconds", "Duration of sync cycles by outcome.",
                                        ["outcome"], buckets=CYCLE_BUCKETS, registry=r)
        for outcome in OUTCOMES:
            self._cycles.labels(outcome)
            self._cycle_seconds.labels(outcome)
        self._last_success_gauge = Gauge("dagsync_last_success_timestamp_seconds",
                                         "Unix time of the last successful cycle.", registry=r)
        self._failures_gauge = Gauge("dagsync_consecutive_failures", "Failed cycles since the last success.",
                                     registry=r)
        self._bytes = Counter("dagsync_bytes_downloaded", "Bytes of DAG files downloaded.", registry=r)
        self._files = Counter("dagsync_files_downloaded", "DAG files downloaded.", registry=r)
        self._reused = Counter("dagsync_files_reused", "DAG files reused from local releases (same sha256).",
                               registry=r)
        self._archives = Counter("dagsync_archives_downloaded", "Release archives downloaded (one request for "
                                 "the files of a release of which few were held).", registry=r)
        self._applied = Counter("dagsync_releases_applied", "Releases swapped in.", registry=r)
        self._removed = Counter("dagsync_packages_removed", "Packages removed by a retired release.", registry=r)
        self._refused = Counter("dagsync_refused_manifests", "Releases refused (package kept on its current "
                                "release), by reason.", ["package", "reason"], registry=r)
        self._guarded = Counter("dagsync_guarded_removals", "Removals not done: a manifest vanished, a listing was "
                                "empty.", ["reason"], registry=r)
        self._reconciliations = Counter("dagsync_reconciliations", "Cycles that listed every manifest.", registry=r)
        self._requests = Counter("dagsync_s3_requests", "Requests sent to S3.", registry=r)
        self._latency = Histogram("dagsync_sync_latency_seconds", "Seconds from a release's commit by the publisher "
                                  "to its swap into the DAGs folder (releases committed while the agent runs).",
                                  buckets=LATENCY_BUCKETS, registry=r)
        self._releases = _Releases(self._lock)
        r.register(self._releases)
        ProcessCollector(registry=r)
        self._last_success = 0.0
        self._consecutive_failures = 0
        self._first_sync_done = False
        self._requests_seen = 0
        self._heartbeat: float | None = None  # monotonic time the loop last showed it is turning

    # -- changes --------------------------------------------------------------------------------
    def heartbeat(self, monotonic_now: float | None = None) -> None:
        """The loop is turning: a cycle starts, or a probe runs while it backs off."""
        with self._lock:
            self._heartbeat = time.monotonic() if monotonic_now is None else monotonic_now

    def cycle(self, outcome: str, seconds: float, *, now: float) -> None:
        with self._lock:
            self._cycles.labels(outcome).inc()
            self._cycle_seconds.labels(outcome).observe(seconds)
            if outcome == "error":
                self._consecutive_failures += 1
            else:
                self._consecutive_failures = 0
                self._last_success = now
                self._last_success_gauge.set(now)
            self._failures_gauge.set(self._consecutive_failures)

    def reconciled(self) -> None:
        with self._lock:
            self._reconciliations.inc()
            self._first_sync_done = True

    def refuse(self, package: str, kind: ErrorKind) -> None:
        with self._lock:
            self._refused.labels(package, refusal_reason(kind)).inc()

    def guarded_removal(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self._guarded.labels(reason).inc(count)

    def downloaded(self, files: int, size: int, reused: int, *, archives: int = 0) -> None:
        """`files` written (from single downloads or `archives`), `size` bytes downloaded."""
        with self._lock:
            self._archives.inc(archives)
            self._files.inc(files)
            self._bytes.inc(size)
            self._reused.inc(reused)

    def release_applied(self, latency: float | None) -> None:
        with self._lock:
            self._applied.inc()
            if latency is not None:
                self._latency.observe(max(0.0, latency))

    def package_removed(self) -> None:
        with self._lock:
            self._removed.inc()

    def set_releases(self, releases: Mapping[str, str]) -> None:
        with self._lock:
            self._releases.releases = dict(releases)

    def count_requests(self, total: int) -> None:
        """The storage's request counter now stands at `total`."""
        with self._lock:
            if total > self._requests_seen:
                self._requests.inc(total - self._requests_seen)
                self._requests_seen = total

    # -- reads ----------------------------------------------------------------------------------
    @property
    def last_success(self) -> float:
        with self._lock:
            return self._last_success

    @property
    def consecutive_failures(self) -> int:
        with self._lock:
            return self._consecutive_failures

    @property
    def first_sync_done(self) -> bool:
        with self._lock:
            return self._first_sync_done

    def heartbeat_age(self, monotonic_now: float | None = None) -> float | None:
        """Seconds since the loop last turned; None before the first cycle starts."""
        with self._lock:
            if self._heartbeat is None:
                return None
            return (time.monotonic() if monotonic_now is None else monotonic_now) - self._heartbeat

    def sample(self, name: str, **labels: str) -> float:
        """One exported sample's value (0 when absent): for tests and benchmarks."""
        return float(self.registry.get_sample_value(name, labels) or 0.0)

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
