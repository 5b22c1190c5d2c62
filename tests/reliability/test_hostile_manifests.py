"""Hostile manifests written straight into the bucket (a tampered bucket, a rogue CI): each is
refused for its own package only, which stays on its last good release; nothing is written outside
the DAGs and state folders; every other package keeps syncing; the agent stays up."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow_dag_publisher.archive import build_archive
from airflow_dag_publisher.manifest import MAX_FILE_SIZE, MAX_MANIFEST_BYTES
from airflow_dag_publisher.storage import Storage, archive_key, make_client
from airflow_dag_publisher.sync.agent import AgentConfig, SyncAgent
from airflow_dag_publisher.sync.releases import AIRFLOWIGNORE, Layout

from packages.orchestration.tests.sync.hostile_archives import HOSTILE_ARCHIVES
from tests.reliability import figures
from tests.reliability.support import Agent, BucketWriter, dump, iter_outside, read_tree, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("s3_env")]

Hostile = Callable[[BucketWriter, str], bytes]
ESCAPE_DIR = Path("/tmp") / f"reliability-escape-{uuid.uuid4().hex[:8]}"


def v1(package: str) -> dict[str, bytes]:
    return {f"{package}_daily.py": f"# {package} v1\nVALUE = 1\n".encode(), "helper.py": b"HELPER = 1\n"}


def _entry(w: BucketWriter, package: str, path: str, data: bytes = b"x = 1\n") -> dict[str, Any]:
    return w.put_file(package, "decoy.py", data) | {"path": path}


def _traversal(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [_entry(w, p, "../../../escape.py")]))


def _dot_dot_inside(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [_entry(w, p, "sql/../../escape.py")]))


def _absolute(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [_entry(w, p, f"{ESCAPE_DIR}/absolute.py")]))


def _dev_zero(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [_entry(w, p, "/dev/zero")]))


def _backslash(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [_entry(w, p, "..\\..\\escape.py")]))


def _huge_size(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [_entry(w, p, "big.py") | {"size": MAX_FILE_SIZE * 1024}]))


def _size_lie(w: BucketWriter, p: str) -> bytes:
    entry = w.put_file(p, "big.py", b"#" * 2_000_000)
    return dump(w.manifest(p, [entry | {"size": 10}]))


def _wrong_sha(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [_entry(w, p, "a.py") | {"sha256": "0" * 64}]))


def _invalid_json(w: BucketWriter, p: str) -> bytes:
    return b'{"schema_version": 1, "files": [ {'


def _empty_body(w: BucketWriter, p: str) -> bytes:
    return b""


def _unknown_schema(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [_entry(w, p, "a.py")], schema_version=3))  # N+2: refused


def _hundred_thousand_files(w: BucketWriter, p: str) -> bytes:
    entry = _entry(w, p, "a.py")
    return dump(w.manifest(p, [entry | {"path": f"f/{i}.py"} for i in range(100_000)]))


def _oversized_manifest(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [_entry(w, p, "a.py")])) + b" " * (MAX_MANIFEST_BYTES + 1)


def _claims_other_package(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest("good", [_entry(w, p, "good_daily.py", b"HIJACK = 1\n")]))


def _pins_other_packages_version(w: BucketWriter, p: str) -> bytes:
    stolen = w.put_file("good", "good_stolen.py", b"STOLEN = 1\n")
    return dump(w.manifest(p, [stolen]))


def _missing_version(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [_entry(w, p, "a.py") | {"version_id": "no-such-version"}]))


def _pin_s3_refuses(w: BucketWriter, p: str) -> bytes:
    """Issue 26: a pin S3 answers 400 for (SeaweedFS: InvalidRequest): refused for this package only."""
    return dump(w.manifest(p, [_entry(w, p, "a.py") | {"version_id": "a/b"}]))


def _pin_not_a_version_id(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [_entry(w, p, "a.py") | {"version_id": "a b\n"}]))


def _retired_with_files(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [_entry(w, p, "a.py")], retired=True))


def _duplicate_paths(w: BucketWriter, p: str) -> bytes:
    e = _entry(w, p, "a.py")
    return dump(w.manifest(p, [e, e]))


REFUSED: dict[str, Hostile] = {
    "h_traversal": _traversal, "h_dot_dot_inside": _dot_dot_inside, "h_absolute": _absolute,
    "h_dev_zero": _dev_zero, "h_backslash": _backslash, "h_huge_size": _huge_size, "h_size_lie": _size_lie,
    "h_wrong_sha": _wrong_sha, "h_invalid_json": _invalid_json, "h_empty_body": _empty_body,
    "h_unknown_schema": _unknown_schema, "h_100k_files": _hundred_thousand_files,
    "h_oversized_manifest": _oversized_manifest, "h_claims_other_package": _claims_other_package,
    "h_pins_other_version": _pins_other_packages_version, "h_missing_version": _missing_version,
    "h_retired_with_files": _retired_with_files, "h_duplicate_paths": _duplicate_paths,
    "h_pin_s3_refuses": _pin_s3_refuses, "h_pin_not_a_version_id": _pin_not_a_version_id,
}
# Windows device names and a relative dev/zero are ordinary file names on Linux: applied, inside the folder.
DEVICE_NAMES = {"con": b"c = 1\n", "nul.py": b"n = 1\n", "aux": b"a = 1\n", "dev/zero": b"z = 1\n",
                "prn/com1.txt": b"p\n"}


def test_hostile_manifests_are_refused_per_package_while_others_sync(tmp_path: Path, shared_bucket: str,
                                                                      env: str) -> None:
    storage = Storage(shared_bucket)
    w = BucketWriter(storage, env)
    packages = ["good", "h_device_names", *REFUSED]
    for p in packages:
        w.release(p, v1(p))
    root = tmp_path / "root"
    dags = root / "airflow" / "dags"
    state = root / "airflow" / ".dagsync-dags"
    with Agent(shared_bucket, env, dags, tmp_path / "agent.log", interval=0.2,
               extra=("--reconcile-interval", "2")) as agent:
        assert wait_for(lambda: all((dags / p).is_symlink() for p in packages), timeout=60), agent.log_text()[-3000:]
        for p, make in REFUSED.items():
            w.commit(p, make(w, p))
        w.release("h_device_names", DEVICE_NAMES)
        good_releases = 0
        for n in (2, 3):
            w.release("good", {"good_daily.py": f"VALUE = {n}\n".encode()})
            assert wait_for(lambda n=n: _read(dags / "good") == {"good_daily.py": f"VALUE = {n}\n".encode()},
                            timeout=60), agent.log_text()[-3000:]
            good_releases += 1

        def all_refused() -> bool:
            return all(agent.metric("dagsync_refused_manifests_total", package=p) >= 1 for p in REFUSED)

        assert wait_for(all_refused, timeout=60, period=0.5), {
            p: agent.metric("dagsync_refused_manifests_total", package=p) for p in REFUSED}
        assert wait_for(lambda: _read(dags / "h_device_names") == DEVICE_NAMES, timeout=60)
        alive = agent.alive()
        healthy = agent.get("/healthz")[0] == 200
        ready = agent.get("/readyz")[0] == 200
        log = agent.log_text()
    held = {p: _read(dags / p) == v1(p) for p in REFUSED}
    escapes = sorted(iter_outside(root, (dags, state)))
    escapes += [str(ESCAPE_DIR)] if ESCAPE_DIR.exists() else []
    escapes += [f"dags/{n}" for n in os.listdir(dags)
                if n != ".airflowignore" and (n not in packages or not (dags / n).is_symlink())]
    escapes += [] if (dags / ".airflowignore").read_text() == AIRFLOWIGNORE else ["dags/.airflowignore changed"]
    escapes += [f"{p}: {real}" for p in packages
                if not (real := Path(os.path.realpath(dags / p))).is_relative_to(state / "releases")]
    device_files_regular = all((dags / "h_device_names" / f).is_file() for f in DEVICE_NAMES)
    figures.record("hostile manifests",
                   f"{len(REFUSED)} hostile manifests, {sum(held.values())} refused with the last good release "
                   f"kept, {len(escapes)} escapes; {len(DEVICE_NAMES)} device-named files applied as plain files; "
                   f"{good_releases} releases of a neighbour applied meanwhile; agent up: {alive}")
    assert alive and healthy and ready, log[-3000:]
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]
    assert {p for p, ok in held.items() if not ok} == set()
    assert escapes == [], escapes
    assert device_files_regular


def _read(link: Path) -> dict[str, bytes] | None:
    try:
        return read_tree(Path(os.path.realpath(link)))
    except OSError:
        return None


# -- manifests that crash the agent's cycle (found by the fuzzers) --------------------------------
def _nested(w: BucketWriter, p: str) -> bytes:
    return b"[" * 100_000 + b"]" * 100_000


def _lone_surrogate(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [_entry(w, p, "\ud800.py")]))


def _long_component(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [w.put_file(p, "x" * 300 + ".py", b"x = 1\n")]))


def _file_and_folder(w: BucketWriter, p: str) -> bytes:
    return dump(w.manifest(p, [w.put_file(p, "a.py", b"a = 1\n"), w.put_file(p, "a.py/b.py", b"b = 1\n")]))


CRASHERS = {
    "nested_json": (_nested, "deeply nested JSON (json.loads would raise RecursionError)"),
    "lone_surrogate": (_lone_surrogate, "a path holding a lone surrogate '\\ud800' (cannot be encoded)"),
    "long_component": (_long_component, "a 300-byte path component (the file system says ENAMETOOLONG)"),
    "file_and_folder": (_file_and_folder, "paths 'a.py' and 'a.py/b.py' (a file is also a folder)"),
}


@pytest.mark.parametrize("kind", sorted(CRASHERS))
def test_a_manifest_that_breaks_the_build_is_refused_for_its_package_only(kind: str, tmp_path: Path,
                                                                          shared_bucket: str, env: str) -> None:
    make, what = CRASHERS[kind]
    storage = Storage(shared_bucket, make_client(connect_timeout=2, read_timeout=5, attempts=1))
    w = BucketWriter(storage, env)
    w.release("a_hostile", v1("a_hostile"))
    w.release("z_good", v1("z_good"))
    agent = SyncAgent(AgentConfig(bucket=shared_bucket, env=env, cycle_timeout=30), storage,
                      Layout(tmp_path / "dags"))
    agent.open()
    try:
        assert sorted(agent.run_cycle(reconcile=True).applied) == ["a_hostile", "z_good"]
        w.commit("a_hostile", make(w, "a_hostile"))
        w.release("z_good", {"z_good_daily.py": b"VALUE = 2\n"})
        result = agent.run_cycle(reconcile=True)
    finally:
        agent.close()
    assert "a_hostile" in result.refused and result.applied == ["z_good"], what
    assert _read(tmp_path / "dags" / "a_hostile") == v1("a_hostile")


# -- hostile release archives, each pinned with its true sha256 and size ---------------------------
def v2_files(package: str) -> dict[str, bytes]:
    return {f"{package}_daily.py": f"# {package} v2\nVALUE = 2\n".encode(), "helper.py": b"HELPER = 2\n",
            "lib/extra.py": b"EXTRA = 2\n"}


def test_hostile_archives_are_refused_per_package_and_nothing_escapes(tmp_path: Path, shared_bucket: str,
                                                                      env: str) -> None:
    """The real agent process: each package holds v1 (files, no archive), then a v2 whose files it holds
    none of is committed with a hostile archive, so the agent fetches the archive. Each is refused for its
    own package with its kind, which stays on v1; a neighbour keeps syncing from real archives."""
    storage = Storage(shared_bucket)
    w = BucketWriter(storage, env)
    hostile = {f"ha_{name}": (make, kind) for name, (make, kind) in HOSTILE_ARCHIVES.items()}
    for p in ["good", *hostile]:
        w.release(p, v1(p))
    root = tmp_path / "root"
    dags = root / "airflow" / "dags"
    state = root / "airflow" / ".dagsync-dags"
    with Agent(shared_bucket, env, dags, tmp_path / "agent.log", interval=0.2,
               extra=("--reconcile-interval", "2")) as agent:
        assert wait_for(lambda: all((dags / p).is_symlink() for p in ["good", *hostile]), timeout=60), \
            agent.log_text()[-3000:]
        for p, (make, _kind) in hostile.items():
            files = v2_files(p)
            w.commit(p, dump(w.manifest(p, [w.put_file(p, path, data) for path, data in sorted(files.items())],
                                        archive=_put_archive(storage, env, p, make(files)))))
        good_v2 = v2_files("good")
        w.commit("good", dump(w.manifest("good", [w.put_file("good", path, data) for path, data in
                                                  sorted(good_v2.items())],
                                         archive=_put_archive(storage, env, "good", build_archive(good_v2.items())))))
        assert wait_for(lambda: _read(dags / "good") == good_v2, timeout=60), agent.log_text()[-3000:]

        def refused(p: str, kind: str) -> bool:
            return agent.metric("dagsync_refused_manifests_total", package=p, reason=kind) >= 1

        assert wait_for(lambda: all(refused(p, kind) for p, (_m, kind) in hostile.items()), timeout=60, period=0.5), {
            p: agent.log_text().count(p) for p, (_m, kind) in hostile.items() if not refused(p, kind)}
        archives = agent.metric("dagsync_archives_downloaded_total")
        alive = agent.alive() and agent.get("/healthz")[0] == 200 and agent.get("/readyz")[0] == 200
        log = agent.log_text()
    held = {p: _read(dags / p) == v1(p) for p in hostile}
    escapes = sorted(iter_outside(root, (dags, state)))
    escapes += [p for p in ("/tmp/dagsync-archive-escape.py",) if os.path.exists(p)]
    staged = sorted(os.listdir(state / "staging"))
    figures.record("hostile archives", f"{len(hostile)} hostile release archives, {sum(held.values())} refused "
                   f"with the last good release kept, {len(escapes)} escapes; {archives:.0f} archives downloaded")
    assert alive, log[-3000:]
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]
    assert {p for p, ok in held.items() if not ok} == set()
    assert escapes == [] and staged == [], (escapes, staged)


def _put_archive(storage: Storage, env: str, package: str, data: bytes) -> dict[str, Any]:
    stored = storage.put(archive_key(env, package), data)
    return {"format": "tar.gz", "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
            "version_id": stored.version_id}


# -- spec-only packages (issue 26): releases that are not exactly what the generator renders ------------
SPEC_ONLY_SPEC = ('package: {p}\nimage: registry.example.com/{p}/jobs:1.0.0\njobs:\n'
                  '  - name: daily\n    schedule: "@daily"\n')


def _generated(package: str, tmp: Path) -> dict[str, bytes]:
    from airflow_dag_publisher.cli.main import main

    folder = tmp / package
    folder.mkdir(parents=True)
    (folder / "jobs.yaml").write_text(SPEC_ONLY_SPEC.format(p=package))
    assert main(["generate", "--spec", str(folder / "jobs.yaml")]) == 0
    return {"jobs.yaml": (folder / "jobs.yaml").read_bytes(),
            f"{package}_daily.py": (folder / "airflow_dags" / f"{package}_daily.py").read_bytes()}


def _spec_hostile(files: dict[str, bytes], p: str) -> dict[str, dict[str, bytes]]:
    daily = files[f"{p}_daily.py"]
    head = daily.partition(b'"""')[0]
    return {
        "hand_written_file": {**files, f"{p}_evil.py": b"import os\nos.system('id')\n"},
        "edited_file": {**files, f"{p}_daily.py": daily.replace(b"catchup=False", b"catchup=bool(id(0))")},
        "header_on_other_code": {**files, f"{p}_daily.py": head + b"import os\nos.system('id')\n"},
        "encoding_declaration": {**files, f"{p}_daily.py": b"# -*- coding: utf-7 -*-\n" + daily},
        "no_spec": {k: v for k, v in files.items() if k != "jobs.yaml"},
        "helper_module": {**files, "helpers.py": b"X = 1\n"},
        "in_a_subfolder": {"jobs.yaml": files["jobs.yaml"], f"sub/{p}_daily.py": daily},
        "zip_for_airflow": {**files, f"{p}_x.zip": b"PK\x05\x06" + b"\x00" * 18},
        "spec_of_another_package": {"jobs.yaml": files["jobs.yaml"].replace(p.encode(), b"other"),
                                    f"{p}_daily.py": daily},
    }


