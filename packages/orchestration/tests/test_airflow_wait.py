"""The pure half of `publish --wait` (live.judge) and the bounds of its loop, without a server.
The same logic against the demo's real Airflow: tests/demo/test_release_live.py."""

from __future__ import annotations

from typing import Any

import pytest
from airflow_dag_publisher.airflow_api import AirflowApiError, Credentials, DagInfo, ImportErrorInfo
from airflow_dag_publisher.airflow_wait import (
    Expectation,
    Observation,
    Outcome,
    as_airflow_reads,
    judge,
    wait_until_live,
)
from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.manifest import FileEntry, ReleaseManifest

COMMIT = 1_000_000.0
NEW = "print('new')\r\n"
OLD = "print('old')\n"


def manifest(release_id: str, dag_ids: tuple[str, ...], paths: tuple[str, ...]) -> ReleaseManifest:
    files = tuple(FileEntry(p, f"{i:064x}", 10, f"v{i}") for i, p in enumerate(paths))
    return ReleaseManifest(env="dev", package="alpha", release_id=release_id, created_at="2026-01-01T00:00:00Z",
                           files=files, dag_ids=dag_ids)


PREVIOUS = manifest("r1", ("alpha_daily", "alpha_weekly"), ("alpha_daily.py", "alpha_weekly.py"))
RELEASE = manifest("r2", ("alpha_daily",), ("alpha_daily.py", "helpers.py"))
EXP = Expectation.of(RELEASE, PREVIOUS, COMMIT)


def dag(dag_id: str = "alpha_daily", *, parsed: float | None = COMMIT + 5, stale: bool = False,
        fileloc: str = "alpha/alpha_daily.py") -> DagInfo:
    return DagInfo(dag_id, stale, parsed, fileloc, False)


def observe(dags: dict[str, DagInfo | None], source: str | None = NEW,
            errors: tuple[ImportErrorInfo, ...] = ()) -> Observation:
    return Observation(dags, {"alpha_daily": source}, {"alpha_daily.py": as_airflow_reads(NEW.encode())}, errors)


def test_expectation_knows_the_removed_dag_ids_and_the_release_paths() -> None:
    assert EXP.dag_ids == ("alpha_daily",) and EXP.removed == ("alpha_weekly",)
    assert EXP.path_of("alpha/helpers.py") == "helpers.py"
    assert EXP.path_of("alpha/alpha_weekly.py") is None and EXP.path_of("beta/alpha_daily.py") is None
    assert Expectation.of(RELEASE, manifest("r0", ("alpha_x",), ()).with_changes(retired=True), 0).removed == ()


def test_live_needs_a_parse_after_the_commit_of_the_releases_text_and_the_removed_dag_gone() -> None:
    assert judge(EXP, observe({"alpha_daily": dag(), "alpha_weekly": None})).live
    assert judge(EXP, observe({"alpha_daily": dag(), "alpha_weekly": dag("alpha_weekly", stale=True)})).live


@pytest.mark.parametrize(("dags", "source", "reason"), [
    ({"alpha_daily": None}, NEW, "alpha_daily: not known to Airflow yet"),
    ({"alpha_daily": dag(stale=True)}, NEW, "alpha_daily: stale in Airflow"),
    ({"alpha_daily": dag(parsed=COMMIT - 1)}, NEW, "alpha_daily: last parsed 1970-01-12T13:46:39.000Z, before"),
    ({"alpha_daily": dag(parsed=None)}, NEW, "alpha_daily: last parsed never"),
    ({"alpha_daily": dag(fileloc="alpha/old_name.py")}, NEW, "from alpha/old_name.py, not a file of release r2"),
    ({"alpha_daily": dag()}, OLD, "not release r2's (the sync agent has not swapped the release in yet)"),
    ({"alpha_daily": dag()}, None, "Airflow has no stored source for it yet"),
    ({"alpha_daily": dag(), "alpha_weekly": dag("alpha_weekly")}, NEW,
     "alpha_weekly: removed by release r2 but Airflow still lists it"),
])
def test_pending_until_each_condition_holds(dags: dict[str, DagInfo | None], source: str | None,
                                            reason: str) -> None:
    verdict = judge(EXP, observe(dags, source))
    assert not verdict.live and not verdict.failures
    assert any(reason in p for p in verdict.pending), verdict.pending


