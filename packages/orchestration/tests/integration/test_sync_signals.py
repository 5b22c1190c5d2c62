"""`airflow-dag-sync --once` as an init container runs it: PID 1 of its own PID namespace, where a
signal without a handler is ignored. SIGTERM mid-download must end it within 2 s, non-zero, with the
DAGs folder still on complete releases."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from airflow_dag_publisher.storage import Storage

from devstack.seaweedfs import SeaweedFS
from packages.orchestration.tests.sync.support import DirectPublisher, folder_view

pytestmark = pytest.mark.slow
SYNC = str(Path(sys.executable).parent / "airflow-dag-sync")


class ThrottledProxy:
    """A loopback TCP proxy to S3 that passes the server's answers at `rate` bytes per second: a slow
    download that is still in flight when the signal comes."""

    def __init__(self, upstream_port: int, rate: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.rate = rate
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, self.rate), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, rate: int | None) -> None:
        with contextlib.suppress(OSError):
            while not self.stopped.is_set():
                data = src.recv(4096)
                if not data:
                    break
                dst.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.close()

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(shutil.which("unshare") is None, reason="util-linux unshare is not installed")
def test_once_as_pid_1_stops_within_2_s_of_sigterm_mid_download(seaweedfs: SeaweedFS, s3_env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    bucket = seaweedfs.create_bucket(f"sig-{uuid.uuid4().hex[:12]}")
    env = "dev"
    publisher = DirectPublisher(Storage(bucket), env)
    dags = tmp_path / "dags"
    flags = ["--once", "--bucket", bucket, "--env", env, "--dags-dir", str(dags)]
    publisher.publish("alpha", {"a.py": b"a = 1\n"})
    first = subprocess.run([SYNC, *flags], capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == 0, first.stderr
    publisher.publish("alpha", {"a.py": b"a = 2\n", "data/big.bin": os.urandom(8 << 20)})
    proxy = ThrottledProxy(seaweedfs.s3_port, rate=512 << 10)  # 8 MiB would take 16 s
    staging = tmp_path / ".dagsync-dags" / "staging"
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", SYNC, *flags],
                            env={**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"},
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        downloading = False
        while not downloading and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            downloading = any(p.is_file() and p.stat().st_size > 0 for p in staging.rglob("big.bin"))
        assert downloading, "the download never started"
        (init,) = children(proc.pid)  # PID 1 of the new namespace, seen from here
        nspid = next(line for line in Path(f"/proc/{init}/status").read_text().splitlines()
                     if line.startswith("NSpid:"))
        assert nspid.split()[-1] == "1", nspid
        sent = time.monotonic()
        os.kill(init, signal.SIGTERM)
        code = proc.wait(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proxy.stop()
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    print(f"--once as PID 1 stopped {elapsed:.2f} s after SIGTERM, exit {code}")
    assert elapsed < 2.0, f"took {elapsed:.2f} s to stop"
    assert code == 128 + signal.SIGTERM, (code, err[-2000:])
    assert "interrupted by SIGTERM" in err and "Traceback" not in err
    assert folder_view(dags) == {"alpha": {"a.py": b"a = 1\n"}}  # still the complete first release
    assert not any(staging.iterdir())
