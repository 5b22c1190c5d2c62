"""The pure sync planner: journal cursor, which manifests to GET, per-package decisions, file reuse."""

from __future__ import annotations

import errno
import json

import pytest
from airflow_dag_publisher.errors import ErrorKind, ManifestError, RefusedError, StorageError, VerificationError
from airflow_dag_publisher.manifest import ArchiveRef, FileEntry, ReleaseManifest
from airflow_dag_publisher.signing import PemSigner, TrustedKey, sign_manifest
from airflow_dag_publisher.storage import journal_key, journal_prefix
from airflow_dag_publisher.sync import planner
from airflow_dag_publisher.sync.planner import Action, JournalState
from airflow_dag_publisher.sync.trust import Trust

from devstack.signing_keys import write_key
from packages.orchestration.tests.sync.support import ENV, make_manifest, sha256

PREFIX = journal_prefix(ENV)


def entry(path: str, data: bytes) -> FileEntry:
    return FileEntry(path=path, sha256=sha256(data), size=len(data), version_id="v1")


def test_journal_lists_from_sixty_seconds_before_the_cursor() -> None:
    state = JournalState(cursor_ms=1_000_000)
    assert planner.journal_start_after(ENV, state, now_ms=5_000_000) == f"{PREFIX}{940_000:016d}"


def test_cold_journal_starts_five_minutes_back() -> None:
    assert planner.journal_start_after(ENV, JournalState(), now_ms=600_000) == f"{PREFIX}{300_000:016d}"


def test_journal_reports_each_key_once_and_advances_the_cursor() -> None:
    keys = [journal_key(ENV, "alpha", 1_000), journal_key(ENV, "beta", 2_000)]
    first = planner.read_journal(ENV, keys, JournalState())
    assert first.packages == {"alpha", "beta"} and first.state.cursor_ms == 2_000
    again = planner.read_journal(ENV, keys, first.state)
    assert again.packages == frozenset() and again.state == first.state


def test_journal_forgets_keys_older_than_the_skew_window() -> None:
    old, new = journal_key(ENV, "alpha", 1_000), journal_key(ENV, "beta", 100_000)
    read = planner.read_journal(ENV, [old, new], JournalState())
    assert read.state.seen == {new}


def test_journal_ignores_keys_that_name_no_package() -> None:
    keys = [f"{PREFIX}123-alpha", f"{PREFIX}{1:016d}-Bad-Name", f"{PREFIX}{1:016d}", "elsewhere/x"]
    read = planner.read_journal(ENV, keys, JournalState())
    assert read.packages == frozenset() and len(read.ignored) == 4


def test_only_changed_and_not_refused_manifests_are_fetched() -> None:
    listed = {"same": '"e1"', "changed": '"e3"', "new": '"e4"', "refused": '"e5"'}
    applied = {"same": '"e1"', "changed": '"e2"', "refused": '"e0"'}
    assert planner.manifests_to_fetch(listed, applied, {"refused": '"e5"'}) == ["changed", "new"]


def test_a_package_missing_from_the_listing_is_kept_and_reported_once() -> None:
    first = planner.vanished_from_listing(["alpha"], ["alpha", "beta"], frozenset())
    assert first.known == {"beta"} and first.newly == ("beta",) and not first.empty_listing
    again = planner.vanished_from_listing(["alpha"], ["alpha", "beta"], first.known)
    assert again.known == {"beta"} and again.newly == ()
    back = planner.vanished_from_listing(["alpha", "beta"], ["alpha", "beta"], again.known)
    assert back.known == frozenset() and back.newly == ()


def test_an_empty_listing_keeps_every_package_and_says_so_each_time() -> None:
    for known in (frozenset(), frozenset({"alpha"})):
        guard = planner.vanished_from_listing([], ["alpha", "beta"], known)
        assert guard.empty_listing == 2 and guard.newly == () and guard.known == {"alpha", "beta"}
    assert planner.vanished_from_listing([], [], frozenset()).empty_listing == 0


