"""Knowing that a committed release is live in Airflow (`publish --wait`), and taking the package
back to its previous release when Airflow could not import it (`--rollback-on-failure`).

The signal, per dag_id of the release (all four must hold):
  1. Airflow's DAG table knows the dag_id and it is not stale;
  2. its `last_parsed_time` is at or after the commit;
  3. its file (`relative_fileloc`, `<package>/<path>`) is a file of the release;
  4. the DAG file's text Airflow stored at that parse (`GET /api/v2/dagSources/{dag_id}`, the
     dag-processor's DagCode, rewritten at every parse whose file text changed) is the release's
     bytes of that file, read from the bucket by the version the manifest pins.
(4) is what tells "parsed from the new release's files" from "parsed from the previous one": a
parse that ran after the commit but before the sync agent swapped the release in still stores the
previous text. (2) covers a release whose DAG file did not change (only a module it imports did):
there the text is the same in both releases and a parse after the commit is the best evidence the
API offers. A dag_id the previous release had and this one does not must be unknown to Airflow or
stale. An import error recorded for a file of the release (`/api/v2/importErrors`, filename under
`<package>/`) with a timestamp at or after the commit fails the release, with Airflow's own text,
unless its traceback names the agent's folder of the release this one replaces: with release
bundles the parse-requests process has Airflow parse a package again a few seconds after a swap, and
that parse of the old release can come after this commit (a rollback right after a failed release).
Times compare the publisher's clock with the dag-processor's: both are assumed NTP-synchronised.

`judge` is pure; `wait_until_live` polls Airflow (bounded in time and count) and asks `judge`;
`confirm` adds the rollback.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_dag_publisher.airflow_api import AirflowApi, AirflowApiError, DagInfo, ImportErrorInfo
from airflow_dag_publisher.errors import DagPublisherError, ErrorKind
from airflow_dag_publisher.manifest import FileEntry, ReleaseManifest
from airflow_dag_publisher.publisher import Publisher, PublishResult, ReleaseMeta
from airflow_dag_publisher.release_reader import find_release, read_file

DEFAULT_WAIT = 300.0
POLL_INTERVAL = 3.0


@dataclass(frozen=True)
class Expectation:
    """What Airflow must show for `release_id` of `package` to be live."""

    package: str
    release_id: str
    committed_at: float
    dag_ids: tuple[str, ...]
    removed: tuple[str, ...]
    files: Mapping[str, FileEntry]
    replaces: str | None = None  # the release this one replaces (its parses after the commit are not ours)

    @classmethod
    def of(cls, manifest: ReleaseManifest, previous: ReleaseManifest | None, committed_at: float) -> Expectation:
        keep = set(manifest.dag_ids)
        removed = tuple(sorted(d for d in (previous.dag_ids if previous and not previous.retired else ())
                               if d not in keep))
        return cls(manifest.package, manifest.release_id, committed_at, tuple(sorted(keep)), removed,
                   manifest.file_map(), previous.release_id if previous else None)

    def parsed_other_release(self, error: ImportErrorInfo) -> bool:
        """The error's traceback names the agent's folder of the release this one replaces
        (`.../releases/<package>/<release_id>/`, the path a release bundle parses): Airflow parsed
        the old release's bytes again after this commit, before the agent swapped this one in."""
        if not self.replaces or self.replaces == self.release_id:
            return False
        return f"/releases/{self.package}/{self.replaces}/" in error.stack_trace

    def path_of(self, relative_fileloc: str | None) -> str | None:
        """The release path of a file Airflow names relative to its DAGs folder, if it is one."""
        prefix = f"{self.package}/"
        if relative_fileloc and relative_fileloc.startswith(prefix):
            path = relative_fileloc[len(prefix):]
            return path if path in self.files else None
        return None


@dataclass(frozen=True)
class Observation:
    dags: Mapping[str, DagInfo | None]
    sources: Mapping[str, str | None]        # dag_id -> the text Airflow stored (only those looked at)
    expected_text: Mapping[str, str]         # release path -> its text, newlines as Airflow reads them
    import_errors: Sequence[ImportErrorInfo]


@dataclass(frozen=True)
class Verdict:
    failures: tuple[ImportErrorInfo, ...] = ()
    pending: tuple[str, ...] = ()

    @property
    def live(self) -> bool:
        return not self.failures and not self.pending


