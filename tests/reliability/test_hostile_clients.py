"""A network neighbour against the agent's metrics server (issue 26, attack 8): the real `airflow-dag-sync`
process, its server on a loopback port. Hundreds of clients that open a connection and send half a
request (then hold it, or reset it) cost no thread, are closed after the request timeout, leave no
traceback in the log, and never keep /healthz and /readyz from answering."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from airflow_dag_publisher.storage import Storage
from airflow_dag_publisher.sync.health_server import REQUEST_TIMEOUT

from tests.reliability import figures
from tests.reliability.support import Agent, BucketWriter, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("s3_env")]
CLIENTS = 300


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


def half_open(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never the blank line that ends the request
    return s


def closed_by_server(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_half_open_clients_cost_bounded_threads_and_are_closed_quietly(tmp_path: Path, shared_bucket: str,
                                                                       env: str) -> None:
    BucketWriter(Storage(shared_bucket), env).release("good", {"good_daily.py": b"VALUE = 1\n"})
    with Agent(shared_bucket, env, tmp_path / "dags", tmp_path / "agent.log", interval=0.5) as agent:
        assert wait_for(lambda: agent.get("/readyz")[0] == 200, timeout=60), agent.log_text()[-3000:]
        baseline = threads_of(agent.proc.pid)
        held = [half_open(agent.port) for _ in range(CLIENTS)]
        try:
            time.sleep(1.0)
            peak = threads_of(agent.proc.pid)
            started = time.monotonic()
            healthz, readyz = agent.get("/healthz", timeout=3)[0], agent.get("/readyz", timeout=3)[0]
            answer_seconds = time.monotonic() - started
            all_closed = wait_for(lambda: all(closed_by_server(s) for s in held), timeout=REQUEST_TIMEOUT + 10,
                                  period=0.2)
            closed_after = time.monotonic() - started
        finally:
            for s in held:
                s.close()
        # clients that reset their connection mid-request
        for _ in range(CLIENTS // 3):
            s = half_open(agent.port)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        time.sleep(1.0)
        after = threads_of(agent.proc.pid)
        still_ok = agent.get("/metrics")[0] == 200
        log = agent.log_text()
    figures.record("metrics server flood", f"{CLIENTS} half-open clients: threads {baseline} -> {peak}, /healthz "
                   f"and /readyz answered in {answer_seconds:.2f} s, all closed {closed_after:.1f} s later; "
                   f"{CLIENTS // 3} resets; tracebacks in the log: {log.count('Traceback')}")
    assert peak - baseline <= 2, (baseline, peak)
    assert (healthz, readyz) == (200, 200) and answer_seconds < 3
    assert all_closed, "the server kept half-open connections past its request timeout"
    assert after - baseline <= 2 and still_ok
    assert "Traceback" not in log and "Exception occurred during processing" not in log, log[-3000:]
