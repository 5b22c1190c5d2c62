"""The S3 server stopped and restarted while the agent cycles: no package is lost or torn, the
agent stays up (/healthz), /readyz turns 503 once the last success is older than --ready-max-age
and 200 again after the server returns, and the agent catches up with a release published then.

The agent reaches S3 through a loopback proxy that is stopped (listener closed, open connections
reset: what a dead server looks like to a client) and started again on the same port. Restarting
SeaweedFS itself on its data folder does not work here: it comes back refusing the credentials."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from airflow_dag_publisher.storage import Storage

from devstack.seaweedfs import SeaweedFS
from tests.reliability import figures
from tests.reliability.support import (
    Agent,
    BucketWriter,
    FolderSampler,
    SwitchableProxy,
    release_files,
    token,
    wait_for,
)

pytestmark = pytest.mark.slow

PACKAGES = ("alpha", "beta", "gamma")
INTERVAL = 1.0
READY_MAX_AGE = 3.0
MAX_BACKOFF = 8.0  # the default is 60 s; kept small so the test is short, still > 2 intervals
FAILED_CYCLES = 4  # the server returns right after the agent's 4th failed cycle: the worst phase


@dataclass
class Probe:
    """/readyz and /healthz every 100 ms: (monotonic time, readyz status, healthz status)."""

    agent: Agent
    rows: list[tuple[float, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        end = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < end:
            self.rows.append((time.monotonic(), self.agent.get("/readyz", 3)[0], self.agent.get("/healthz", 3)[0]))
            self._stop.wait(0.1)


@dataclass
class Outage:
    outages: int = 0
    down_at: float = 0.0
    up_at: float = 0.0
    ready_again_at: float | None = None
    caught_up_at: float | None = None
    probe: list[tuple[float, int, int]] = field(default_factory=list)
    sampler: FolderSampler | None = None
    alive: bool = False
    log: str = ""


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    """One outage scenario against a server of its own (the session server is shared)."""
    tmp = tmp_path_factory.mktemp("outage")
    mp = pytest.MonkeyPatch()
    server = SeaweedFS(tmp / "s3")
    server.start()
    proxy = SwitchableProxy(server.s3_port).start()
    try:
        for key, value in server.env().items():
            mp.setenv(key, value)
        bucket = server.create_bucket("outage-dags")
        writer = BucketWriter(Storage(bucket), "dev")  # publishes straight to the server
        mp.setenv("AWS_ENDPOINT_URL", proxy.endpoint)  # the agent goes through the proxy
        for i, p in enumerate(PACKAGES):
            writer.release(p, release_files(p, i + 1, 0b11, pad=1_000))
        dags = tmp / "airflow" / "dags"
        result = Outage()
        with Agent(bucket, "dev", dags, tmp / "agent.log", interval=INTERVAL,
                   extra=("--ready-max-age", str(READY_MAX_AGE), "--max-backoff", str(MAX_BACKOFF),
                          "--s3-timeout", "1", "--reconcile-interval", "5")) as agent:
            assert wait_for(lambda: agent.get("/readyz")[0] == 200, timeout=60), agent.log_text()
            probe = Probe(agent)
            thread = threading.Thread(target=probe.run, daemon=True)
            thread.start()
            sampler = FolderSampler(dags, PACKAGES, period=0.02).start()
            time.sleep(2 * INTERVAL)
            rounds = figures.scale()
            new = ""
            for n in range(rounds):
                result.down_at = time.monotonic()
                errors = agent.metric("dagsync_cycles_total", outcome="error")
                proxy.stop()
                assert wait_for(lambda errors=errors: agent.metric("dagsync_cycles_total", outcome="error")
                                >= errors + FAILED_CYCLES, timeout=60, period=0.05), agent.log_text()[-2000:]
                time.sleep(0.2)
                proxy.start()
                result.up_at = time.monotonic()
                result.outages += 1
                new = token(100 + n, 0b1)
                writer.release("alpha", release_files("alpha", 100 + n, 0b1, pad=1_000))
                ready = wait_for(lambda: any(t > result.up_at and r == 200 for t, r, _ in probe.rows),
                                 timeout=MAX_BACKOFF * 3, period=0.1)
                caught = wait_for(lambda new=new: sampler.seen["alpha"].get(new, 0) > 0,
                                  timeout=MAX_BACKOFF * 3, period=0.05)
                result.ready_again_at = next((t for t, r, _ in probe.rows if t > result.up_at and r == 200), None)
                result.caught_up_at = time.monotonic() if caught else None
                if not (ready and caught) or n == rounds - 1:
                    break
                time.sleep(2 * INTERVAL)
            probe._stop.set()
            thread.join(timeout=10)
            sampler.stop()
            result.alive = agent.alive()
            result.log = agent.log_text()
        result.probe = probe.rows
        result.sampler = sampler
        yield result
    finally:
        proxy.stop()
        mp.undo()
        server.close()


def test_s3_outage_loses_no_package_and_readyz_tells_the_truth(outage: Outage) -> None:
    sampler = outage.sampler
    assert sampler is not None
    stale_by = outage.down_at + READY_MAX_AGE + INTERVAL + 1.5
    # status 0: the probe got no answer in 3 s (a starved machine); counted, not judged
    lied = [(round(t - outage.down_at, 2), r) for t, r, _ in outage.probe
            if stale_by < t < outage.up_at and r not in (503, 0)]
    unhealthy = [(round(t - outage.down_at, 2), h) for t, _, h in outage.probe if h not in (200, 0)]
    unanswered = sum(1 for _, r, h in outage.probe if 0 in (r, h))
    lost = [p for p in PACKAGES if sum(sampler.seen[p].values()) < sampler.samples]
    recovery = (outage.ready_again_at - outage.up_at) if outage.ready_again_at else float("inf")
    catch_up = (outage.caught_up_at - outage.up_at) if outage.caught_up_at else float("inf")
    figures.record("S3 outage",
                   f"{outage.outages} outages ({outage.up_at - outage.down_at:.1f} s, {FAILED_CYCLES} failed cycles), "
                   f"{len(outage.probe):,} /readyz probes "
                   f"({len(lied)} untruthful, {unanswered} unanswered), {sampler.samples:,} folder samples, "
                   f"{len(sampler.torn)} torn, "
                   f"{len(lost)} packages lost, agent up: {outage.alive}; ready again {recovery:.1f} s and the "
                   f"new release in place {catch_up:.1f} s after the server's return (interval {INTERVAL:g} s, "
                   f"--max-backoff {MAX_BACKOFF:g} s)")
    assert outage.alive and unhealthy == [], (unhealthy[:5], outage.log[-2000:])
    assert unanswered <= len(outage.probe) // 20
    assert sampler.torn == [] and lost == [] and sampler.strays == set()
    assert lied == [], lied[:10]
    assert any(r == 503 for t, r, _ in outage.probe if outage.down_at < t < outage.up_at), "never reported stale"
    assert recovery <= MAX_BACKOFF * 2 and catch_up <= MAX_BACKOFF * 2 + INTERVAL


def test_agent_recovers_within_two_intervals_of_the_servers_return(outage: Outage) -> None:
    assert outage.ready_again_at is not None and outage.caught_up_at is not None
    assert outage.ready_again_at - outage.up_at <= 2 * INTERVAL + 0.5
    assert outage.caught_up_at - outage.up_at <= 2 * INTERVAL + 0.5