def test_spec_only_packages_refuse_every_release_that_is_not_the_generators(tmp_path: Path, shared_bucket: str,
                                                                          env: str) -> None:
    """The real agent with --packages-file: each spec-only package holds its generated release, then gets
    a hostile one; each is refused (reason not_generated) and stays on its generated files, while a
    spec-only neighbour's next generated release and a package that is not spec-only keep syncing."""
    storage = Storage(shared_bucket)
    w = BucketWriter(storage, env)
    generated = {p: _generated(p, tmp_path / "gen") for p in ("sgood", *(f"s{i}" for i in range(9)))}
    kinds = sorted(_spec_hostile(generated["s0"], "s0"))
    hostile = {f"s{i}": (name, _spec_hostile(generated[f"s{i}"], f"s{i}")[name]) for i, name in enumerate(kinds)}
    packages = tmp_path / "packages.yaml"
    packages.write_text("allowed_registries: [registry.example.com]\npackages:\n"
                        + "".join(f"  - {{name: {p}, spec_only: true}}\n" for p in generated) + "  - name: free\n")
    for p, files in generated.items():
        w.release(p, files)
    w.release("free", v1("free"))
    dags = tmp_path / "dags"
    with Agent(shared_bucket, env, dags, tmp_path / "agent.log", interval=0.2,
               extra=("--reconcile-interval", "2", "--packages-file", str(packages))) as agent:
        assert wait_for(lambda: all(_read(dags / p) == files for p, files in generated.items()), timeout=60), \
            agent.log_text()[-3000:]
        for p, (_name, release) in hostile.items():
            w.release(p, release)
        w.release("free", {"free_daily.py": b"HAND_WRITTEN = 2\n", "helpers.py": b"Y = 2\n"})
        next_good = _generated_with_hourly(tmp_path / "gen2")
        w.release("sgood", next_good)

        def refused(p: str) -> bool:
            return agent.metric("dagsync_refused_manifests_total", package=p, reason="not_generated") >= 1

        assert wait_for(lambda: all(refused(p) for p in hostile), timeout=60, period=0.5), \
            {name: refused(p) for p, (name, _r) in hostile.items()}
        assert wait_for(lambda: _read(dags / "sgood") == next_good, timeout=60), agent.log_text()[-3000:]
        assert wait_for(lambda: _read(dags / "free") == {"free_daily.py": b"HAND_WRITTEN = 2\n",
                                                         "helpers.py": b"Y = 2\n"}, timeout=60)
        alive = agent.alive() and agent.get("/readyz")[0] == 200
        log = agent.log_text()
    held = {name: _read(dags / p) == generated[p] for p, (name, _r) in hostile.items()}
    figures.record("spec-only releases", f"{len(hostile)} hostile releases of spec-only packages, "
                   f"{sum(held.values())} refused with the generated release kept; a generated release and a "
                   "free package's release applied meanwhile")
    assert alive and "Traceback" not in log, log[-3000:]
    assert {name for name, ok in held.items() if not ok} == set()


