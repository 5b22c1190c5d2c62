"""One parse worker process seen from the parent: start it, send a file, wait for the answer with a
deadline, and kill it when it overruns or dies. Never blocks past a deadline."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

WORKER_MODULE = "airflow_dag_publisher.validators.worker"
STARTUP_SECONDS = 180.0


class WorkerFailure(Exception):
    """The worker did not answer in time, or exited; the message says which."""


@dataclass(frozen=True)
class WorkerSpec:
    config: dict[str, Any]
    env: dict[str, str]
    cwd: Path
    log: Path
    python: str = sys.executable


class Worker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.version = ""
        self._buffer = b""
        with spec.log.open("ab") as log:
            self.proc = subprocess.Popen(  # our own interpreter and module
                [spec.python, "-P", "-m", WORKER_MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log, cwd=spec.cwd, env=spec.env, start_new_session=True)
        try:
            self._write(spec.config)
            hello = self._read(time.monotonic() + STARTUP_SECONDS)
        except WorkerFailure:
            self.kill()
            raise
        if not hello.get("ready"):
            self.kill()
            raise WorkerFailure(str(hello.get("error") or "the worker could not start"))
        self.version = str(hello.get("airflow_version", ""))

    def judge(self, rel: str, seconds: float) -> dict[str, Any]:
        """The worker's answer for one file; WorkerFailure (and a dead worker) past `seconds`."""
        return next(self.judge_many([rel], seconds))

    def judge_many(self, files: list[str], gap_seconds: float) -> Iterator[dict[str, Any]]:
        """The worker's answers for `files`, as each file is judged (in any order); WorkerFailure (and a
        dead worker) when no answer comes within `gap_seconds` of the previous one."""
        try:
            self._write({"files": files})
            for _ in files:
                yield self._read(time.monotonic() + gap_seconds)
        except WorkerFailure:
            self.kill()
            raise

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()

    def close(self) -> None:
        if self.proc.stdin is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def _write(self, doc: dict[str, Any]) -> None:
        stdin: IO[bytes] | None = self.proc.stdin
        if stdin is None:
            raise WorkerFailure("the worker has no input")
        try:
            stdin.write((json.dumps(doc) + "\n").encode())
            stdin.flush()
        except OSError as exc:
            raise WorkerFailure(f"the worker exited ({self._exit_text()})") from exc

    def _read(self, deadline: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        for _ in range(1_000_000):
            if b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                doc: dict[str, Any] = json.loads(line)
                return doc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerFailure("timeout")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.proc.wait(timeout=10)
                    raise WorkerFailure(f"the worker exited ({self._exit_text()})")
                self._buffer += chunk
        raise WorkerFailure("the worker sent too much")

    def _exit_text(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "still running"
        if code < 0:
            return f"killed by signal {-code}"
        return f"exit status {code}"