def test_a_manifest_get_that_finds_nothing_is_reported_once_for_a_held_package() -> None:
    first = planner.vanished_on_read("alpha", True, frozenset())
    assert first.newly == ("alpha",) and first.known == {"alpha"}
    assert planner.vanished_on_read("alpha", True, first.known).newly == ()
    assert planner.vanished_on_read("beta", False, frozenset()).newly == ()  # nothing held: nothing to guard


def body(**overrides: object) -> bytes:
    raw = json.loads(make_manifest("alpha", [entry("a.py", b"a")]).to_json())
    raw.update(overrides)
    return json.dumps(raw).encode()


def decide(data: bytes, current: object = None) -> planner.Decision:
    return planner.decide("alpha", ENV, '"e"', data, current, source="s3://b/dev/alpha/manifest.json")  # type: ignore[arg-type]


def test_a_new_release_is_applied() -> None:
    assert decide(body()).action is Action.APPLY


def test_same_content_under_a_new_release_id_keeps_the_directory() -> None:
    current = make_manifest("alpha", [entry("a.py", b"a")])
    decision = decide(body(), current)
    assert decision.action is Action.KEEP and decision.manifest is not None


def test_retired_release_removes_only_a_held_package() -> None:
    retired = make_manifest("alpha", [], retired=True).to_json()
    assert decide(retired, make_manifest("alpha", [entry("a.py", b"a")])).action is Action.REMOVE
    assert decide(retired, None).action is Action.KEEP


def test_unusable_manifests_are_refused_with_the_reason() -> None:
    bad_path = json.loads(body())
    bad_path["files"][0]["path"] = "../x.py"
    cases = {
        "not valid UTF-8 JSON": b"{",
        "unknown schema_version": body(schema_version=3),
        "'..' component": json.dumps(bad_path).encode(),
        "does not match the prefix's package": body(package="beta"),
        "does not match the prefix's environment": body(env="prod"),
    }
    for reason, data in cases.items():
        decision = decide(data)
        assert decision.action is Action.REFUSE and reason in decision.reason, (reason, decision.reason)


def test_files_held_locally_by_sha256_are_reused() -> None:
    manifest = make_manifest("alpha", [entry("a.py", b"a"), entry("b.py", b"b")])
    plan = planner.plan_files(manifest, {sha256(b"a"): "/state/releases/beta/x/other.py"})
    assert [(e.path, src) for e, src in plan.reuse] == [("a.py", "/state/releases/beta/x/other.py")]
    assert [e.path for e in plan.download] == ["b.py"] and plan.download_bytes == 1


def test_release_directory_is_named_by_its_release_id() -> None:
    """Two releases with the same files are two directories: the package link's target names the
    release the package is on (what Airflow's versioned bundle reads as its version)."""
    one = make_manifest("alpha", [entry("a.py", b"a")])
    two = make_manifest("alpha", [entry("a.py", b"a")])
    assert one.release_id != two.release_id
    assert planner.release_dir_name(one) == one.release_id != planner.release_dir_name(two)


@pytest.mark.parametrize("release_id", ["..", ".", ".hidden", "a b", "-r", "x" * 129, "a\\b"])
def test_a_release_id_that_cannot_name_a_directory_is_refused(release_id: str) -> None:
    m = make_manifest("alpha", [entry("a.py", b"a")]).with_changes(release_id=release_id)
    with pytest.raises(ManifestError, match="cannot name a release directory") as caught:
        planner.release_dir_name(m)
    assert caught.value.kind == "invalid"


# -- archive or single files -------------------------------------------------------------------------
ARCHIVE = ArchiveRef(version_id="a1", sha256="0" * 64, size=3_000)


def release(count: int, *, archive: ArchiveRef | None = ARCHIVE) -> ReleaseManifest:
    return make_manifest("alpha", [entry(f"f{i:02d}.py", b"x = %d\n" % i) for i in range(count)], archive=archive)


def test_a_cold_start_or_a_large_change_fetches_the_release_archive() -> None:
    manifest = release(20)
    cold = planner.plan_files(manifest, {})
    assert cold.archive and len(cold.download) == 20
    half = planner.plan_files(manifest, {e.sha256: f"/held/{e.path}" for e in manifest.files[:10]})
    assert half.archive and len(half.download) == 10 and len(half.reuse) == 10


