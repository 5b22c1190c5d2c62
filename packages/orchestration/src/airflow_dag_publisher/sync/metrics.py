"""Prometheus metrics (text exposition format, by hand: no client library needed) and the small HTTP
server for /metrics, /healthz and /readyz. Cycle outcomes follow git-sync: success, noop, error."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OUTCOMES = ("success", "noop", "error")
_P = "dagsync_"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


class Metrics:
    """Every value the agent exports; thread-safe; `render()` gives the exposition text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cycles: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.cycle_seconds_sum: dict[str, float] = dict.fromkeys(OUTCOMES, 0.0)
        self.last_success = 0.0
        self.last_cycle_duration = 0.0
        self.consecutive_failures = 0
        self.bytes_downloaded = 0
        self.files_downloaded = 0
        self.files_reused = 0
        self.releases_applied = 0
        self.packages_removed = 0
        self.refused: dict[tuple[str, str], int] = defaultdict(int)
        self.guarded_removals: dict[str, int] = defaultdict(int)
        self.releases: dict[str, str] = {}
        self.s3_requests = 0
        self.reconciliations = 0
        self.first_sync_done = False

    def cycle(self, outcome: str, seconds: float, *, now: float | None = None) -> None:
        with self._lock:
            self.cycles[outcome] += 1
            self.cycle_seconds_sum[outcome] += seconds
            self.last_cycle_duration = seconds
            if outcome == "error":
                self.consecutive_failures += 1
            else:
                self.consecutive_failures = 0
                self.last_success = time.time() if now is None else now

    def refuse(self, package: str, reason: str) -> None:
        with self._lock:
            self.refused[(package, reason)] += 1

    def guarded_removal(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self.guarded_removals[reason] += count

    def downloaded(self, files: int, size: int, reused: int) -> None:
        with self._lock:
            self.files_downloaded += files
            self.bytes_downloaded += size
            self.files_reused += reused

    def set_releases(self, releases: dict[str, str]) -> None:
        with self._lock:
            self.releases = dict(releases)

    def render(self) -> str:
        with self._lock:
            out: list[str] = []

            def metric(name: str, kind: str, help_: str, samples: list[tuple[dict[str, str], float]]) -> None:
                out.append(f"# HELP {_P}{name} {help_}")
                out.append(f"# TYPE {_P}{name} {kind}")
                for labels, value in samples:
                    out.append(f"{_P}{name}{_labels(**labels)} {value:g}" if isinstance(value, float)
                               else f"{_P}{name}{_labels(**labels)} {value}")

            metric("cycles_total", "counter", "Sync cycles by outcome (success: something changed, noop, error).",
                   [({"outcome": o}, self.cycles[o]) for o in OUTCOMES])
            out.append(f"# HELP {_P}cycle_duration_seconds Duration of sync cycles by outcome.")
            out.append(f"# TYPE {_P}cycle_duration_seconds summary")
            for o in OUTCOMES:
                out.append(f'{_P}cycle_duration_seconds_sum{{outcome="{o}"}} {self.cycle_seconds_sum[o]:.6f}')
                out.append(f'{_P}cycle_duration_seconds_count{{outcome="{o}"}} {self.cycles[o]}')
            metric("last_success_timestamp_seconds", "gauge", "Unix time of the last successful cycle.",
                   [({}, float(self.last_success))])
            metric("consecutive_failures", "gauge", "Failed cycles since the last success.",
                   [({}, self.consecutive_failures)])
            metric("packages", "gauge", "Packages present in the DAGs folder.", [({}, len(self.releases))])
            metric("package_release_info", "gauge", "The release each package is on (value 1).",
                   [({"package": p, "release_id": r}, 1) for p, r in sorted(self.releases.items())])
            metric("bytes_downloaded_total", "counter", "Bytes of DAG files downloaded.", [({}, self.bytes_downloaded)])
            metric("files_downloaded_total", "counter", "DAG files downloaded.", [({}, self.files_downloaded)])
            metric("files_reused_total", "counter", "DAG files reused from local releases (same sha256).",
                   [({}, self.files_reused)])
            metric("releases_applied_total", "counter", "Releases swapped in.", [({}, self.releases_applied)])
            metric("packages_removed_total", "counter", "Packages removed by a retired release.",
                   [({}, self.packages_removed)])
            metric("refused_manifests_total", "counter", "Releases refused (package kept on its current release).",
                   [({"package": p, "reason": r}, n) for (p, r), n in sorted(self.refused.items())])
            metric("guarded_removals_total", "counter", "Removals not done: a manifest vanished, a listing was empty.",
                   [({"reason": r}, n) for r, n in sorted(self.guarded_removals.items())])
            metric("reconciliations_total", "counter", "Cycles that listed every manifest.",
                   [({}, self.reconciliations)])
            metric("s3_requests_total", "counter", "Requests sent to S3.", [({}, self.s3_requests)])
            return "\n".join(out) + "\n"


class MetricsServer:
    """/metrics, /healthz (alive) and /readyz (first sync done, last success recent) in a daemon thread."""

    def __init__(self, metrics: Metrics, address: str, port: int, ready: Callable[[], bool]) -> None:
        handler = _make_handler(metrics, ready)
        self.httpd = ThreadingHTTPServer((address, port), handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="dagsync-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


def _make_handler(metrics: Metrics, ready: Callable[[], bool]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
            elif path == "/healthz":
                self._reply(200, "ok\n")
            elif path == "/readyz":
                ok = ready()
                self._reply(200 if ok else 503, "ready\n" if ok else "not ready\n")
            else:
                self._reply(404, "not found\n")

        def _reply(self, status: int, body: str, ctype: str = "text/plain; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler
