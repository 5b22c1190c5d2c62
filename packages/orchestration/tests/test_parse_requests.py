"""The parse-requests bundle: which packages changed (the agent's links), which files are requested
(every DAG file of a changed package, by Airflow's own listing rules), when a request is written again,
and that nothing is lost when the database refuses a write. The end-to-end behaviour with a real
dag-processor is in tests/e2e/test_parse_what_changed.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from airflow_dag_publisher import parse_requests
from airflow_dag_publisher.parse_requests import (
    LISTING,
    ParseRequest,
    ParseRequestBundle,
    changed_packages,
    dag_files,
    package_links,
    plan_requests,
)

DAG = "from airflow.sdk import DAG\n\nwith DAG('x', schedule=None):\n    pass\n"
HELPER = "VALUE = 1\n"


def release(root: Path, package: str, name: str, files: dict[str, str]) -> Path:
    folder = root / "state" / package / name
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    return folder


def link(dags: Path, package: str, target: Path) -> None:
    tmp = dags / f".{package}.tmp"
    os.symlink(os.path.relpath(target, dags), tmp)
    os.replace(tmp, dags / package)


def test_changed_packages_are_the_new_the_swapped_and_the_gone() -> None:
    before = {"alpha": "r/alpha/1", "beta": "r/beta/1", "gamma": "r/gamma/1"}
    after = {"alpha": "r/alpha/1", "beta": "r/beta/2", "delta": "r/delta/1"}
    assert changed_packages(before, after) == ["beta", "delta", "gamma"]
    assert changed_packages(after, after) == []


def test_every_dag_file_of_a_changed_package_is_requested_and_a_gone_package_lists_the_bundle() -> None:
    files = {"alpha": ["b.py", "a.py", "sub/c.py"], "gone": None, "empty": []}
    got = plan_requests(["alpha", "empty", "gone"], files.get)
    assert got == [ParseRequest("dags-folder", "alpha/a.py"), ParseRequest("dags-folder", "alpha/b.py"),
                   ParseRequest("dags-folder", "alpha/sub/c.py"), ParseRequest("dags-folder", f"empty/{LISTING}"),
                   ParseRequest("dags-folder", f"gone/{LISTING}")]
    assert plan_requests(["alpha"], files.get, bundle="alpha")[0] == ParseRequest("alpha", "alpha/a.py")


def test_package_links_are_the_agents_links_only(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    link(dags, "alpha", release(tmp_path, "alpha", "1", {"a.py": DAG}))
    os.symlink("nowhere", dags / ".beta.dagsync-tmp-123")  # the agent's temporary link
    (dags / "loose").mkdir()  # not a link
    os.symlink("nowhere", dags / "Not-A-Package")
    assert package_links(dags) == {"alpha": os.readlink(dags / "alpha")}


def test_dag_files_follow_airflows_listing_rules(tmp_path: Path) -> None:
    folder = release(tmp_path, "alpha", "1", {"a_dag.py": DAG, "helpers.py": HELPER, "sub/b_dag.py": DAG,
                                              "skipped/c_dag.py": DAG, "notes.md": DAG,
                                              ".airflowignore": "skipped/\n"})
    assert dag_files(folder) == ["a_dag.py", "sub/b_dag.py"]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[ParseRequest]] = []
        self.fail = False

    def __call__(self, requests: list[ParseRequest]) -> None:
        if self.fail:
            raise RuntimeError("database is locked")
        self.calls.append(list(requests))


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(parse_requests, "write_requests", rec)
    monkeypatch.setattr(parse_requests, "active_bundles", lambda names: set())  # the DAGs folder's bundle
    return rec


def bundle(dags: Path, retry: float = 60.0) -> ParseRequestBundle:
    b = ParseRequestBundle(name="dagsync-parse-requests", dags_folder=str(dags), retry=retry, refresh_interval=1)
    b.initialize()
    return b


def test_a_swap_requests_every_dag_file_of_the_package_once_and_again_later(
        tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    link(dags, "alpha", release(tmp_path, "alpha", "1", {"a.py": DAG, "b.py": DAG, "helpers.py": HELPER}))
    link(dags, "beta", release(tmp_path, "beta", "1", {"x.py": DAG}))
    clock = [1000.0]
    monkeypatch.setattr(parse_requests.time, "monotonic", lambda: clock[0])
    feed = bundle(dags, retry=7)
    assert feed.path.is_dir() and not any(feed.path.iterdir())
    assert feed.get_current_version() == parse_requests.VERSION

    feed.refresh()  # the first look only remembers what is there
    feed.refresh()
    assert recorder.calls == []

    link(dags, "alpha", release(tmp_path, "alpha", "2", {"a.py": DAG, "b.py": DAG, "helpers.py": HELPER + "#\n"}))
    feed.refresh()
    wanted = [ParseRequest("dags-folder", "alpha/a.py"), ParseRequest("dags-folder", "alpha/b.py")]
    assert recorder.calls == [wanted]
    clock[0] += 6
    feed.refresh()
    assert len(recorder.calls) == 1
    clock[0] += 2
    feed.refresh()
    assert recorder.calls == [wanted, wanted]  # again, once
    clock[0] += 60
    feed.refresh()
    assert len(recorder.calls) == 2


def test_requests_the_database_refused_are_written_at_the_next_refresh(tmp_path: Path, recorder: Recorder) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    feed = bundle(dags)
    feed.refresh()
    link(dags, "alpha", release(tmp_path, "alpha", "1", {"a.py": DAG}))
    recorder.fail = True
    feed.refresh()
    assert recorder.calls == []
    recorder.fail = False
    feed.refresh()
    assert recorder.calls == [[ParseRequest("dags-folder", "alpha/a.py")]]
    feed.refresh()
    assert len(recorder.calls) == 1


def test_a_retired_package_makes_airflow_list_the_folder(tmp_path: Path, recorder: Recorder) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    link(dags, "alpha", release(tmp_path, "alpha", "1", {"a.py": DAG}))
    feed = bundle(dags)
    feed.refresh()
    (dags / "alpha").unlink()
    feed.refresh()
    assert recorder.calls == [[ParseRequest("dags-folder", f"alpha/{LISTING}")]]


def test_the_dags_folder_defaults_to_airflows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow import settings

    monkeypatch.setattr(settings, "DAGS_FOLDER", str(tmp_path))
    assert ParseRequestBundle(name="dagsync-parse-requests").dags_folder == tmp_path


def test_per_package_bundles_are_refreshed_before_their_files_are_requested(
        tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """A release bundle's path is its release: a file request claimed before Airflow refreshed the
    bundle would be parsed from the previous release. So a listing request first, the files once
    Airflow has claimed it."""
    dags = tmp_path / "dags"
    dags.mkdir()
    # the agent's release layout: <state>/releases/<package>/<release id>/<package>/<files>
    link(dags, "alpha", release(tmp_path, "alpha", "1", {"alpha/a.py": DAG}) / "alpha")
    held: set[ParseRequest] = set()
    monkeypatch.setattr(parse_requests, "pending_requests", lambda bundles: {r for r in held if r.bundle in bundles})
    feed = ParseRequestBundle(name="dagsync-parse-requests", dags_folder=str(dags), target_bundle="<package>",
                              retry=60, refresh_interval=1)
    feed.refresh()
    link(dags, "alpha", release(tmp_path, "alpha", "2", {"alpha/a.py": DAG, "alpha/b.py": DAG}) / "alpha")
    feed.refresh()
    listing = ParseRequest("alpha", f"alpha/{LISTING}")
    assert recorder.calls == [[listing]]
    held.add(listing)  # Airflow has not claimed it yet
    feed.refresh()
    assert recorder.calls == [[listing]]
    held.clear()  # claimed: the bundle is refreshed
    feed.refresh()
    assert recorder.calls[-1] == [ParseRequest("alpha", "alpha/a.py"), ParseRequest("alpha", "alpha/b.py")]
    feed.refresh()
    assert len(recorder.calls) == 2


def test_a_package_with_its_own_active_bundle_is_refreshed_first_the_others_go_to_the_folder(
        tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    link(dags, "alpha", release(tmp_path, "alpha", "1", {"alpha/a.py": DAG}) / "alpha")
    link(dags, "beta", release(tmp_path, "beta", "1", {"b.py": DAG}))
    lookups: list[list[str]] = []
    answer: set[str] | Exception = {"alpha"}

    def active(names: list[str]) -> set[str]:
        lookups.append(sorted(names))
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(parse_requests, "active_bundles", active)
    monkeypatch.setattr(parse_requests, "pending_requests", lambda bundles: set())
    feed = bundle(dags)
    feed.refresh()
    link(dags, "alpha", release(tmp_path, "alpha", "2", {"alpha/a.py": DAG}) / "alpha")
    link(dags, "beta", release(tmp_path, "beta", "2", {"b.py": DAG}))
    answer = RuntimeError("database is locked")
    feed.refresh()
    assert recorder.calls == []  # nothing decided: asked again at the next refresh
    answer = {"alpha"}
    feed.refresh()
    assert lookups == [["alpha", "beta"], ["alpha", "beta"]]
    assert recorder.calls == [[ParseRequest("alpha", f"alpha/{LISTING}"), ParseRequest("dags-folder", "beta/b.py")]]
    feed.refresh()  # the listing request was claimed: alpha's files now
    assert recorder.calls[-1] == [ParseRequest("alpha", "alpha/a.py")]


def test_a_settled_folder_is_read_with_one_stat_and_a_swap_after_it_is_still_seen(
        tmp_path: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    link(dags, "alpha", release(tmp_path, "alpha", "1", {"a.py": DAG}))
    settled = (dags.stat().st_mtime_ns - 10 * parse_requests.SETTLED_NS) / 1e9
    os.utime(dags, (settled, settled))  # last changed well before the looks below
    scans: list[Path] = []
    real = parse_requests.package_links
    monkeypatch.setattr(parse_requests, "package_links", lambda folder: scans.append(folder) or real(folder))
    feed = bundle(dags)
    for _ in range(5):
        feed.refresh()
    assert len(scans) == 1 and recorder.calls == []  # one listing, then a stat per refresh

    link(dags, "alpha", release(tmp_path, "alpha", "2", {"a.py": DAG, "b.py": DAG}))  # a rename in the folder
    feed.refresh()
    assert len(scans) == 2
    assert recorder.calls == [[ParseRequest("dags-folder", "alpha/a.py"), ParseRequest("dags-folder", "alpha/b.py")]]
    feed.refresh()  # changed under 2 s ago: listed again, since a change in the same tick would keep its times
    assert len(scans) == 3 and len(recorder.calls) == 1
