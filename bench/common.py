"""Shared pieces of the benchmarks: a SeaweedFS with its Prometheus metrics on (the server counts the
S3 requests of every peer, processes included), result rows, medians, the machine description."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devstack.local_env import isolate_process
from devstack.seaweedfs import SeaweedFS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
_REQUEST_COUNT = re.compile(r'^SeaweedFS_s3_request_seconds_count\{(?P<labels>[^}]*)\}\s+(?P<value>[0-9.e+]+)$')


@dataclass
class Row:
    """One measured figure: `values` holds every repetition, the table shows their median."""

    section: str          # sync, publish, validate, airflow
    scenario: str         # e.g. "cold sync", "no-change cycle"
    peer: str             # e.g. "airflow-dag-sync (in-process cycle)"
    unit: str             # s or requests
    values: list[float] = field(default_factory=list)
    reference: str = ""   # the peer this row is compared with (same section and scenario); "" = none
    note: str = ""
    packages: int = 0     # the growth series: how many packages the bucket held

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "median": self.median}


def start_seaweedfs(data_dir: Path) -> SeaweedFS:
    """A SeaweedFS with its metrics on, and this benchmark process pointed at it: os.environ keeps
    none of the caller's AWS settings (devstack.local_env) and gets the server's endpoint and
    credentials, for in-process boto3 and every peer started from here."""
    s3 = SeaweedFS(data_dir, metrics=True, start_timeout=120.0).start()
    isolate_process(s3.env())
    return s3


def server_requests(s3: SeaweedFS, bucket: str) -> int:
    """S3 requests the server has answered for `bucket` since it started (every type)."""
    with urllib.request.urlopen(s3.metrics_url, timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        m = _REQUEST_COUNT.match(line)
        if m and f'bucket="{bucket}"' in m.group("labels"):
            total += float(m.group("value"))
    return int(total)


@contextmanager
def counted(s3: SeaweedFS, bucket: str) -> Iterator[dict[str, float]]:
    """Time a block and count the S3 requests the server saw meanwhile: {'seconds', 'requests'}."""
    out: dict[str, float] = {}
    before = server_requests(s3, bucket)
    start = time.perf_counter()
    yield out
    out["seconds"] = time.perf_counter() - start
    time.sleep(0.05)  # the server records a request's metric when its handler returns
    out["requests"] = server_requests(s3, bucket) - before


def discard(path: Path) -> None:
    """Set a folder aside (renamed, inside the benchmark's temporary directory, which is removed at
    the end) instead of deleting it between measurements. On ext4 without a journal (this machine's
    disk) a file deleted in the last minutes makes every file creation in its block group scan past
    its inode: a sync right after 20,000 deletions paid ~0.8 ms per new file, whichever peer ran."""
    if path.exists():
        path.rename(path.with_name(f".discarded-{uuid.uuid4().hex[:12]}-{path.name}"))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a small sample."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _version(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else "unknown"


def machine() -> dict[str, str]:
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    weed = _version([str(BIN / "weed"), "version"])
    from importlib.metadata import version

    return {
        "cpu": _first("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count()),
        "ram": f"{int(mem_kb) / 1024 / 1024:.1f} GiB" if mem_kb.isdigit() else "unknown",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "airflow": version("apache-airflow"),
        "amazon_provider": version("apache-airflow-providers-amazon"),
        "awscli": version("awscli"),
        "boto3": version("boto3"),
        "seaweedfs": weed.replace("version ", "").strip(),
        "airflow_dag_publisher": version("airflow-dag-publisher"),
        "load_average_at_start": f"{os.getloadavg()[0]:.1f}",
    }


def write_rows(path: str | None, rows: list[Row], extra: dict[str, Any] | None = None) -> None:
    if not path:
        return
    Path(path).write_text(json.dumps({"rows": [r.as_dict() for r in rows], **(extra or {})}, indent=1))


def read_rows(path: Path) -> tuple[list[Row], dict[str, Any]]:
    data = json.loads(path.read_text())
    rows = []
    for d in data.pop("rows"):
        d.pop("median", None)
        rows.append(Row(**d))
    return rows, data


def fmt(value: float, unit: str) -> str:
    if value != value:  # nan
        return "n/a"
    if unit == "requests":
        return f"{value:,.0f}"
    if unit == "s":
        if value < 0.001:
            return f"{1_000_000 * value:.0f} µs"
        if value < 0.1:
            return f"{1000 * value:.1f} ms"
        return f"{value:.2f} s"
    return f"{value:g} {unit}"


def ratio(peer: float, ours: float) -> str:
    if ours != ours or peer != peer:
        return "n/a"
    if ours <= 0:
        return "∞" if peer > 0 else "1×"
    r = peer / ours
    return f"{r:,.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