def test_one_changed_file_is_fetched_alone_and_a_release_without_archive_file_by_file() -> None:
    manifest = release(20)
    one = planner.plan_files(manifest, {e.sha256: f"/held/{e.path}" for e in manifest.files[1:]})
    assert not one.archive and [e.path for e in one.download] == ["f00.py"]
    old = planner.plan_files(release(20, archive=None), {})
    assert not old.archive and len(old.download) == 20


def test_a_huge_archive_is_not_fetched_for_a_few_small_files() -> None:
    manifest = release(200, archive=ArchiveRef(version_id="a1", sha256="0" * 64, size=50_000_000))
    few = planner.plan_files(manifest, {e.sha256: f"/held/{e.path}" for e in manifest.files[3:]})
    assert not few.archive and len(few.download) == 3


# -- the owner of a dag_id ---------------------------------------------------------------------------
def test_owner_candidates_are_the_dag_id_prefixes_longest_first_and_few() -> None:
    assert planner.owner_candidates("pipeline_processing_example_job") == [
        "pipeline_processing_example", "pipeline_processing", "pipeline"]
    assert planner.owner_candidates("nounderscore") == []
    assert planner.owner_candidates("9bad_prefix_x") == []  # no prefix is a package name
    many = planner.owner_candidates("a_b_c_d_e_f_g_h")
    assert many == ["a_b_c_d_e_f_g", "a_b_c_d_e_f", "a_b_c_d_e", "a_b_c_d"]
    assert len(many) == planner.MAX_OWNER_CANDIDATES
    assert all(len(c) <= 63 for c in planner.owner_candidates("p_" + "x" * 100 + "_y"))


def test_the_owner_is_the_candidate_whose_manifest_lists_the_dag_id() -> None:
    owner = make_manifest("pipeline_processing", [], dag_ids=("pipeline_processing_example_job",))
    other = make_manifest("pipeline_processing_example", [], dag_ids=("pipeline_processing_example_other",))
    retired = make_manifest("pipeline", [], retired=True)
    found = {"pipeline_processing_example": other, "pipeline_processing": owner, "pipeline": retired}
    assert planner.owner_of("pipeline_processing_example_job", found) == "pipeline_processing"
    assert planner.owner_of("pipeline_processing_example_job", {"pipeline_processing_example": other,
                                                               "pipeline_processing": None}) is None


# -- signatures: verified in decide, before anything else is decided ------------------------------
@pytest.fixture(scope="module")
def signer_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[PemSigner, PemSigner]:
    folder = tmp_path_factory.mktemp("keys")
    return PemSigner(write_key(folder / "alpha.pem")), PemSigner(write_key(folder / "other.pem"))


def trust_of(*signers: PemSigner, require: bool = False) -> Trust:
    return Trust({"alpha": tuple(TrustedKey.from_key(s.public_key()) for s in signers)}, require=require)


def decide_with(trust: Trust, manifest: ReleaseManifest, current: ReleaseManifest | None = None) -> planner.Decision:
    return planner.decide("alpha", ENV, '"e"', manifest.to_json(), current, source="s3://b/dev/alpha/manifest.json",
                          trust=trust)


def test_a_release_signed_by_a_trusted_key_is_applied(signer_keys: tuple[PemSigner, PemSigner]) -> None:
    alpha, _ = signer_keys
    signed = sign_manifest(make_manifest("alpha", [entry("a.py", b"a")]), alpha)
    decision = decide_with(trust_of(alpha, require=True), signed)
    assert decision.action is Action.APPLY and decision.manifest == signed


@pytest.mark.parametrize("case", ["unsigned", "other key", "tampered", "forged tombstone", "same content"])
def test_releases_not_signed_by_a_trusted_key_are_refused_as_signature(signer_keys: tuple[PemSigner, PemSigner],
                                                                       case: str) -> None:
    alpha, other = signer_keys
    held = sign_manifest(make_manifest("alpha", [entry("a.py", b"a")]), alpha)
    release = {
        "unsigned": make_manifest("alpha", [entry("b.py", b"b")]),
        "other key": sign_manifest(make_manifest("alpha", [entry("b.py", b"b")]), other),
        "tampered": held.with_changes(files=(entry("a.py", b"evil"),), content_digest=""),
        "forged tombstone": make_manifest("alpha", [], retired=True),
        "same content": held.with_changes(signature=None, release_id="20990101T000000Z-000000000000"),
    }[case]
    decision = decide_with(trust_of(alpha), release, held)
    assert decision.action is Action.REFUSE and decision.kind == "signature", decision
    assert decision.reason.startswith("s3://b/dev/alpha/manifest.json: ")


