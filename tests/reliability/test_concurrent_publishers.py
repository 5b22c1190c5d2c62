"""Concurrent publishers on one package and on different packages: every package's history stays
one chain (no two releases share a parent), no release mixes files of two sources, every release
verifies, and only lost races fail (with the conflict error)."""

from __future__ import annotations

import hashlib
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from airflow_dag_publisher.errors import ConflictError
from airflow_dag_publisher.publisher import Publisher, PublishOptions, ReleaseMeta, Validation
from airflow_dag_publisher.release_reader import read_history
from airflow_dag_publisher.sources import LocalFile
from airflow_dag_publisher.storage import Storage, dag_key

from tests.reliability import figures
from tests.reliability.support import chain_problems, current_release, release_files, release_problem, verified_files

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("s3_env")]

RACERS = {"alpha": 4, "beta": 3, "gamma": 1}  # publishers per package in every round
SHORT_ROUNDS = 3
META = ReleaseMeta(published_by="reliability", tool_version="test")
STATIC = PublishOptions(validation=Validation.STATIC)  # the races are about S3, not the Airflow parse


def local_files(files: dict[str, bytes]) -> list[LocalFile]:
    return [LocalFile(p, hashlib.sha256(d).hexdigest(), len(d), d) for p, d in sorted(files.items())]


def test_concurrent_publishers_keep_one_chain_per_package_and_never_mix_files(tmp_path: Path, shared_bucket: str,
                                                                               env: str) -> None:
    rng = random.Random()
    rounds = SHORT_ROUNDS * figures.scale()
    storage = Storage(shared_bucket)
    outcomes: Counter[str] = Counter()
    serial = 0
    lock = threading.Lock()

    def publish(package: str, files: dict[str, bytes], barrier: threading.Barrier) -> str:
        publisher = Publisher(storage, env, package)
        barrier.wait(timeout=60)
        try:
            publisher.publish_files(local_files(files), META, STATIC)
        except ConflictError as exc:
            assert "committed" in str(exc) and "first" in str(exc), exc
            return "lost"
        return "won"

    for _ in range(rounds):
        jobs = []
        for package, n in RACERS.items():
            for _ in range(n):
                with lock:
                    serial += 1
                    jobs.append((package, release_files(package, serial, rng.randrange(16), pad=2_000)))
        barrier = threading.Barrier(len(jobs))
        with ThreadPoolExecutor(len(jobs)) as pool:
            futures = [(package, pool.submit(publish, package, files, barrier)) for package, files in jobs]
            results = [(package, fut.result(timeout=120)) for package, fut in futures]
        for package, result in results:
            outcomes[f"{package} {result}"] += 1
        for package in RACERS:
            assert sum(1 for p, r in results if p == package and r == "won") >= 1, results
            now = current_release(storage, env, package)
            assert now is not None
            assert release_problem(package, verified_files(storage, now)) is None

    releases = mixed = 0
    breaks: list[str] = []
    for package in RACERS:
        count, problems = chain_problems(storage, env, package)
        breaks += [f"{package}: {p}" for p in problems]
        assert count == outcomes[f"{package} won"], (package, count, outcomes)
        history, _ = read_history(storage, env, package)
        for release in history:
            releases += 1
            mixed += release_problem(package, verified_files(storage, release)) is not None
    stale = _pins_noncurrent(storage, env)
    # The next ordinary publish of each package re-pins what the losers overwrote.
    for package in RACERS:
        now = current_release(storage, env, package)
        assert now is not None
        Publisher(storage, env, package).publish_files(local_files(verified_files(storage, now)), META, STATIC)
    repinned = _pins_noncurrent(storage, env)
    assert repinned.startswith("0/"), repinned
    won = sum(n for k, n in outcomes.items() if k.endswith("won"))
    lost = sum(n for k, n in outcomes.items() if k.endswith("lost"))
    figures.record("concurrent publishers",
                   f"{won + lost} publishes in {rounds} rounds of {sum(RACERS.values())} racers on "
                   f"{len(RACERS)} packages: {won} committed, {lost} lost the race cleanly; {releases} releases "
                   f"verified, {mixed} mixed, {len(breaks)} chain breaks; current files pinning a noncurrent "
                   f"version: {stale} after the races, {repinned} after one more publish each")
    assert breaks == [] and mixed == 0


def _pins_noncurrent(storage: Storage, env: str) -> str:
    """How many files of the current releases pin a version that is no longer the live one (the
    lifecycle rule expires noncurrent versions: SECURITY.md R7)."""
    stale = total = 0
    for package in RACERS:
        now = current_release(storage, env, package)
        assert now is not None
        for f in now.files:
            total += 1
            live = storage.head(dag_key(env, package, f.path)).get("VersionId")
            stale += live != f.version_id
    return f"{stale}/{total}"