def as_airflow_reads(data: bytes) -> str:
    """A file's text as the dag-processor stores it (text mode: universal newlines)."""
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def stamp(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def needs_source(exp: Expectation, info: DagInfo | None) -> bool:
    """Worth asking Airflow for the DAG's stored text: the parse is recent and names a release file."""
    return (info is not None and not info.is_stale and info.last_parsed is not None
            and info.last_parsed >= exp.committed_at and exp.path_of(info.relative_fileloc) is not None)


def judge(exp: Expectation, obs: Observation) -> Verdict:
    """Is the release live, failed, or still pending (and why, per dag_id)?"""
    prefix = f"{exp.package}/"
    failures = tuple(sorted((e for e in obs.import_errors
                             if e.filename.startswith(prefix) and e.filename[len(prefix):] in exp.files
                             and e.timestamp >= exp.committed_at and not exp.parsed_other_release(e)),
                            key=lambda e: e.filename))
    pending: list[str] = []
    for dag_id in exp.dag_ids:
        info = obs.dags.get(dag_id)
        if info is None:
            pending.append(f"{dag_id}: not known to Airflow yet")
        elif info.is_stale:
            pending.append(f"{dag_id}: stale in Airflow (no parsed file defines it yet)")
        elif info.last_parsed is None or info.last_parsed < exp.committed_at:
            pending.append(f"{dag_id}: last parsed {stamp(info.last_parsed)}, before the commit at "
                           f"{stamp(exp.committed_at)}")
        elif (path := exp.path_of(info.relative_fileloc)) is None:
            pending.append(f"{dag_id}: Airflow has it from {info.relative_fileloc}, not a file of release "
                           f"{exp.release_id}")
        elif obs.sources.get(dag_id) is None:
            pending.append(f"{dag_id}: Airflow has no stored source for it yet")
        elif as_airflow_reads((obs.sources[dag_id] or "").encode()) != obs.expected_text.get(path):
            pending.append(f"{dag_id}: parsed after the commit, but from text of {path} that is not release "
                           f"{exp.release_id}'s (the sync agent has not swapped the release in yet)")
    for dag_id in exp.removed:
        info = obs.dags.get(dag_id)
        if info is not None and not info.is_stale:
            pending.append(f"{dag_id}: removed by release {exp.release_id} but Airflow still lists it")
    return Verdict(failures, tuple(pending))


class Outcome(enum.Enum):
    LIVE = "live"
    FAILED = "import_error"
    TIMEOUT = "timeout"


@dataclass
class WaitResult:
    release_id: str
    outcome: Outcome
    seconds: float
    polls: int
    verdict: Verdict
    last_api_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"release_id": self.release_id, "outcome": self.outcome.value, "seconds": round(self.seconds, 1),
                "polls": self.polls, "pending": list(self.verdict.pending),
                "import_errors": [{"filename": e.filename, "timestamp": stamp(e.timestamp),
                                   "stack_trace": e.stack_trace} for e in self.verdict.failures]}


def observe(api: AirflowApi, exp: Expectation, text_of: Callable[[str], str]) -> Observation:
    dags = {d: api.dag(d) for d in (*exp.dag_ids, *exp.removed)}
    sources: dict[str, str | None] = {}
    expected: dict[str, str] = {}
    for dag_id in exp.dag_ids:
        info = dags[dag_id]
        if needs_source(exp, info):
            assert info is not None
            path = exp.path_of(info.relative_fileloc)
            assert path is not None
            sources[dag_id] = api.dag_source(dag_id)
            expected[path] = text_of(path)
    return Observation(dags, sources, expected, api.import_errors(f"{exp.package}/"))


def wait_until_live(api: AirflowApi, exp: Expectation, read_file: Callable[[FileEntry], bytes], *,
                    timeout: float, interval: float = POLL_INTERVAL,
                    on_poll: Callable[[Verdict], None] | None = None,
                    clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep) -> WaitResult:
    """Poll Airflow until `judge` says live or failed, or `timeout` seconds pass. An API that does
    not answer (an api-server restarting) is polled again until the deadline; a refused login is
    raised at once."""
    texts: dict[str, str] = {}

    def text_of(path: str) -> str:
        if path not in texts:
            texts[path] = as_airflow_reads(read_file(exp.files[path]))
        return texts[path]

    started = clock()
    polls = 0
    verdict = Verdict(pending=("Airflow not asked yet",))
    last_error = ""
    max_polls = int(timeout / max(interval, 0.01)) + 2
    while polls < max_polls:
        polls += 1
        try:
            verdict = judge(exp, observe(api, exp, text_of))
            last_error = ""
        except AirflowApiError as exc:
            last_error = str(exc)
        if on_poll is not None:
            on_poll(verdict)
        elapsed = clock() - started
        if not last_error and verdict.failures:
            return WaitResult(exp.release_id, Outcome.FAILED, elapsed, polls, verdict)
        if not last_error and verdict.live:
            return WaitResult(exp.release_id, Outcome.LIVE, elapsed, polls, verdict)
        if elapsed + interval > timeout:
            break
        sleep(interval)
    return WaitResult(exp.release_id, Outcome.TIMEOUT, clock() - started, polls, verdict, last_error)


# -- the outcome of a confirmed publish -------------------------------------------------------------
@dataclass
class Confirmation:
    """The wait for a release and, if it failed and a rollback was asked for, the rollback and its wait."""

    wait: WaitResult
    rolled_back_to: str | None = None        # the release whose files were restored
    rollback_release_id: str | None = None   # the new release the rollback committed
    rollback_wait: WaitResult | None = None
    rollback_problem: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {**self.wait.to_dict()}
        if self.rolled_back_to or self.rollback_problem:
            doc["rollback"] = {"restored": self.rolled_back_to, "release_id": self.rollback_release_id,
                               "wait": self.rollback_wait.to_dict() if self.rollback_wait else None,
                               "problem": self.rollback_problem or None}
        return doc


