"""The pure half of the publish protocol: planning and dag_id ownership, without S3."""

from __future__ import annotations

import hashlib

import pytest
from airflow_dag_publisher.errors import RefusedError
from airflow_dag_publisher.manifest import FileEntry, ReleaseManifest
from airflow_dag_publisher.publish_plan import dag_id_conflicts, plan_publish, republishes_current
from airflow_dag_publisher.sources import LocalFile


def lf(path: str, data: bytes) -> LocalFile:
    return LocalFile(path, hashlib.sha256(data).hexdigest(), len(data), data)


def release(files: dict[str, bytes], *, package: str = "acme", dag_ids: tuple[str, ...] = (),
            retired: bool = False) -> ReleaseManifest:
    entries = tuple(FileEntry(p, hashlib.sha256(d).hexdigest(), len(d), "v") for p, d in sorted(files.items()))
    return ReleaseManifest(env="dev", package=package, release_id="r1", created_at="t", files=entries,
                           dag_ids=dag_ids, retired=retired)


def test_plan_sorts_files_into_added_changed_deleted_unchanged() -> None:
    current = release({"a.py": b"a", "b.py": b"b", "c.py": b"c"})
    plan = plan_publish([lf("a.py", b"a"), lf("b.py", b"B"), lf("d.py", b"d")], current)
    assert plan.added == ("d.py",) and plan.changed == ("b.py",)
    assert plan.deleted == ("c.py",) and plan.unchanged == ("a.py",)


def test_same_size_edit_is_a_change() -> None:
    plan = plan_publish([lf("a.py", b"x = 1")], release({"a.py": b"x = 2"}))
    assert plan.changed == ("a.py",)


def test_unchanged_content_is_a_noop() -> None:
    current = release({"a.py": b"a"})
    plan = plan_publish([lf("a.py", b"a")], current)
    assert republishes_current(plan, current)


def test_first_release_and_release_after_retirement_are_never_noops() -> None:
    assert not republishes_current(plan_publish([], None, allow_empty=True), None)
    tomb = release({}, retired=True)
    plan = plan_publish([lf("a.py", b"a")], tomb)
    assert plan.added == ("a.py",) and not republishes_current(plan, tomb)


def test_empty_release_needs_allow_empty() -> None:
    with pytest.raises(RefusedError, match="--allow-empty"):
        plan_publish([], release({"a.py": b"a"}))


def test_deletions_over_max_delete_are_refused() -> None:
    current = release({f"f{i}.py": b"x" for i in range(5)})
    with pytest.raises(RefusedError, match="delete 4 files, over --max-delete 3"):
        plan_publish([lf("f0.py", b"x")], current, max_delete=3)
    assert plan_publish([lf("f0.py", b"x")], current, max_delete=4).deleted == ("f1.py", "f2.py", "f3.py", "f4.py")


def test_dag_id_owned_by_another_package_is_refused() -> None:
    others = {"beta": release({}, package="beta", dag_ids=("acme_shared",))}
    assert dag_id_conflicts("acme", ["acme_shared"], others) == [
        "dag_id 'acme_shared' is already owned by package 'beta'"]


def test_retired_package_owns_no_dag_ids() -> None:
    others = {"beta": release({}, package="beta", dag_ids=("acme_shared",), retired=True)}
    assert dag_id_conflicts("acme", ["acme_shared"], others) == []


def test_dag_id_with_a_longer_packages_prefix_is_refused() -> None:
    others = {"alpha_ext": release({}, package="alpha_ext")}
    assert dag_id_conflicts("alpha", ["alpha_ext_daily", "alpha_daily"], others) == [
        "dag_id 'alpha_ext_daily' carries the prefix of package 'alpha_ext'"]
