"""The pure half of the publish protocol: what a release changes, and the guardrails that refuse
it. No I/O: functions from (local files, current manifest, the environment's other packages) to a
plan or a refusal. The publish guardrails live here, one function each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from airflow_dag_publisher.errors import ErrorKind, RefusedError, UsageError
from airflow_dag_publisher.manifest import ReleaseManifest
from airflow_dag_publisher.names import dag_id_belongs_to


class Digested(Protocol):
    """A file of a release as planning sees it: a local file, or a file of another release (promote)."""

    @property
    def path(self) -> str: ...

    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True)
class PublishPlan:
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def changes_files(self) -> bool:
        return bool(self.added or self.changed or self.deleted)

    @property
    def uploads(self) -> tuple[str, ...]:
        return tuple(sorted(self.added + self.changed))

    def to_dict(self) -> dict[str, list[str]]:
        return {"added": list(self.added), "changed": list(self.changed), "deleted": list(self.deleted),
                "unchanged": list(self.unchanged)}


@dataclass(frozen=True)
class ChangePlan:
    """What a rollback or a retirement would change, said before it is done (`--dry-run`, the
    confirmation): the release that is current now, the one whose files become current (none for a
    retirement), the files against the current release, and the DAGs that leave and return to Airflow."""

    action: str                      # "rollback" | "retire"
    package: str
    env: str
    current_release_id: str | None
    restores: str | None             # rollback: the release whose files become current again
    files: PublishPlan
    dag_ids_removed: tuple[str, ...]  # leave Airflow
    dag_ids_added: tuple[str, ...]    # come back
    noop: bool = False               # retiring a package that is retired already

    def to_dict(self) -> dict[str, object]:
        return {"action": self.action, "package": self.package, "env": self.env,
                "current_release_id": self.current_release_id, "restores": self.restores,
                **self.files.to_dict(), "dag_ids_removed": list(self.dag_ids_removed),
                "dag_ids_added": list(self.dag_ids_added), "noop": self.noop}

    def describe(self) -> list[str]:
        """The plan in a few lines, for a person about to confirm it."""
        where = f"package {self.package!r} in environment {self.env!r}"
        if self.noop:
            return [f"{where} is retired already (release {self.current_release_id}): nothing would change"]
        if self.action == "retire":
            head = f"retire {where}: a tombstone release replaces release {self.current_release_id}"
        else:
            head = (f"roll back {where}: a new release with the files of release {self.restores} replaces release "
                    f"{self.current_release_id or '(none readable)'}")
        f = self.files
        return [head,
                f"  DAGs that leave Airflow: {', '.join(self.dag_ids_removed) or 'none'}",
                f"  DAGs that come back:     {', '.join(self.dag_ids_added) or 'none'}",
                f"  files: {len(f.added)} added, {len(f.changed)} changed, {len(f.deleted)} deleted, "
                f"{len(f.unchanged)} unchanged"]


def plan_change(action: str, env: str, package: str, current: ReleaseManifest | None,
                target: ReleaseManifest | None) -> ChangePlan:
    """What making `target`'s files current (None: retiring) changes against `current`."""
    live = current.file_map() if current is not None and not current.retired else {}
    wanted = target.file_map() if target is not None else {}
    files = PublishPlan(
        added=tuple(p for p in sorted(wanted) if p not in live),
        changed=tuple(p for p in sorted(wanted) if p in live and live[p].sha256 != wanted[p].sha256),
        deleted=tuple(p for p in sorted(live) if p not in wanted),
        unchanged=tuple(p for p in sorted(wanted) if p in live and live[p].sha256 == wanted[p].sha256))
    before = set(current.dag_ids) if current is not None and not current.retired else set()
    after = set(target.dag_ids) if target is not None else set()
    return ChangePlan(action, package, env, current.release_id if current else None,
                      target.release_id if target else None, files, tuple(sorted(before - after)),
                      tuple(sorted(after - before)), noop=target is None and current is not None and current.retired)


def plan_publish(local: Sequence[Digested], current: ReleaseManifest | None, *, allow_empty: bool = False,
                 max_delete: int | None = None) -> PublishPlan:
    """Compare local files with the current release by sha256. Raises RefusedError on a guardrail."""
    if not local and not allow_empty:
        raise RefusedError("the release would have no files; pass --allow-empty to publish an empty release "
                           "(use `retire` to remove a package from Airflow)", kind=ErrorKind.GUARDRAIL)
    live = current.file_map() if current is not None and not current.retired else {}
    local_map = {f.path: f for f in local}
    added = tuple(p for p in sorted(local_map) if p not in live)
    changed = tuple(p for p in sorted(local_map) if p in live and live[p].sha256 != local_map[p].sha256)
    unchanged = tuple(p for p in sorted(local_map) if p in live and live[p].sha256 == local_map[p].sha256)
    deleted = tuple(p for p in sorted(live) if p not in local_map)
    if max_delete is not None and len(deleted) > max_delete:
        raise RefusedError(f"the release would delete {len(deleted)} file{'' if len(deleted) == 1 else 's'}, over "
                           f"--max-delete {max_delete}: "
                           + ", ".join(deleted[:10]) + (" …" if len(deleted) > 10 else ""), kind=ErrorKind.GUARDRAIL)
    return PublishPlan(added, changed, deleted, unchanged)


def reupload_stale(plan: PublishPlan, stale: Sequence[str]) -> PublishPlan:
    """Move unchanged files whose pinned version is no longer the live one to `changed`, so the new
    release pins bytes that lifecycle rules will not expire as noncurrent."""
    if not stale:
        return plan
    return PublishPlan(plan.added, tuple(sorted(set(plan.changed) | set(stale))), plan.deleted,
                       tuple(p for p in plan.unchanged if p not in stale))