class ReleaseNotLive(DagPublisherError):
    """`--wait` did not confirm the release: Airflow could not import it (exit 1, kind
    `import_error`) or did not parse it in time (exit 3, kind `wait_timeout`). Carries the
    confirmation (and the publish result) as JSON details."""

    def __init__(self, message: str, confirmation: Confirmation, details: dict[str, Any]) -> None:
        failed = confirmation.wait.outcome is Outcome.FAILED
        super().__init__(message, kind=ErrorKind.IMPORT_ERROR if failed else ErrorKind.WAIT_TIMEOUT)
        self.confirmation = confirmation
        self.details = details


def describe_failure(confirmation: Confirmation, timeout: float) -> str:
    """The message of ReleaseNotLive: Airflow's import error text, or what was still pending."""
    wait = confirmation.wait
    if wait.outcome is Outcome.FAILED:
        lines = [f"Airflow could not import release {wait.release_id} "
                 f"({len(wait.verdict.failures)} file(s), {wait.seconds:.0f} s after the commit):"]
        for e in wait.verdict.failures:
            lines.append(f"--- import error in {e.filename} (recorded {stamp(e.timestamp)}):")
            lines.extend("    " + line for line in e.stack_trace.rstrip().splitlines())
    else:
        lines = [f"timed out after {timeout:g} s waiting for Airflow to parse release {wait.release_id} "
                 f"({wait.polls} polls): the release is committed, but Airflow has not confirmed it. "
                 "Still waiting for:"]
        lines.extend(f"  {p}" for p in wait.verdict.pending)
        if wait.last_api_error:
            lines.append(f"  (the last poll failed: {wait.last_api_error})")
    if confirmation.rolled_back_to:
        rb = confirmation.rollback_wait
        state = (f"live in Airflow after {rb.seconds:.0f} s" if rb and rb.outcome is Outcome.LIVE
                 else f"NOT confirmed in Airflow ({rb.outcome.value})" if rb else "not waited for")
        lines.append(f"rolled back: release {confirmation.rollback_release_id} restores the files of release "
                     f"{confirmation.rolled_back_to}; {state}")
        if rb and rb.outcome is not Outcome.LIVE:
            lines.extend(f"  {p}" for p in rb.verdict.pending)
            lines.extend(f"  import error in {e.filename}" for e in rb.verdict.failures)
    elif confirmation.rollback_problem:
        lines.append(f"no rollback: {confirmation.rollback_problem}")
    return "\n".join(lines)


def committed_time(result: PublishResult) -> float:
    """The commit's epoch seconds; for a no-op (nothing committed now), the current release's created_at."""
    if result.committed_at is not None:
        return result.committed_at
    created = result.manifest.created_at if result.manifest else ""
    try:
        return datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return 0.0


def confirm(publisher: Publisher, result: PublishResult, api: AirflowApi, *, timeout: float,
            rollback_on_failure: bool = False, meta: ReleaseMeta | None = None, interval: float = POLL_INTERVAL,
            on_poll: Callable[[Verdict], None] | None = None) -> Confirmation:
    """Wait until the release `result` committed is live; if Airflow could not import it and
    `rollback_on_failure`, roll the package back to the release that was current before it and
    wait for that too. (A timeout never rolls back: it says nothing about the release, and the
    rollback's release would be just as unconfirmed.)"""
    storage = publisher.storage
    manifest = result.manifest
    if manifest is None or result.release_id is None:
        raise DagPublisherError(f"{publisher.url}: there is no release to wait for")
    previous = None
    if result.previous_release_id and result.previous_release_id != result.release_id:
        previous = find_release(storage, publisher.env, publisher.package, result.previous_release_id)

    def read(of: ReleaseManifest) -> Callable[[FileEntry], bytes]:
        return lambda entry: read_file(storage, of, entry)

    exp = Expectation.of(manifest, previous, committed_time(result))
    confirmation = Confirmation(wait_until_live(api, exp, read(manifest), timeout=timeout, interval=interval,
                                                on_poll=on_poll))
    if confirmation.wait.outcome is not Outcome.FAILED or not rollback_on_failure:
        return confirmation
    if previous is None or previous.retired:
        confirmation.rollback_problem = (f"{publisher.package!r} had no release before {manifest.release_id}"
                                         if previous is None else
                                         f"the release before {manifest.release_id} is a retirement tombstone")
        return confirmation
    try:
        rolled = publisher.rollback(meta or ReleaseMeta(published_by="", tool_version=""), to=previous.release_id)
    except DagPublisherError as exc:
        confirmation.rollback_problem = f"the rollback to {previous.release_id} failed: {exc}"
        return confirmation
    confirmation.warnings += rolled.warnings
    confirmation.rolled_back_to = previous.release_id
    confirmation.rollback_release_id = rolled.release_id
    if rolled.manifest is not None:
        back = Expectation.of(rolled.manifest, manifest, committed_time(rolled))
        confirmation.rollback_wait = wait_until_live(api, back, read(rolled.manifest), timeout=timeout,
                                                     interval=interval, on_poll=on_poll)
    return confirmation
