"""The demo's process book-keeping: every service runs in its own process group with its own log
file, and is recorded in a pid file, so that Ctrl-C stops exactly what this run started and a
later run can stop what a killed run left behind (and nothing else: a recorded pid counts only
while its start time still matches, so a recycled pid is never signalled)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> bool:
    """Stop a child started with `start_new_session=True` and its whole process group: SIGTERM, wait up
    to `timeout`, then SIGKILL. True when SIGKILL was needed."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
        return False
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return True


def stop_groups(groups: Mapping[str, int], *, timeout: float = 20.0,
                children: Sequence[subprocess.Popen[bytes]] = ()) -> list[str]:
    """SIGTERM every group, wait up to `timeout`, then SIGKILL what is left. Returns the names of
    groups that needed SIGKILL. `children` are this process's own children among them: they are
    reaped while waiting (an unreaped zombie still counts as a member of its group)."""

    def alive(pgid: int) -> bool:
        for child in children:
            child.poll()
        return _group_alive(pgid)

    for pgid in groups.values():
        _signal_group(pgid, signal.SIGCONT)
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in groups.values()):
        time.sleep(0.2)
    killed = [name for name, pgid in groups.items() if alive(pgid)]
    for name in killed:
        _signal_group(groups[name], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(groups[n]) for n in killed):
        time.sleep(0.1)
    return killed


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Starts services in new sessions (one process group each) and records them in `pid_file`."""

    def __init__(self, pid_file: Path, log_dir: Path) -> None:
        self.pid_file = pid_file
        self.log_dir = log_dir
        self.services: dict[str, Service] = {}
        self.adopted: dict[str, int] = {}   # process groups started elsewhere, stopped with the services
        self._lock = threading.Lock()

    def start(self, name: str, cmd: Sequence[str], env: Mapping[str, str], cwd: Path | None = None) -> Service:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(list(cmd), env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        service = Service(name, proc, log_path)
        self.services[name] = service
        self.record(name, proc.pid)
        return service

    def record(self, name: str, pid: int) -> None:
        """Remember a process group (also one started elsewhere, e.g. SeaweedFS) in the pid file."""
        with self._lock:
            entries = read_pid_file(self.pid_file)
            entries[name] = {"pid": pid, "start": start_ticks(pid)}
            self.pid_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.pid_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(entries, indent=1))
            tmp.replace(self.pid_file)

    def adopt(self, name: str, pgid: int) -> None:
        """Stop this process group (a session leader started elsewhere) with the services."""
        self.adopted[name] = pgid
        self.record(name, pgid)

    def dead(self) -> list[Service]:
        return [s for s in self.services.values() if not s.running]

    def stop_all(self, timeout: float = 20.0) -> list[str]:
        """Stop the services in reverse start order; returns those that needed SIGKILL."""
        groups = {name: pgid for name, pgid in self.adopted.items() if _group_alive(pgid)}
        groups.update({name: s.proc.pid for name, s in reversed(list(self.services.items())) if s.running})
        killed = stop_groups(groups, timeout=timeout, children=[s.proc for s in self.services.values()])
        for service in self.services.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.proc.wait(timeout=5)
        return killed


def read_pid_file(pid_file: Path) -> dict[str, dict[str, int | None]]:
    try:
        data = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stop_stale(pid_file: Path) -> list[str]:
    """Stop the process groups a previous run recorded and left running. Returns their names."""
    stale: dict[str, int] = {}
    for name, entry in read_pid_file(pid_file).items():
        pid = entry.get("pid") if isinstance(entry, dict) else None
        if isinstance(pid, int) and pid > 1 and start_ticks(pid) == entry.get("start") and _group_alive(pid):
            stale[name] = pid
    if stale:
        stop_groups(stale, timeout=10)
    pid_file.unlink(missing_ok=True)
    return sorted(stale)