def republishes_current(plan: PublishPlan, current: ReleaseManifest | None) -> bool:
    """Unchanged content published again: no upload, no new release. A first release, or the first
    after a retirement, always makes a release (even an empty one)."""
    return not plan.changes_files and current is not None and not current.retired


def dag_id_conflicts(package: str, dag_ids: Sequence[str], others: Mapping[str, ReleaseManifest]) -> list[str]:
    """Every dag_id this package may not publish: owned by another live package of the environment,
    or carrying the longer prefix of another package (`alpha_ext_x` is not `alpha`'s)."""
    problems: list[str] = []
    all_packages = set(others) | {package}
    owners = {d: p for p, m in others.items() if not m.retired for d in m.dag_ids}
    for dag_id in sorted(set(dag_ids)):
        if dag_id in owners:
            problems.append(f"dag_id {dag_id!r} is already owned by package {owners[dag_id]!r}")
        elif dag_id.startswith(f"{package}_") and not dag_id_belongs_to(dag_id, package, all_packages):
            longer = max((p for p in all_packages if dag_id.startswith(f"{p}_")), key=len)
            problems.append(f"dag_id {dag_id!r} carries the prefix of package {longer!r}")
    return problems


def refuse_conflicts(verb: str, package: str, dag_ids: Sequence[str], others: Mapping[str, ReleaseManifest]) -> None:
    """Raise RefusedError listing every dag_id conflict of the release, if any."""
    conflicts = dag_id_conflicts(package, dag_ids, others)
    if conflicts:
        raise RefusedError(f"refusing to {verb} {package}:\n  " + "\n  ".join(conflicts),
                           kind=ErrorKind.DAG_ID_CONFLICT)


def image_mismatches(images: Mapping[str, Sequence[tuple[str, str, str | None]]], expected: str) -> list[str]:
    """Every KubernetesPodOperator task that would not run `expected` (the image CI built, --image /
    IMAGE_TAG), or whose image the validator could not see (computed, and the Airflow parse skipped)."""
    problems: list[str] = []
    for file, tasks in sorted(images.items()):
        for dag_id, task_id, image in tasks:
            where = f"{file}: " + (f"dag {dag_id!r} " if dag_id else "") + f"task {task_id!r}"
            if image is None:
                problems.append(f"{where}: its image is computed, so it cannot be compared with --image {expected} "
                                "(publish with the Airflow parse, i.e. without --skip-dynamic-validation)")
            elif image != expected:
                problems.append(f"{where} runs {image}, not --image {expected}")
    return problems


def refuse_image_mismatches(images: Mapping[str, Sequence[tuple[str, str, str | None]]], expected: str | None) -> None:
    """The image a job runs is the image its CI built: with --image (IMAGE_TAG) given, every
    KubernetesPodOperator task of the release must run exactly that image."""
    if expected is None:
        return
    problems = image_mismatches(images, expected)
    if problems:
        raise RefusedError("refusing to publish: the release's jobs would not run the image this publish names "
                           "(regenerate the DAG files with `generate --image`, or set DAG_SPEC in the CI template "
                           "so it does):\n  " + "\n  ".join(problems), kind=ErrorKind.IMAGE_MISMATCH)


def release_image(declared: str | None, job_images: Sequence[str]) -> str | None:
    """The image a release records: the declared one (checked against the jobs), else the one image
    every job runs; None when they run several and none was declared."""
    if declared:
        return declared
    return job_images[0] if len(set(job_images)) == 1 else None


def rollback_target(releases: Sequence[ReleaseManifest], head_id: str, to: str | None, *, url: str,
                    package: str) -> ReleaseManifest:
    """The release a rollback restores: `to`, or the newest release before the current one."""
    if to is None:
        older = [r for r in releases if r.release_id != head_id]
        if not older:
            raise RefusedError(f"{url}: there is no release before {head_id} to roll back to")
        target = older[0]
    else:
        found = [r for r in releases if r.release_id == to]
        if not found:
            raise UsageError(f"{url}: --to {to!r}: no such release in the history of {package!r} (see `history`)",
                             kind=ErrorKind.UNKNOWN_RELEASE)
        target = found[0]
    if target.retired:
        raise RefusedError(f"release {target.release_id} of {package!r} is a retirement tombstone; "
                           "roll back to a release with files")
    if target.release_id == head_id:
        raise RefusedError(f"release {target.release_id} is already the current release of {package!r}")
    return target


def promotion_source(source: ReleaseManifest | None, *, from_env: str, env: str, package: str,
                     release_id: str | None, url: str, same_bucket: bool = True) -> ReleaseManifest:
    """The release a promotion copies: it exists, is not a tombstone, and comes from another environment."""
    if from_env == env and same_bucket:
        raise UsageError(f"--from-env and --env are both {env!r}: promote copies a release between two "
                         "environments (use `rollback --to` within one)")
    if source is None and release_id:
        raise UsageError(f"{url}: --release {release_id!r}: package {package!r} has no such release in environment "
                         f"{from_env!r} (see `history --env {from_env}`)", kind=ErrorKind.UNKNOWN_RELEASE)
    if source is None:
        raise RefusedError(f"{url}: package {package!r} has no current release in environment {from_env!r} (see "
                           f"`history --env {from_env}`)", kind=ErrorKind.NO_RELEASE)
    if source.retired:
        raise RefusedError(f"release {source.release_id} of {package!r} in {from_env!r} is a retirement tombstone; "
                           "promote a release with files", kind=ErrorKind.RETIRED)
    return source
