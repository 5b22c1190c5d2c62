"""Property tests of the sync agent's pure planner: no journal entry is skipped or reported twice,
only a retired release removes a package, unusable manifests are refused (never raised), and a
file plan covers exactly the release's files."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from airflow_dag_publisher.manifest import FileEntry, ReleaseManifest, content_digest
from airflow_dag_publisher.storage import journal_key, journal_prefix, parse_journal_key
from airflow_dag_publisher.sync import planner
from airflow_dag_publisher.sync.planner import Action, JournalState
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = 1500 if os.environ.get("RELIABILITY_SOAK") else 200
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ENV = "dev"
PREFIX = journal_prefix(ENV)
packages = st.sampled_from(["alpha", "beta", "gamma", "a_b", "z9"])
now_ms = st.integers(10**12, 2 * 10**12)


@st.composite
def journal_keys(draw: st.DrawFn, base: int) -> list[str]:
    good = draw(st.lists(st.tuples(st.integers(base - 200_000, base + 200_000), packages), max_size=20))
    keys = [journal_key(ENV, p, ms) for ms, p in good]
    junk = draw(st.lists(st.sampled_from([f"{PREFIX}x-alpha", f"{PREFIX}{base:016d}-Bad-Name", f"{PREFIX}{base}",
                                          f"{PREFIX}{base:016d}-", "_journal/prod/0000000000000001-alpha",
                                          f"{PREFIX}{base:016d}-../x"]), max_size=3))
    return sorted(keys + junk)


@FUZZ
@given(now_ms.flatmap(lambda b: st.tuples(st.just(b), journal_keys(b), journal_keys(b))))
def test_journal_reports_each_entry_once_and_never_skips_one(case: tuple[int, list[str], list[str]]) -> None:
    now, first, second = case
    state = JournalState()
    reported: dict[str, int] = {}
    for batch in (first, first + second, second):
        start = planner.journal_start_after(ENV, state, now)
        listed = [k for k in batch if k > start]  # what ListObjectsV2(StartAfter=start) returns
        for key in batch:
            parsed = parse_journal_key(ENV, key)
            if parsed and state.cursor_ms and parsed[0] >= state.cursor_ms - planner.SKEW_MS:
                assert key in listed, f"{key} is within the skew window but listed after {start}"
        read = planner.read_journal(ENV, listed, state)
        assert read.state.cursor_ms >= state.cursor_ms
        new = {k for k in listed if k not in state.seen and parse_journal_key(ENV, k)}
        assert read.packages == {parse_journal_key(ENV, k)[1] for k in new}  # type: ignore[index]
        for k in new:
            reported[k] = reported.get(k, 0) + 1
        assert set(read.ignored) == {k for k in listed if parse_journal_key(ENV, k) is None}
        state = read.state
    assert all(n == 1 for n in reported.values()), reported


@FUZZ
@given(packages, st.integers(0, 10**16 - 1))
def test_a_journal_key_names_exactly_its_package(package: str, ms: int) -> None:
    assert parse_journal_key(ENV, journal_key(ENV, package, ms)) == (ms, package)


etags = st.sampled_from(['"e1"', '"e2"', '"e3"'])


@FUZZ
@given(st.dictionaries(packages, etags), st.dictionaries(packages, etags), st.dictionaries(packages, etags))
def test_only_changed_unrefused_manifests_are_fetched(listed: dict[str, str], applied: dict[str, str],
                                                      refused: dict[str, str]) -> None:
    wanted = planner.manifests_to_fetch(listed, applied, refused)
    assert wanted == sorted(wanted)
    assert set(wanted) == {p for p, e in listed.items() if applied.get(p) != e and refused.get(p) != e}
    guard = planner.vanished_from_listing(listed, applied, frozenset())
    assert not guard.known & set(listed) and set(applied) <= set(listed) | guard.known


sha = st.binary(min_size=1, max_size=4).map(lambda b: hashlib.sha256(b).hexdigest())
entries = st.lists(st.builds(FileEntry, path=st.sampled_from(["a.py", "b.py", "sql/c.sql", "d/e/f.py"]),
                             sha256=sha, size=st.integers(0, 1000), version_id=st.just("v")),
                   max_size=4, unique_by=lambda e: e.path)


def manifest(package: str, files: list[FileEntry], retired: bool = False) -> ReleaseManifest:
    files = [] if retired else files
    return ReleaseManifest(env=ENV, package=package, release_id="r-" + content_digest(files)[-8:],
                           created_at="2026-11-27T10:15:00Z", files=tuple(sorted(files, key=lambda f: f.path)),
                           retired=retired)


current_release = st.none() | st.builds(lambda f, r: manifest("alpha", f, r), entries, st.booleans())
json_value: Any = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                               lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                           max_size=3), max_leaves=8)


@FUZZ
@given(current_release, entries, st.booleans())
def test_only_a_retired_release_removes_a_package(current: ReleaseManifest | None, files: list[FileEntry],
                                                  retired: bool) -> None:
    m = manifest("alpha", files, retired)
    d = planner.decide("alpha", ENV, '"e"', m.to_json(), current, source="s")
    if d.action is Action.REMOVE:
        assert m.retired and current is not None and not current.retired
    if not m.retired:
        assert d.action in (Action.APPLY, Action.KEEP)
        assert (d.action is Action.KEEP) == (current is not None and not current.retired
                                             and current.content_digest == m.content_digest)
    else:
        assert d.action in (Action.REMOVE, Action.KEEP)


@FUZZ
@given(current_release, st.one_of(st.binary(max_size=200), json_value.map(lambda v: json.dumps(v).encode())))
def test_an_unusable_manifest_is_refused_never_raised(current: ReleaseManifest | None, body: bytes) -> None:
    d = planner.decide("alpha", ENV, '"e"', body, current, source="s3://b/dev/alpha/manifest.json")
    assert d.action is Action.REFUSE and d.reason.startswith("s3://b/dev/alpha/manifest.json")


@FUZZ
@given(entries, st.dictionaries(sha, st.sampled_from(["/held/1", "/held/2"]), max_size=4), st.data())
def test_a_file_plan_covers_exactly_the_release(files: list[FileEntry], held: dict[str, str],
                                                data: st.DataObject) -> None:
    if files and data.draw(st.booleans()):
        held[files[0].sha256] = "/held/0"
    m = manifest("alpha", files)
    plan = planner.plan_files(m, held)
    reused = [e for e, _ in plan.reuse]
    assert sorted(reused + list(plan.download), key=lambda e: e.path) == list(m.files)
    assert all(held[e.sha256] == path for e, path in plan.reuse)
    assert all(e.sha256 not in held for e in plan.download)
    assert plan.download_bytes == sum(e.size for e in plan.download)
    assert planner.release_dir_name(m) == m.release_id  # named by its release id