def test_an_import_error_of_a_release_file_after_the_commit_fails_it_and_older_or_foreign_ones_do_not() -> None:
    fresh = ImportErrorInfo("alpha/helpers.py", COMMIT + 1, "ModuleNotFoundError: No module named 'x'")
    stale = ImportErrorInfo("alpha/alpha_daily.py", COMMIT - 1, "old error")
    removed_file = ImportErrorInfo("alpha/alpha_weekly.py", COMMIT + 1, "a file this release removed")
    other = ImportErrorInfo("alpha_ext/alpha_daily.py", COMMIT + 1, "another package")
    ok = observe({"alpha_daily": dag()}, errors=(stale, removed_file, other))
    assert judge(EXP, ok).live
    failed = judge(EXP, observe({"alpha_daily": None}, errors=(fresh, stale)))
    assert failed.failures == (fresh,) and not failed.live


def test_an_import_error_from_the_replaced_releases_folder_after_the_commit_does_not_fail_it() -> None:
    """A rollback committed right after a broken release: Airflow parses the broken release's folder
    once more (the parse requests' second round) before the agent swaps the rollback in."""
    old = ImportErrorInfo("alpha/alpha_daily.py", COMMIT + 1, 'File "/s/releases/alpha/r1/alpha/alpha_daily.py"')
    ours = ImportErrorInfo("alpha/alpha_daily.py", COMMIT + 2, 'File "/s/releases/alpha/r2/alpha/alpha_daily.py"')
    folder = ImportErrorInfo("alpha/alpha_daily.py", COMMIT + 3, 'File "/dags/alpha/alpha_daily.py"')
    assert EXP.replaces == "r1"
    assert judge(EXP, observe({"alpha_daily": dag()}, errors=(old,))).live
    assert judge(EXP, observe({"alpha_daily": None}, errors=(old, ours))).failures == (ours,)
    assert judge(EXP, observe({"alpha_daily": None}, errors=(folder,))).failures == (folder,)
    other_package = ImportErrorInfo("alpha/alpha_daily.py", COMMIT + 1, 'File "/s/releases/alpha_x/r1/a.py"')
    assert judge(EXP, observe({"alpha_daily": None}, errors=(other_package,))).failures == (other_package,)


class FakeApi:
    """Answers from a script: one DagInfo per poll (or an exception), no import errors."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.polls = 0

    def dag(self, dag_id: str) -> DagInfo | None:
        if dag_id != "alpha_daily":
            return None
        answer = self.answers[min(self.polls, len(self.answers) - 1)]
        self.polls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    def dag_source(self, dag_id: str) -> str:
        return NEW

    def import_errors(self, prefix: str = "") -> list[ImportErrorInfo]:
        return []


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_wait_survives_an_api_that_does_not_answer_and_ends_live() -> None:
    clock = Clock()
    api = FakeApi([AirflowApiError("down"), dag(parsed=COMMIT - 5), dag()])
    result = wait_until_live(api, EXP, lambda f: NEW.encode(), timeout=60, interval=2,  # type: ignore[arg-type]
                             clock=clock, sleep=clock.sleep)
    assert result.outcome is Outcome.LIVE and result.polls == 3 and result.seconds == 4


def test_the_wait_is_bounded_by_its_timeout_and_keeps_the_last_reason() -> None:
    clock = Clock()
    api = FakeApi([dag(parsed=COMMIT - 5)])
    result = wait_until_live(api, EXP, lambda f: NEW.encode(), timeout=10, interval=3,  # type: ignore[arg-type]
                             clock=clock, sleep=clock.sleep)
    assert result.outcome is Outcome.TIMEOUT
    assert result.polls == 4 and clock.now == 9
    assert "before the commit" in result.verdict.pending[0]


def test_credentials_come_from_a_token_or_a_username_and_password() -> None:
    assert Credentials.from_environ({"AIRFLOW_API_TOKEN": "t"}).token == "t"
    both = Credentials.from_environ({"AIRFLOW_API_USERNAME": "u", "AIRFLOW_API_PASSWORD": "p"})
    assert (both.username, both.password, both.token) == ("u", "p", None)
    with pytest.raises(UsageError, match="AIRFLOW_API_PASSWORD is not set"):
        Credentials.from_environ({"AIRFLOW_API_USERNAME": "u"})
    with pytest.raises(UsageError, match="no Airflow API credentials"):
        Credentials.from_environ({})