def test_require_signatures_refuses_a_package_without_keys(signer_keys: tuple[PemSigner, PemSigner]) -> None:
    alpha, _ = signer_keys
    signed = sign_manifest(make_manifest("alpha", [entry("a.py", b"a")]), alpha)
    refused = decide_with(Trust(require=True), signed)
    assert refused.action is Action.REFUSE and refused.kind == "signature" and "no trusted key" in refused.reason
    assert decide_with(Trust(), make_manifest("alpha", [entry("a.py", b"a")])).action is Action.APPLY


def test_a_rotated_key_applies_while_the_old_one_is_still_trusted(signer_keys: tuple[PemSigner, PemSigner]) -> None:
    old, new = signer_keys
    by_old = sign_manifest(make_manifest("alpha", [entry("a.py", b"a")]), old)
    by_new = sign_manifest(make_manifest("alpha", [entry("b.py", b"b")]), new)
    both = trust_of(old, new, require=True)
    assert decide_with(both, by_old).action is Action.APPLY
    assert decide_with(both, by_new, by_old).action is Action.APPLY
    assert decide_with(trust_of(new, require=True), by_old).kind == "signature"


@pytest.mark.parametrize(("exc", "kind", "fate"), [
    (ManifestError("x", kind=ErrorKind.UNSAFE_PATH), ErrorKind.UNSAFE_PATH, planner.Fate.REFUSE),
    (VerificationError("x", kind=ErrorKind.MISSING_VERSION), ErrorKind.MISSING_VERSION, planner.Fate.REFUSE),
    (RefusedError("x", kind=ErrorKind.NOT_OWNED), ErrorKind.NOT_OWNED, planner.Fate.REFUSE),
    (KeyError("a bug"), ErrorKind.INTERNAL, planner.Fate.REFUSE),
    (OSError(errno.ENAMETOOLONG, "File name too long"), ErrorKind.UNSAFE_PATH, planner.Fate.REFUSE),
    (PermissionError(errno.EACCES, "Permission denied"), ErrorKind.LOCAL_STORAGE, planner.Fate.RETRY),
    (OSError(errno.ENOSPC, "No space left on device"), ErrorKind.LOCAL_STORAGE, planner.Fate.RETRY),
    (OSError(errno.EIO, "Input/output error"), ErrorKind.LOCAL_STORAGE, planner.Fate.RETRY),
    (OSError(errno.EROFS, "Read-only file system"), ErrorKind.LOCAL_STORAGE, planner.Fate.RETRY),
    (StorageError("x", kind=ErrorKind.NETWORK), ErrorKind.NETWORK, planner.Fate.FAIL),
    (StorageError("x", kind=ErrorKind.ABORTED), ErrorKind.ABORTED, planner.Fate.FAIL),
])
def test_a_failure_refuses_retries_or_fails_the_cycle_by_its_kind(exc: Exception, kind: ErrorKind,
                                                                  fate: planner.Fate) -> None:
    assert planner.failure_kind(exc) is kind and planner.fate(kind) is fate


def test_every_refused_or_retried_kind_is_a_metric_reason() -> None:
    judged = {k for k in ErrorKind if planner.fate(k) is not planner.Fate.FAIL}
    assert judged == planner.REFUSAL_REASONS


# -- replays (issue 26, attack 1) -----------------------------------------------------------------------
def _release(release_id: str, sequence: int | None, previous: str | None = None, *, retired: bool = False,
             created_at: str = "2026-12-01T10:00:00Z") -> ReleaseManifest:
    return ReleaseManifest(env=ENV, package="alpha", release_id=release_id, created_at=created_at,
                           files=() if retired else (FileEntry("a.py", "0" * 64, 1, "v1"),), retired=retired,
                           previous_release_id=previous, sequence=sequence)


