"""Property: for any sequence of remote states, after each cycle every package in the DAGs folder is
exactly one complete published release, and after a reconciliation it is the newest usable one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from airflow_dag_publisher.errors import StorageError
from airflow_dag_publisher.storage import manifest_key
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.releases import Layout
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packages.orchestration.tests.sync.support import ENV, MemoryRemote, folder_view, memory_commit, memory_publish

PACKAGES = ["alpha", "beta", "gamma"]
contents = st.dictionaries(st.sampled_from(["a.py", "b.py", "lib/h.py", "sql/q.sql"]),
                           st.sampled_from([b"", b"x = 1\n", b"x = 2\n", b"y" * 100]), min_size=1, max_size=4)
step = st.one_of(
    st.tuples(st.just("publish"), st.sampled_from(PACKAGES), contents, st.booleans()),
    st.tuples(st.just("retire"), st.sampled_from(PACKAGES), st.just({}), st.booleans()),
    st.tuples(st.just("garbage"), st.sampled_from(PACKAGES), st.just({}), st.booleans()),
    st.tuples(st.just("unsafe"), st.sampled_from(PACKAGES), contents, st.booleans()),
    st.tuples(st.just("corrupt"), st.sampled_from(PACKAGES), contents, st.booleans()),
    st.tuples(st.just("vanish"), st.sampled_from(PACKAGES), st.just({}), st.booleans()),
    st.tuples(st.just("outage"), st.sampled_from(PACKAGES), st.just({}), st.booleans()),
)


UNUSABLE = "the current manifest is unusable or gone: the package must stay as it was"


def apply_step(remote: MemoryRemote, kind: str, package: str, files: dict[str, bytes], journal: bool,
               published: dict[str, list[dict[str, bytes]]],
               newest: dict[str, dict[str, bytes] | str | None]) -> None:
    if kind in ("garbage", "unsafe", "corrupt", "vanish"):
        newest[package] = UNUSABLE
    if kind == "publish":
        memory_publish(remote, package, files, journal=journal)
        published.setdefault(package, []).append(files)
        newest[package] = files
    elif kind == "retire":
        memory_publish(remote, package, {}, journal=journal, retired=True)
        newest[package] = None
    elif kind == "garbage":
        memory_commit(remote, package, b"{garbage", journal=journal)
    elif kind == "unsafe":
        manifest = memory_publish(remote, package, files, journal=False)
        raw = json.loads(manifest.to_json())
        raw["files"][0]["path"] = "../../escape.py"
        memory_commit(remote, package, json.dumps(raw).encode(), journal=journal)
    elif kind == "corrupt":  # pins bytes whose sha256 is not the one recorded
        manifest = memory_publish(remote, package, files, journal=False)
        raw = json.loads(manifest.to_json())
        path = raw["files"][0]["path"]
        raw["files"][0]["version_id"] = remote.put(f"{ENV}/{package}/dags/{path}", b"tampered").version_id
        raw["files"][0]["size"] = len(b"tampered")
        memory_commit(remote, package, json.dumps(raw).encode(), journal=journal)
    elif kind == "vanish":
        remote.delete(manifest_key(ENV, package))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(step, st.booleans()), min_size=1, max_size=8))
def test_every_package_is_always_exactly_one_complete_published_release(
        steps: list[tuple[tuple[str, str, dict[str, bytes], bool], bool]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dags = Path(tmp) / "dags"
        remote = MemoryRemote()
        agent = SyncAgent(AgentConfig(bucket="memory", env=ENV, grace_period=0.0), remote, Layout(dags))
        agent.open()
        published: dict[str, list[dict[str, bytes]]] = {}
        newest: dict[str, dict[str, bytes] | str | None] = {}
        try:
            for (kind, package, files, journal), reconcile in steps:
                remote.fail = StorageError("S3 is down") if kind == "outage" else None
                apply_step(remote, kind, package, files, journal, published, newest)
                before = folder_view(dags)
                result = agent.run_cycle(reconcile=reconcile)
                view = folder_view(dags)
                for name, tree in view.items():
                    assert tree in published[name], f"{name} shows files never published together: {tree}"
                assert not any(agent.layout.staging_dir.iterdir())
                assert set(os.listdir(dags)) == set(view) | {".airflowignore"}  # no temporary link left
                if reconcile and result.outcome != "error":
                    for name, files_ in newest.items():
                        if files_ == UNUSABLE:
                            assert view.get(name) == before.get(name), f"{name} changed on an unusable manifest"
                        else:
                            assert view.get(name) == files_, f"{name} is not on its newest usable release"
                assert not (Path(tmp) / "escape.py").exists()
        finally:
            agent.close()
