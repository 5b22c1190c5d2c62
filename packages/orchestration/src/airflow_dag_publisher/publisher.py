"""The publish protocol (ARCHITECTURE.md): a pure plan from (local files, current manifest, other
packages), then its application through storage: upload, conditional commit, journal, cleanup,
verify. Rollback and retire commit new releases the same way."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from airflow_dag_publisher.catalog import CurrentRelease, read_current, read_environment, read_history
from airflow_dag_publisher.errors import ConflictError, DagPublisherError, NotFoundError, RefusedError, StorageError
from airflow_dag_publisher.manifest import FileEntry, ReleaseManifest, new_release_id, utc_now_iso
from airflow_dag_publisher.names import dag_id_belongs_to
from airflow_dag_publisher.sources import LocalFile
from airflow_dag_publisher.storage import Storage, dag_key, journal_key, manifest_key

UPLOAD_WORKERS = 8


@dataclass(frozen=True)
class PublishPlan:
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def noop(self) -> bool:
        return not (self.added or self.changed or self.deleted)

    def to_dict(self) -> dict[str, list[str]]:
        return {"added": list(self.added), "changed": list(self.changed), "deleted": list(self.deleted),
                "unchanged": list(self.unchanged)}


@dataclass(frozen=True)
class ReleaseMeta:
    published_by: str
    tool_version: str
    git_sha: str | None = None
    image: str | None = None


@dataclass
class PublishResult:
    release_id: str | None
    plan: PublishPlan
    noop: bool
    manifest: ReleaseManifest | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"release_id": self.release_id, "uploaded": len(self.plan.added) + len(self.plan.changed),
                "deleted": len(self.plan.deleted), "unchanged": len(self.plan.unchanged), "noop": self.noop}


def plan_publish(local: Sequence[LocalFile], current: ReleaseManifest | None, *, allow_empty: bool = False,
                 max_delete: int | None = None) -> PublishPlan:
    """Compare local files with the current release by sha256. Raises RefusedError on a guardrail."""
    if not local and not allow_empty:
        raise RefusedError("the release would have no files; pass --allow-empty to publish an empty release "
                           "(use `retire` to remove a package from Airflow)")
    live = current.file_map() if current is not None and not current.retired else {}
    local_map = {f.path: f for f in local}
    added = tuple(p for p in sorted(local_map) if p not in live)
    changed = tuple(p for p in sorted(local_map) if p in live and live[p].sha256 != local_map[p].sha256)
    unchanged = tuple(p for p in sorted(local_map) if p in live and live[p].sha256 == local_map[p].sha256)
    deleted = tuple(p for p in sorted(live) if p not in local_map)
    if max_delete is not None and len(deleted) > max_delete:
        raise RefusedError(f"the release would delete {len(deleted)} files, over --max-delete {max_delete}: "
                           + ", ".join(deleted[:10]) + (" …" if len(deleted) > 10 else ""))
    return PublishPlan(added, changed, deleted, unchanged)


def is_noop(plan: PublishPlan, current: ReleaseManifest | None) -> bool:
    """Unchanged content republished: no upload, no new release. A first release, or the first
    after a retirement, is never a no-op (even an empty one)."""
    return plan.noop and current is not None and not current.retired


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


class Publisher:
    """Applies releases of one package of one environment through `storage`."""

    def __init__(self, storage: Storage, env: str, package: str, *,
                 on_upload: Callable[[str], None] | None = None) -> None:
        self.storage = storage
        self.env = env
        self.package = package
        self.on_upload = on_upload
        self.url = f"s3://{storage.bucket}/{env}/{package}/"

    # -- publish --------------------------------------------------------------------------------
    def prepare(self, files: Sequence[LocalFile], dag_ids: Sequence[str], *, allow_empty: bool = False,
                max_delete: int | None = None) -> tuple[CurrentRelease, PublishPlan, list[str]]:
        """Every read and check of a publish, no writes: what --dry-run shows."""
        self.storage.require_versioning()
        current = read_current(self.storage, self.env, self.package)
        warnings = []
        if current.problem:
            warnings.append(f"the current manifest is unreadable and will be replaced: {current.problem}")
        others, skipped = read_environment(self.storage, self.env, skip=self.package)
        warnings.extend(skipped)
        conflicts = dag_id_conflicts(self.package, dag_ids, others)
        if conflicts:
            raise RefusedError("refusing to publish " + self.package + ":\n  " + "\n  ".join(conflicts))
        plan = plan_publish(files, current.manifest, allow_empty=allow_empty, max_delete=max_delete)
        stale = self._stale_pins(current.manifest, plan.unchanged)
        if stale:
            warnings.append(f"re-uploading {len(stale)} unchanged file(s) whose live copy an unfinished or losing "
                            "publish overwrote, so the release pins the live version (lifecycle rules expire "
                            "noncurrent versions): " + ", ".join(stale[:5]) + (" …" if len(stale) > 5 else ""))
            plan = replace(plan, changed=tuple(sorted(plan.changed + stale)),
                           unchanged=tuple(p for p in plan.unchanged if p not in stale))
        return current, plan, warnings

    def _stale_pins(self, current: ReleaseManifest | None, unchanged: Sequence[str]) -> tuple[str, ...]:
        """Unchanged files whose pinned version is no longer the live one (HEAD each, in parallel)."""
        if current is None or current.retired or not unchanged:
            return ()
        pinned = current.file_map()

        def stale(path: str) -> bool:
            try:
                head = self.storage.head(dag_key(self.env, self.package, path))
            except NotFoundError:
                return True
            return head.get("VersionId") != pinned[path].version_id

        with ThreadPoolExecutor(max_workers=min(UPLOAD_WORKERS, len(unchanged))) as pool:
            flags = list(pool.map(stale, unchanged))
        return tuple(p for p, is_stale in zip(unchanged, flags, strict=True) if is_stale)

    def publish(self, files: Sequence[LocalFile], dag_ids: Sequence[str], meta: ReleaseMeta, *,
                allow_empty: bool = False, max_delete: int | None = None) -> PublishResult:
        current, plan, warnings = self.prepare(files, dag_ids, allow_empty=allow_empty, max_delete=max_delete)
        if is_noop(plan, current.manifest):
            assert current.manifest is not None
            return PublishResult(current.manifest.release_id, plan, True, current.manifest, warnings)
        by_path = {f.path: f for f in files}
        versions = self._upload([by_path[p] for p in plan.added + plan.changed])
        live = current.manifest.file_map() if current.manifest and not current.manifest.retired else {}
        entries = tuple(
            FileEntry(f.path, f.sha256, f.size, versions.get(f.path) or live[f.path].version_id)
            for f in sorted(files, key=lambda f: f.path)
        )
        manifest = self._new_manifest(current, entries, tuple(sorted(set(dag_ids))), meta)
        warnings += self._commit(manifest, current, removed=plan.deleted)
        return PublishResult(manifest.release_id, plan, False, manifest, warnings)

    def _upload(self, files: Sequence[LocalFile]) -> dict[str, str]:
        def put(f: LocalFile) -> tuple[str, str]:
            stored = self.storage.put(dag_key(self.env, self.package, f.path), f.data,
                                      content_type="text/x-python" if f.path.endswith(".py") else
                                      "application/octet-stream")
            if not stored.version_id:
                raise StorageError(f"s3://{self.storage.bucket}/{stored.key}: the bucket returned no VersionId "
                                   "(is versioning enabled?)")
            if self.on_upload:
                self.on_upload(f.path)
            return f.path, stored.version_id

        if not files:
            return {}
        with ThreadPoolExecutor(max_workers=min(UPLOAD_WORKERS, len(files))) as pool:
            return dict(pool.map(put, files))

    def _new_manifest(self, current: CurrentRelease, files: tuple[FileEntry, ...], dag_ids: tuple[str, ...],
                      meta: ReleaseMeta, *, retired: bool = False) -> ReleaseManifest:
        return ReleaseManifest(
            env=self.env, package=self.package, release_id=new_release_id(), created_at=utc_now_iso(),
            files=files, dag_ids=dag_ids, published_by=meta.published_by, git_sha=meta.git_sha,
            image=meta.image, tool_version=meta.tool_version,
            previous_release_id=current.manifest.release_id if current.manifest else None, retired=retired,
        )

    def _commit(self, manifest: ReleaseManifest, current: CurrentRelease, *, removed: Sequence[str]) -> list[str]:
        """Conditional PUT of manifest.json, then journal, cleanup and verification."""
        key = manifest_key(self.env, self.package)
        try:
            if current.etag:
                self.storage.put(key, manifest.to_json(), content_type="application/json", if_match=current.etag)
            else:
                self.storage.put(key, manifest.to_json(), content_type="application/json", if_none_match="*")
        except ConflictError:
            raise ConflictError(
                f"another publish of {self.package!r} committed s3://{self.storage.bucket}/{key} first; "
                "this release was not committed and nothing of it is visible to Airflow. Re-run to publish "
                "on top of the new release."
            ) from None
        warnings: list[str] = []
        try:
            self.storage.put(journal_key(self.env, self.package, int(time.time() * 1000)), b"")
        except DagPublisherError as exc:
            warnings.append(f"release committed, but the journal entry failed (agents will find the release "
                            f"at their next reconciliation): {exc}")
        for path in removed:
            try:
                self.storage.delete(dag_key(self.env, self.package, path))
            except DagPublisherError as exc:
                warnings.append(f"release committed, but deleting the live copy of removed {path} failed: {exc}")
        warnings += self.verify(manifest)
        return warnings

    def verify(self, manifest: ReleaseManifest) -> list[str]:
        """Read back the manifest and HEAD each pinned file version. Problems come back as warnings:
        the release is already committed."""
        key = manifest_key(self.env, self.package)
        problems: list[str] = []
        obj = self.storage.get(key)
        if obj is None or b'"release_id": "' + manifest.release_id.encode() + b'"' not in obj.body:
            problems.append(f"s3://{self.storage.bucket}/{key} no longer holds release {manifest.release_id} "
                            "(a newer publish may have followed)")

        def check(f: FileEntry) -> str | None:
            try:
                head = self.storage.head(dag_key(self.env, self.package, f.path), version_id=f.version_id)
            except DagPublisherError as exc:
                return f"{f.path}: pinned version {f.version_id} cannot be read: {exc}"
            if int(head.get("ContentLength", -1)) != f.size:
                return f"{f.path}: version {f.version_id} has {head.get('ContentLength')} bytes, expected {f.size}"
            return None

        if manifest.files:
            with ThreadPoolExecutor(max_workers=min(UPLOAD_WORKERS, len(manifest.files))) as pool:
                problems += [p for p in pool.map(check, manifest.files) if p]
        return problems

    # -- rollback and retire -----------------------------------------------------------------------
    def rollback(self, meta: ReleaseMeta, to: str | None = None) -> PublishResult:
        self.storage.require_versioning()
        releases, warnings = read_history(self.storage, self.env, self.package)
        if not releases:
            raise RefusedError(f"{self.url}: no releases to roll back")
        current = read_current(self.storage, self.env, self.package)
        head_id = current.manifest.release_id if current.manifest else releases[0].release_id
        if to is None:
            older = [r for r in releases if r.release_id != head_id]
            if not older:
                raise RefusedError(f"{self.url}: there is no release before {head_id} to roll back to")
            target = older[0]
        else:
            found = [r for r in releases if r.release_id == to]
            if not found:
                raise RefusedError(f"{self.url}: no release {to!r} in the history (see `history`)")
            target = found[0]
        if target.retired:
            raise RefusedError(f"release {target.release_id} of {self.package!r} is a retirement tombstone; "
                               "roll back to a release with files")
        if target.release_id == head_id:
            raise RefusedError(f"release {target.release_id} is already the current release of {self.package!r}")
        others, skipped = read_environment(self.storage, self.env, skip=self.package)
        warnings += skipped
        conflicts = dag_id_conflicts(self.package, target.dag_ids, others)
        if conflicts:
            raise RefusedError("refusing to roll back " + self.package + ":\n  " + "\n  ".join(conflicts))
        live = current.manifest.file_map() if current.manifest and not current.manifest.retired else {}
        entries = []
        copied = []
        for f in target.files:
            same = live.get(f.path)
            if same is not None and same.sha256 == f.sha256:
                entries.append(same)
                continue
            assert f.version_id is not None
            stored = self.storage.copy_version(dag_key(self.env, self.package, f.path), f.version_id)
            entries.append(FileEntry(f.path, f.sha256, f.size, stored.version_id or f.version_id))
            copied.append(f.path)
        removed = tuple(p for p in sorted(live) if p not in target.file_map())
        manifest = self._new_manifest(current, tuple(entries), target.dag_ids, meta)
        warnings += self._commit(manifest, current, removed=removed)
        plan = PublishPlan(added=tuple(p for p in copied if p not in live),
                           changed=tuple(p for p in copied if p in live), deleted=removed,
                           unchanged=tuple(e.path for e in entries if e.path not in copied))
        return PublishResult(manifest.release_id, plan, False, manifest, warnings)

    def retire(self, meta: ReleaseMeta) -> PublishResult:
        self.storage.require_versioning()
        current = read_current(self.storage, self.env, self.package)
        if current.etag is None:
            raise RefusedError(f"{self.url}: package {self.package!r} was never published; nothing to retire")
        if current.manifest is not None and current.manifest.retired:
            return PublishResult(current.manifest.release_id, PublishPlan(), True, current.manifest)
        live = current.manifest.file_map() if current.manifest else {}
        manifest = self._new_manifest(current, (), (), meta, retired=True)
        warnings = self._commit(manifest, current, removed=tuple(sorted(live)))
        return PublishResult(manifest.release_id, PublishPlan(deleted=tuple(sorted(live))), False, manifest, warnings)