def test_an_agent_never_applies_a_release_that_is_not_newer_than_the_one_it_applied() -> None:
    held = _release("r2", 2, "r1")
    assert planner.replay_problem(_release("r3", 3, "r2"), held, written_at=None, commit_window=0) is None
    assert planner.replay_problem(_release("r9", 1_765_000_000_000, "r2"), held, written_at=None,
                                  commit_window=0) is None  # later releases carry the publisher's clock
    assert planner.replay_problem(held, held, written_at=None, commit_window=0) is None  # the same release
    for older in (_release("r1", 1), _release("r2b", 2, "r1"), _release("r0", None), _release("t1", 1, retired=True)):
        assert "not newer" in (planner.replay_problem(older, held, written_at=None, commit_window=0) or ""), older
    assert "follows r9" in (planner.replay_problem(_release("r3", 3, "r9"), held, written_at=None,
                                                   commit_window=0) or "")


def test_releases_without_a_sequence_are_ordered_by_their_predecessor_or_creation_time() -> None:
    held = _release("old2", None, "old1", created_at="2026-12-01T10:00:00Z")
    assert planner.replay_problem(_release("new", 5, "old2"), held, written_at=None, commit_window=0) is None
    assert planner.replay_problem(_release("old3", None, "old2", created_at="2026-12-01T09:00:00Z"), held,
                                  written_at=None, commit_window=0) is None  # names the held one: it follows
    assert "created at 2026-12-01T09:00:00Z" in (planner.replay_problem(
        _release("old1", None, created_at="2026-12-01T09:00:00Z"), held, written_at=None, commit_window=0) or "")


def test_a_manifest_s3_wrote_long_after_its_release_was_signed_is_a_replay_for_a_cold_agent() -> None:
    release = _release("r1", 1, created_at="2026-12-01T10:00:00Z")
    signed_at = 1_796_119_200.0  # 2026-12-01T10:00:00Z
    assert planner.replay_problem(release, None, written_at=signed_at + 3, commit_window=900) is None
    assert "901 s later" in (planner.replay_problem(release, None, written_at=signed_at + 901, commit_window=900)
                             or "")
    assert planner.replay_problem(release, None, written_at=signed_at + 901, commit_window=0) is None  # off
    assert planner.replay_problem(release, None, written_at=None, commit_window=900) is None  # S3 said nothing


def test_decide_refuses_a_replay_with_its_kind_and_a_replayed_tombstone_removes_nothing(tmp_path: object) -> None:
    held = _release("r3", 3, "r2")
    tombstone = _release("t2", 2, "r1", retired=True)
    decision = planner.decide("alpha", ENV, "etag", tombstone.to_json(), held, source="s3://b/k")
    assert decision.action is Action.REFUSE and decision.kind is ErrorKind.REPLAY
    # an agent that holds the tombstone is not brought back to a release before it either
    decision = planner.decide("alpha", ENV, "etag", _release("r1", 1).to_json(), tombstone, source="s3://b/k")
    assert decision.action is Action.REFUSE and decision.kind is ErrorKind.REPLAY
    # the window applies only where releases are signed (an unsigned one could be forged outright)
    late = _release("r4", 4, "r3", created_at="2026-12-01T10:00:00Z").with_changes(
        files=(FileEntry("b.py", "1" * 64, 1, "v2"),), content_digest="")
    decision = planner.decide("alpha", ENV, "etag", late.to_json(), held, source="s3://b/k",
                              written_at=1_796_119_200.0 + 3600, commit_window=900)
    assert decision.action is Action.APPLY


def test_a_pin_s3_will_not_serve_refuses_its_release_and_a_server_error_fails_the_cycle() -> None:
    """Issue 26, attack 2: a 400 or 403 for a pinned object is that release's fault (`unreadable`)."""
    assert planner.fate(ErrorKind.UNREADABLE) is planner.Fate.REFUSE
    assert planner.fate(ErrorKind.BAD_REQUEST) is planner.Fate.FAIL  # raised for a pin, it becomes unreadable
    assert planner.fate(ErrorKind.STORAGE) is planner.Fate.FAIL and planner.fate(ErrorKind.NETWORK) is planner.Fate.FAIL
