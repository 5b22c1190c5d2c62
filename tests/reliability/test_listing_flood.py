"""A package that floods its own prefix (issue 26, attack 6). The reconciliation listing is
`ListObjectsV2(Prefix="<env>/", Delimiter="/d")`: a package's `dags/` files and archive roll into one
common prefix, but any other key under `<env>/<package>/` (one that sorts before or after manifest.json)
used to be listed one by one, so a package could grow every agent's cold start and reconciliation at
will. IAM now lets a package write only the layout's keys (tests/infra/test_iam_matrix.py); this is the
agent's side, against a writer IAM does not stop: the real `airflow-dag-sync --once` costs the same
number of requests (plus at most two for the flooded package) with thousands of junk keys as without,
and still syncs every package, the flooded one included."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from airflow_dag_publisher.storage import Storage

from tests.reliability import figures
from tests.reliability.support import BucketWriter

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("s3_env")]
BIN = Path(sys.executable).parent
JUNK = int(os.environ.get("RELIABILITY_LISTING_JUNK", "3000"))
PACKAGES = ["alpha", "flood", "zulu"]


def cold_once(bucket: str, env: str, dags: Path) -> tuple[int, set[str]]:
    """(requests, packages synced) of a cold `airflow-dag-sync --once`."""
    done = subprocess.run([str(BIN / "airflow-dag-sync"), "--once", "--bucket", bucket, "--env", env, "--dags-dir",
                           str(dags), "--s3-timeout", "5"], capture_output=True, text=True, timeout=300,
                          check=False, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    cycle = re.findall(r"cycle \w+ \[.*requests=(\d+)", done.stderr)
    assert cycle, done.stderr[-3000:]
    return int(cycle[-1]), {p.name for p in dags.iterdir() if p.is_symlink()}


def test_junk_keys_under_a_package_do_not_grow_the_reconciliation(tmp_path: Path, shared_bucket: str,
                                                                   env: str) -> None:
    storage = Storage(shared_bucket)
    w = BucketWriter(storage, env)
    for package in PACKAGES:
        w.release(package, {f"{package}_daily.py": b"V = 1\n"})
    before, synced = cold_once(shared_bucket, env, tmp_path / "before")
    assert synced == set(PACKAGES)

    # what the flooding package writes: keys sorting before its manifest, after it, and below other folders
    names = ([f"{env}/flood/a-{i:06d}" for i in range(JUNK // 2)] + [f"{env}/flood/z-{i:06d}" for i in range(JUNK // 4)]
             + [f"{env}/flood/x{i:05d}/dump" for i in range(JUNK // 4)])
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda key: storage.put(key, b""), names))
    after, synced = cold_once(shared_bucket, env, tmp_path / "after")
    figures.record("listing flood", f"{len(names)} junk keys under one package's prefix: a cold --once took {before} "
                   f"requests before and {after} after, every package synced")
    assert synced == set(PACKAGES)
    assert after <= before + 2, (before, after)