def _generated_with_hourly(tmp: Path) -> dict[str, bytes]:
    from airflow_dag_publisher.cli.main import main

    folder = tmp / "sgood"
    folder.mkdir(parents=True)
    (folder / "jobs.yaml").write_text(SPEC_ONLY_SPEC.format(p="sgood") + "  - name: hourly\n    schedule: '@hourly'\n")
    assert main(["generate", "--spec", str(folder / "jobs.yaml")]) == 0
    return {"jobs.yaml": (folder / "jobs.yaml").read_bytes(),
            **{p.name: p.read_bytes() for p in (folder / "airflow_dags").iterdir()}}


# -- replays (issue 26): an older release, or an older retirement, put back as the current one --------
def test_replayed_releases_and_retirements_are_refused_by_a_warm_agent(tmp_path: Path, shared_bucket: str,
                                                                       env: str) -> None:
    """The real agent: each package holds its second release; then its first release's bytes, a
    tombstone older than it, or a release that claims to follow another one come back as current. Each
    is refused (reason replay) for its package, which keeps its second release; a neighbour syncs."""
    storage = Storage(shared_bucket)
    w = BucketWriter(storage, env)
    packages = ["rp_copy", "rp_tombstone", "rp_fork"]
    first: dict[str, bytes] = {}
    for p in [*packages, "good"]:
        one = w.manifest(p, [w.put_file(p, f"{p}_daily.py", b"V = 1\n")], release_id=f"{p}-1", sequence=1)
        first[p] = dump(one)
        w.commit(p, first[p])
        w.commit(p, dump(w.manifest(p, [w.put_file(p, f"{p}_daily.py", b"V = 2\n")], release_id=f"{p}-2",
                                    previous_release_id=f"{p}-1", sequence=2)))
    dags = tmp_path / "dags"
    v2 = {"rp_copy_daily.py": b"V = 2\n"}
    with Agent(shared_bucket, env, dags, tmp_path / "agent.log", interval=0.2,
               extra=("--reconcile-interval", "1")) as agent:
        assert wait_for(lambda: _read(dags / "rp_copy") == v2, timeout=60), agent.log_text()[-3000:]
        w.commit("rp_copy", first["rp_copy"])
        w.commit("rp_tombstone", dump(w.manifest("rp_tombstone", [], release_id="rp_tombstone-t", retired=True,
                                                 previous_release_id="rp_tombstone-1", sequence=2)))
        w.commit("rp_fork", dump(w.manifest("rp_fork", [w.put_file("rp_fork", "rp_fork_daily.py", b"V = 3\n")],
                                            release_id="rp_fork-3", previous_release_id="rp_fork-x", sequence=3)))
        w.commit("good", dump(w.manifest("good", [w.put_file("good", "good_daily.py", b"V = 3\n")],
                                         release_id="good-3", previous_release_id="good-2", sequence=3)))

        def refused(p: str) -> bool:
            return agent.metric("dagsync_refused_manifests_total", package=p, reason="replay") >= 1

        assert wait_for(lambda: all(refused(p) for p in packages), timeout=60, period=0.5), \
            {p: refused(p) for p in packages}
        assert wait_for(lambda: _read(dags / "good") == {"good_daily.py": b"V = 3\n"}, timeout=60)
        log = agent.log_text()
    held = {p: _read(dags / p) == {f"{p}_daily.py": b"V = 2\n"} for p in packages}
    figures.record("replays", f"{len(packages)} replayed releases or retirements, {sum(held.values())} refused with "
                   "the newer release kept; a neighbour's next release applied meanwhile")
    assert "Traceback" not in log
    assert {p for p, ok in held.items() if not ok} == set()
