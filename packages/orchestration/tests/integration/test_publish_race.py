"""Racing publishes of one package: the conditional commit lets exactly one win each round."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devstack.seaweedfs import SeaweedFS

from .helpers import assert_manifest_verifies, current_manifest, write_dag

pytestmark = pytest.mark.usefixtures("s3_env")

PUBLISHERS = 6
ROUNDS = 3


def test_racing_publishes_keep_one_chain_and_a_verifiable_manifest(tmp_path: Path, bucket: str,
                                                                    seaweedfs: SeaweedFS) -> None:
    exe = str(Path(sys.executable).parent / "airflow-dag-publisher")
    sources = []
    for i in range(PUBLISHERS * ROUNDS):
        src = tmp_path / f"src{i}"
        write_dag(src, "alpha", "daily", n=i)
        (src / "helper.py").write_text(f"VERSION = {i}\n")
        sources.append(src)

    def publish(src: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, "publish", "--env", "dev", "--bucket", bucket, "--package", "alpha",
                               "--source", str(src), "--skip-dynamic-validation"],
                              capture_output=True, text=True, env=dict(os.environ), timeout=120, check=False)

    client = seaweedfs.client()
    winners = 0
    for r in range(ROUNDS):
        with ThreadPoolExecutor(PUBLISHERS) as pool:
            results = list(pool.map(publish, sources[r * PUBLISHERS:(r + 1) * PUBLISHERS]))
        codes = [p.returncode for p in results]
        assert set(codes) <= {0, 1}, [p.stderr for p in results]
        assert codes.count(0) >= 1
        for p in results:
            assert "Traceback" not in p.stderr
            if p.returncode == 1:
                assert "committed" in p.stderr and "first" in p.stderr, p.stderr
        winners += codes.count(0)
        print(f"round {r}: exit codes {codes}")
        manifest = current_manifest(client, bucket, "dev", "alpha")
        files = assert_manifest_verifies(client, bucket, manifest)
        # one release never mixes files of two sources
        version = files["helper.py"].decode().split("=")[1].strip()
        assert f"1.0.{version}\"" in files["alpha_daily.py"].decode()

    from airflow_dag_publisher.release_reader import read_history
    from airflow_dag_publisher.storage import Storage

    history, _ = read_history(Storage(bucket), "dev", "alpha")
    assert len(history) == winners
    parents = [m.previous_release_id for m in history]
    assert len(set(parents)) == len(parents), "two releases share a parent"
    for newer, older in itertools.pairwise(history):
        assert newer.previous_release_id == older.release_id
    assert history[-1].previous_release_id is None
