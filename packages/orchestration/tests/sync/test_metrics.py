"""The agent's /metrics, /healthz and /readyz as Prometheus and the kubelet read them: the exposition
is parsed with prometheus_client's own text parser, never by string matching."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.health_server import MetricsServer
from airflow_dag_publisher.sync.metrics import Metrics
from airflow_dag_publisher.sync.releases import Layout
from prometheus_client.parser import text_string_to_metric_families

from packages.orchestration.tests.sync.support import ENV, MemoryRemote, memory_commit, memory_publish

CLOCK = 1_764_556_800.123456  # a wall clock with microseconds: 2025-12-01T00:00:00.123456Z


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value, as Prometheus would store it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., tuple[SyncAgent, MetricsServer]]]:
    started: list[tuple[SyncAgent, MetricsServer]] = []

    def start(remote: MemoryRemote, config: AgentConfig | None = None,
              clock: Callable[[], float] = lambda: CLOCK) -> tuple[SyncAgent, MetricsServer]:
        agent = SyncAgent(config or AgentConfig(bucket="memory", env=ENV), remote, Layout(tmp_path / "dags"),
                          metrics=Metrics(), clock=clock)
        agent.open()
        server = MetricsServer(agent.metrics, "127.0.0.1", 0, ready=agent.ready, alive=agent.alive).start()
        started.append((agent, server))
        return agent, server

    yield start
    for agent, server in started:
        agent.stop()
        server.stop()
        agent.close()


def test_last_success_timestamp_is_the_agents_clock_to_the_millisecond(
        served: Callable[..., tuple[SyncAgent, MetricsServer]]) -> None:
    remote = MemoryRemote()
    memory_publish(remote, "alpha", {"a.py": b"a = 1\n"})
    agent, server = served(remote)
    assert agent.run_cycle().outcome == "success"
    samples = scrape(server.port)
    assert abs(samples[("dagsync_last_success_timestamp_seconds", ())] - CLOCK) < 0.001
    assert samples[("dagsync_cycles_total", (("outcome", "success"),))] == 1
    assert samples[("dagsync_cycle_duration_seconds_count", (("outcome", "success"),))] == 1
    assert samples[("dagsync_package_release_info", (("package", "alpha"),
                                                     ("release_id", agent.state.release_ids()["alpha"])))] == 1
    assert samples[("process_resident_memory_bytes", ())] > 0 and ("process_cpu_seconds_total", ()) in samples


def test_a_checksum_refusal_is_counted_as_checksum_whatever_the_file_is_called(
        served: Callable[..., tuple[SyncAgent, MetricsServer]]) -> None:
    remote = MemoryRemote()
    memory_publish(remote, "xpath", {"xpath_utils.py": b"ok = 1\n"})
    manifest = json.loads(memory_publish(remote, "xpath", {"xpath_utils.py": b"ok = 2\n"}, journal=False).to_json())
    tampered = remote.put(f"{ENV}/xpath/dags/xpath_utils.py", b"no = 9\n")  # same size, other bytes
    manifest["files"][0]["version_id"] = tampered.version_id
    agent, server = served(remote)
    memory_commit(remote, "xpath", json.dumps(manifest).encode())
    result = agent.run_cycle()
    assert "sha256" in result.refused["xpath"] and "path" in result.refused["xpath"]  # the text says both
    samples = scrape(server.port)
    assert samples[("dagsync_refused_manifests_total", (("package", "xpath"), ("reason", "checksum")))] == 1
    assert not any(name == "dagsync_refused_manifests_total" and dict(labels)["reason"] != "checksum"
                   for name, labels in samples)


def test_sync_latency_is_observed_for_a_release_committed_while_the_agent_runs(
        served: Callable[..., tuple[SyncAgent, MetricsServer]]) -> None:
    remote = MemoryRemote()
    memory_publish(remote, "old", {"a.py": b"a"})  # committed before the agent started: a cold sync
    agent, server = served(remote, clock=time.time)
    agent.run_cycle()
    assert scrape(server.port)[("dagsync_sync_latency_seconds_count", ())] == 0
    time.sleep(0.3)
    memory_publish(remote, "new", {"b.py": b"b"})
    time.sleep(0.2)
    assert agent.run_cycle().applied == ["new"]
    samples = scrape(server.port)
    assert samples[("dagsync_sync_latency_seconds_count", ())] == 1
    assert 0.2 <= samples[("dagsync_sync_latency_seconds_sum", ())] < 5
    assert samples[("dagsync_sync_latency_seconds_bucket", (("le", "1.0"),))] == 1


class BlockingRemote(MemoryRemote):
    """A remote whose journal listing hangs until released: a stuck S3 connection."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = threading.Event()
        self.release = threading.Event()

    def list_journal(self, env: str, start_after: str | None) -> list[str]:
        if self.hang.is_set():
            self.release.wait(timeout=60)
        return super().list_journal(env, start_after)


def test_healthz_fails_while_the_loop_is_stuck_and_recovers(
        served: Callable[..., tuple[SyncAgent, MetricsServer]]) -> None:
    remote = BlockingRemote()
    config = AgentConfig(bucket="memory", env=ENV, interval=0.1, cycle_timeout=0.3)  # stuck after 0.8 s
    agent, server = served(remote, config, time.time)
    loop = threading.Thread(target=agent.run_forever, daemon=True)
    loop.start()
    deadline = time.monotonic() + 10
    while status(server.port, "/readyz") != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status(server.port, "/healthz") == 200
    remote.hang.set()
    stuck_at = time.monotonic()
    while status(server.port, "/healthz") == 200 and time.monotonic() < stuck_at + 10:
        time.sleep(0.05)
    assert status(server.port, "/healthz") == 503
    assert time.monotonic() - stuck_at >= config.stuck_after - 0.3
    remote.hang.clear()
    remote.release.set()
    deadline = time.monotonic() + 10
    while status(server.port, "/healthz") != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status(server.port, "/healthz") == 200
    agent.stop()
    loop.join(timeout=10)
