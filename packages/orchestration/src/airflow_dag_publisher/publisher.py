"""The publish protocol (docs/airflow/README.md), whole, in one place: read the source once, validate
exactly those bytes, list the environment once, plan (publish_plan.py), upload, commit conditionally,
journal, clean up, verify. Rollback and retire commit new releases the same way. With a signer,
every commit is signed (in `_commit`, the one place a release is committed).

The command-line layer only parses options and renders the typed results returned here; a library
user gets the same protocol and cannot skip validation by accident (`Validation.STATIC` is the
only way to skip the Airflow parse, and nothing skips the conventions).
"""

from __future__ import annotations

import enum
import hashlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from airflow_dag_publisher.archive import CONTENT_TYPE as ARCHIVE_CONTENT_TYPE
from airflow_dag_publisher.archive import archive_ref, build_archive
from airflow_dag_publisher.environments import EnvironmentSettings, read_settings, refuse_unsigned
from airflow_dag_publisher.errors import (
    ConflictError,
    DagPublisherError,
    ErrorKind,
    ManifestError,
    NotFoundError,
    RefusedError,
    StorageError,
)
from airflow_dag_publisher.manifest import (
    ArchiveRef,
    FileEntry,
    PromotedFrom,
    ReleaseManifest,
    new_release_id,
    next_sequence,
    parse_manifest,
    utc_now_iso,
)
from airflow_dag_publisher.publish_plan import (
    ChangePlan,
    PublishPlan,
    plan_change,
    plan_publish,
    promotion_source,
    refuse_conflicts,
    refuse_image_mismatches,
    release_image,
    republishes_current,
    reupload_stale,
    rollback_target,
)
from airflow_dag_publisher.release_reader import (
    CurrentRelease,
    Environment,
    find_release,
    read_current,
    read_environment,
    read_history,
    read_manifests,
)
from airflow_dag_publisher.signing import Signer, already_signed_by, sign_manifest
from airflow_dag_publisher.sources import DEFAULT_MAX_FILE_BYTES, LocalFile, read_source
from airflow_dag_publisher.spec_release import refuse_unless_generated, with_spec
from airflow_dag_publisher.storage import (
    Storage,
    archive_key,
    dag_key,
    environment_key,
    journal_key,
    manifest_key,
    release_key,
)
from airflow_dag_publisher.validators import ValidationReport, validate_files

UPLOAD_WORKERS = 8


class Validation(enum.Enum):
    FULL = "full"      # the conventions, ruff's AIR rules and a real Airflow parse of every file
    STATIC = "static"  # the conventions and ruff only: for CI that ran `validate --require-airflow` already


class ValidationFailed(RefusedError):
    """The release's files failed validation; nothing was published. Carries the report."""

    kind = ErrorKind.VALIDATION

    def __init__(self, report: ValidationReport, source: str) -> None:
        lines = [f"{f.file}: {f.rule}: {f.message}" for f in report.errors()]
        super().__init__(f"validation of {source} failed; nothing was published:\n  " + "\n  ".join(lines))
        self.report = report


@dataclass(frozen=True)
class ReleaseMeta:
    """Who and what made a release: recorded in its manifest."""

    published_by: str
    tool_version: str
    git_sha: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class PublishOptions:
    validation: Validation = Validation.FULL
    allow_empty: bool = False
    max_delete: int | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    dry_run: bool = False
    packages_file: Path | None = None  # the package list the cluster policy judges against (default: found)
    spec: Path | None = None  # `--spec`: the jobs.yaml the release carries (a spec-only package's)


@dataclass
class PublishResult:
    """What a publish, rollback or retire did. `manifest` is the release now current (the new one,
    or the unchanged current one for a no-op); with `dry_run`, nothing was written."""

    release_id: str | None
    plan: PublishPlan
    noop: bool
    manifest: ReleaseManifest | None = None
    previous_release_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    report: ValidationReport | None = None
    dry_run: bool = False
    restored_from: str | None = None  # rollback: the release whose files were restored
    committed_at: float | None = None  # epoch seconds of the commit (its journal entry's milliseconds)

    @property
    def dag_ids(self) -> list[str]:
        if self.report is not None:
            return self.report.all_dag_ids
        return list(self.manifest.dag_ids) if self.manifest else []

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"release_id": self.release_id, "uploaded": len(self.plan.uploads),
                               "deleted": len(self.plan.deleted), "unchanged": len(self.plan.unchanged),
                               "noop": self.noop}
        if self.dry_run:
            doc = {"dry_run": True, **self.plan.to_dict(), "current_release_id": self.previous_release_id,
                   "dag_ids": self.dag_ids}
        if self.restored_from is not None:
            doc["restored_from"] = self.restored_from
        if not self.dry_run and self.manifest is not None and self.manifest.signature is not None:
            doc["signed_by"] = self.manifest.signature.key_id
        return doc


class Publisher:
    """Publishes, rolls back and retires releases of one package of one environment."""

    def __init__(self, storage: Storage, env: str, package: str, *,
                 on_upload: Callable[[str, int], None] | None = None, signer: Signer | None = None) -> None:
        self.storage = storage
        self.signer = signer
        self.env = env
        self.package = package
        self.on_upload = on_upload
        self.url = storage.url(f"{env}/{package}/")
        self._settings: EnvironmentSettings | None = None

    def _check_environment(self, action: str) -> None:
        """Before anything is written: the environment exists (its `_environment.json`; a publish never
        creates one), and a commit without a signer into an environment that requires signatures
        (every agent there would refuse the release) is refused."""
        if self._settings is None:
            self._settings = read_settings(self.storage, self.env)
        refuse_unsigned(self._settings, signed=self.signer is not None, action=action,
                        url=self.storage.url(environment_key(self.env)))

    # -- publish --------------------------------------------------------------------------------
    def publish(self, source: Path, meta: ReleaseMeta, options: PublishOptions = PublishOptions()) -> PublishResult:
        """Publish the folder `source`: every file is read once, and those bytes are what is
        validated and uploaded."""
        files = with_spec(read_source(source, max_file_bytes=options.max_file_bytes), options.spec)
        refuse_unless_generated(files, self.package, options.packages_file, source)
        return self.publish_files(files, meta, options, source=str(source), origin=source)

    def publish_files(self, files: Sequence[LocalFile], meta: ReleaseMeta, options: PublishOptions = PublishOptions(),
                      *, source: str = "the release", origin: Path | None = None,
                      environment: Environment | None = None) -> PublishResult:
        """Publish these files. `origin`: the folder they came from (it locates the package list the
        cluster policy judges them against). `environment`: the other packages as the caller already
        read them (bulk publishing, e.g. bench/); by default the environment is listed once, here."""
        self._check_environment("published")
        if environment is None:
            listing = self.storage.list_manifests(self.env)  # the one listing of the environment
            names = {e.package for e in listing}
        else:
            listing, names = [], set(environment.manifests)
        report = validate_files(files, self.package, origin=origin, dynamic=options.validation is Validation.FULL,
                                other_packages=names - {self.package}, packages_file=options.packages_file)
        if not report.ok:
            raise ValidationFailed(report, source)
        self.storage.require_versioning()
        self._check_signer()
        current = read_current(self.storage, self.env, self.package)
        if environment is None:
            environment = read_manifests(self.storage, self.env, listing, skip=self.package)
        warnings = list(environment.warnings)
        if current.problem:
            warnings.insert(0, f"the current manifest is unreadable and will be replaced: {current.problem}")
        refuse_conflicts("publish", self.package, report.all_dag_ids, environment.manifests)
        refuse_image_mismatches(report.images, meta.image)
        meta = replace(meta, image=release_image(meta.image, report.job_images))
        if meta.image is None and len(report.job_images) > 1:
            warnings.append(f"the release's jobs run {len(report.job_images)} different images "
                            f"({', '.join(report.job_images)}); pass --image to name the one CI built")
        plan = plan_publish(files, current.manifest, allow_empty=options.allow_empty, max_delete=options.max_delete)
        stale = self._stale_pins(current.manifest, plan.unchanged)
        if stale:
            warnings.append(f"re-uploading {len(stale)} unchanged file(s) whose live copy an unfinished or losing "
                            "publish overwrote, so the release pins the live version (lifecycle rules expire "
                            "noncurrent versions): " + ", ".join(stale[:5]) + (" …" if len(stale) > 5 else ""))
            plan = reupload_stale(plan, stale)
        result = PublishResult(current.release_id, plan, False, current.manifest, current.release_id, warnings,
                               report)
        if options.dry_run:
            result.dry_run = True
            return result
        if republishes_current(plan, current.manifest) and not self._needs_signature(current.manifest):
            result.noop = True
            return result
        by_path = {f.path: f for f in files}
        versions, archive = self._upload([by_path[p] for p in plan.uploads], archive_of=files)
        live = current.live_files
        entries = tuple(FileEntry(f.path, f.sha256, f.size, versions.get(f.path) or live[f.path].version_id)
                        for f in sorted(files, key=lambda f: f.path))
        manifest = self._new_manifest(current, entries, tuple(report.all_dag_ids), meta, archive=archive)
        manifest, result.committed_at, more = self._commit(manifest, current, removed=plan.deleted)
        warnings += more
        result.release_id, result.manifest = manifest.release_id, manifest
        return result

    def _check_signer(self) -> None:
        """A signing key that cannot be used (missing, denied, wrong kind) fails before anything is written."""
        if self.signer is not None:
            self.signer.public_key()

    def _needs_signature(self, current: ReleaseManifest | None) -> bool:
        """Unchanged content is still a new release when the current one is not signed by this signer
        (signing turned on, or a rotated key): agents that trust only the new key can then apply it."""
        return self.signer is not None and not already_signed_by(current, self.signer)

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

    def _upload(self, files: Sequence[LocalFile], *, archive_of: Sequence[LocalFile] = ()
                ) -> tuple[dict[str, str], ArchiveRef | None]:
        """Upload `files` (in parallel), and the archive of every file of the release, `archive_of`
        (none for an empty release). Returns each path's VersionId and the archive's pin."""
        def put(f: LocalFile) -> tuple[str, str]:
            stored = self.storage.put(dag_key(self.env, self.package, f.path), f.data,
                                      content_type="text/x-python" if f.path.endswith(".py") else
                                      "application/octet-stream")
            if not stored.version_id:
                raise StorageError(f"{self.storage.url(stored.key)}: the bucket returned no VersionId "
                                   "(is versioning enabled?)")
            if self.on_upload:
                self.on_upload(f.path, len(files))
            return f.path, stored.version_id

        with ThreadPoolExecutor(max_workers=max(1, min(UPLOAD_WORKERS, len(files)))) as pool:
            archive = pool.submit(self._put_archive, [(f.path, f.data) for f in archive_of]) if archive_of else None
            versions = dict(pool.map(put, files))
            return versions, archive.result() if archive else None

    def _put_archive(self, files: Sequence[tuple[str, bytes]]) -> ArchiveRef:
        data = build_archive(files)
        stored = self.storage.put(archive_key(self.env, self.package), data, content_type=ARCHIVE_CONTENT_TYPE)
        if not stored.version_id:
            raise StorageError(f"{self.storage.url(stored.key)}: the bucket returned no VersionId "
                               "(is versioning enabled?)")
        return archive_ref(stored.version_id, data)

    def _new_manifest(self, current: CurrentRelease, files: tuple[FileEntry, ...], dag_ids: tuple[str, ...],
                      meta: ReleaseMeta, *, retired: bool = False, archive: ArchiveRef | None = None
                      ) -> ReleaseManifest:
        return ReleaseManifest(
            env=self.env, package=self.package, release_id=new_release_id(), created_at=utc_now_iso(),
            files=files, dag_ids=dag_ids, published_by=meta.published_by, git_sha=meta.git_sha,
            image=meta.image, tool_version=meta.tool_version, previous_release_id=current.release_id,
            retired=retired, archive=archive, sequence=next_sequence(current.manifest),
        )

    # -- commit ---------------------------------------------------------------------------------
    def _commit(self, manifest: ReleaseManifest, current: CurrentRelease, *, removed: Sequence[str]
                ) -> tuple[ReleaseManifest, float, list[str]]:
        """Sign (with a signer), keep the release under its id (`_keep_releases`), conditional PUT of
        manifest.json (the commit point), then journal, cleanup and verification. Returns the manifest
        committed, the commit time (epoch seconds, as the journal entry records it) and the warnings."""
        if self.signer is not None:
            manifest = sign_manifest(manifest, self.signer)
        body = manifest.to_json()
        warnings = self._keep_releases(manifest, body, current)
        key = manifest_key(self.env, self.package)
        condition = {"if_match": current.etag} if current.etag else {"if_none_match": "*"}
        try:
            self.storage.put(key, body, content_type="application/json", **condition)
        except ConflictError:
            raise ConflictError(
                f"another publish of {self.package!r} committed {self.storage.url(key)} first; "
                "this release was not committed and nothing of it is visible to Airflow. Re-run to publish "
                "on top of the new release."
            ) from None
        committed_ms = int(time.time() * 1000)
        try:
            self.storage.put(journal_key(self.env, self.package, committed_ms), b"")
        except DagPublisherError as exc:
            warnings.append(f"release committed, but the journal entry failed (agents will find the release "
                            f"at their next reconciliation): {exc}")
        for path in removed:
            try:
                self.storage.delete(dag_key(self.env, self.package, path))
            except DagPublisherError as exc:
                warnings.append(f"release committed, but deleting the live copy of removed {path} failed: {exc}")
        warnings += self.verify(manifest)
        return manifest, committed_ms / 1000, warnings

    def _keep_releases(self, manifest: ReleaseManifest, body: bytes, current: CurrentRelease) -> list[str]:
        """Before the commit: the new release's manifest under its id (`storage.release_key`, written
        once: `IfNoneMatch`), so that every committed release is addressable by its id; a failure
        commits nothing. Then the current release's, when a publisher older than these copies
        committed it (usually one conditional PUT that S3 refuses because the copy exists; a failure
        is a warning: only that older release stays unaddressable by id)."""
        self.storage.put(release_key(self.env, self.package, manifest.release_id), body,
                         content_type="application/json", if_none_match="*")
        if current.manifest is None:
            return []
        key = release_key(self.env, self.package, current.manifest.release_id)
        try:
            self.storage.put(key, current.manifest.to_json(), content_type="application/json", if_none_match="*")
        except ConflictError:
            pass  # kept already
        except DagPublisherError as exc:
            return [f"the current release {current.manifest.release_id} has no copy under its id and writing "
                    f"{self.storage.url(key)} failed (tasks of its runs may not find it once it is replaced): {exc}"]
        return []

    def verify(self, manifest: ReleaseManifest) -> list[str]:
        """Read back the manifest and HEAD each pinned file version. Problems come back as warnings:
        the release is already committed."""
        key = manifest_key(self.env, self.package)
        problems: list[str] = []
        obj = self.storage.get(key).obj
        try:
            held = parse_manifest(obj.body, source=self.storage.url(key)).release_id if obj is not None else None
        except ManifestError as exc:
            problems.append(f"{self.storage.url(key)} no longer holds a readable release: {exc}")
        else:
            if held != manifest.release_id:
                problems.append(f"{self.storage.url(key)} no longer holds release {manifest.release_id} "
                                "(a newer publish may have followed)")

        def check(f: FileEntry) -> str | None:
            try:
                head = self.storage.head(dag_key(self.env, self.package, f.path), version_id=f.version_id)
            except DagPublisherError as exc:
                return f"{f.path}: pinned version {f.version_id} cannot be read: {exc}"
            if int(head.get("ContentLength", -1)) != f.size:
                return f"{f.path}: version {f.version_id} has {head.get('ContentLength')} bytes, expected {f.size}"
            return None

        def check_archive(ref: ArchiveRef) -> str | None:
            key = archive_key(self.env, self.package)
            try:
                head = self.storage.head(key, version_id=ref.version_id)
            except DagPublisherError as exc:
                return f"archive {self.storage.url(key)}: pinned version {ref.version_id} cannot be read: {exc}"
            if int(head.get("ContentLength", -1)) != ref.size:
                return f"archive version {ref.version_id} has {head.get('ContentLength')} bytes, expected {ref.size}"
            return None

        if manifest.files:
            with ThreadPoolExecutor(max_workers=min(UPLOAD_WORKERS, len(manifest.files) + 1)) as pool:
                archived = pool.submit(check_archive, manifest.archive) if manifest.archive else None
                problems += [p for p in pool.map(check, manifest.files) if p]
                problems += [p for p in [archived.result() if archived else None] if p]
        return problems

    # -- rollback and retire -----------------------------------------------------------------------
    def plan_rollback(self, to: str | None = None) -> ChangePlan:
        """What `rollback` would change (the same checks and refusals), writing nothing."""
        return self._rollback_plan(to)[0]

    def _rollback_plan(self, to: str | None) -> tuple[ChangePlan, ReleaseManifest, CurrentRelease, list[str]]:
        self._check_environment("rolled back")
        self.storage.require_versioning()
        self._check_signer()
        releases, warnings = read_history(self.storage, self.env, self.package)
        if not releases:
            raise RefusedError(f"{self.url}: no releases to roll back", kind=ErrorKind.NO_RELEASE)
        current = read_current(self.storage, self.env, self.package)
        head_id = current.release_id or releases[0].release_id
        target = rollback_target(releases, head_id, to, url=self.url, package=self.package)
        environment = read_manifests(self.storage, self.env, self.storage.list_manifests(self.env), skip=self.package)
        warnings += environment.warnings
        refuse_conflicts("roll back", self.package, target.dag_ids, environment.manifests)
        return plan_change("rollback", self.env, self.package, current.manifest, target), target, current, warnings

    def _as_confirmed(self, plan: ChangePlan, confirmed: ChangePlan | None) -> None:
        """The change about to be made is the one that was shown and confirmed (its current release and
        target unchanged since): otherwise nothing is written."""
        if confirmed is not None and (plan.current_release_id, plan.restores) != (
                confirmed.current_release_id, confirmed.restores):
            raise ConflictError(f"{self.url}: the current release is {plan.current_release_id}, not "
                                f"{confirmed.current_release_id} as when the change was confirmed (another publish "
                                "came first); nothing was changed: run the command again")

    def rollback(self, meta: ReleaseMeta, to: str | None = None, *,
                 confirmed: ChangePlan | None = None) -> PublishResult:
        """A new release whose files are an earlier release's files (copied from their pinned versions).
        `confirmed`: the plan a person confirmed (plan_rollback); the rollback is refused if it no longer holds."""
        plan, target, current, warnings = self._rollback_plan(to)
        self._as_confirmed(plan, confirmed)
        live = current.live_files
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
        archive = self._restore_archive(target)
        manifest = self._new_manifest(current, tuple(entries), target.dag_ids, meta, archive=archive)
        manifest, committed_at, more = self._commit(manifest, current, removed=removed)
        warnings += more
        done = PublishPlan(added=tuple(p for p in copied if p not in live),
                           changed=tuple(p for p in copied if p in live), deleted=removed,
                           unchanged=tuple(e.path for e in entries if e.path not in copied))
        return PublishResult(manifest.release_id, done, False, manifest, current.release_id, warnings,
                             restored_from=target.release_id, committed_at=committed_at)

    def _restore_archive(self, target: ReleaseManifest) -> ArchiveRef | None:
        """The archive of a rolled-back-to release, current again: its pinned version copied over the
        live key (noncurrent versions expire), or, for a release published before archives (or whose
        archive version expired), built from its files as pinned (each verified)."""
        if not target.files:
            return None
        key = archive_key(self.env, self.package)
        if target.archive is not None:
            try:
                stored = self.storage.copy_version(key, target.archive.version_id)
            except NotFoundError:  # expired by the lifecycle rules: build it again from the files
                pass
            else:
                return ArchiveRef(stored.version_id or target.archive.version_id, target.archive.sha256,
                                  target.archive.size, target.archive.format)

        def read(f: FileEntry) -> tuple[str, bytes]:
            where = dag_key(self.env, self.package, f.path)
            obj = self.storage.get(where, version_id=f.version_id).obj
            if obj is None or len(obj.body) != f.size or hashlib.sha256(obj.body).hexdigest() != f.sha256:
                raise RefusedError(f"{self.storage.url(where)} version {f.version_id} does not hold the bytes "
                                   f"release {target.release_id} pins; not rolling back", kind=ErrorKind.CHECKSUM)
            return f.path, obj.body

        with ThreadPoolExecutor(max_workers=min(UPLOAD_WORKERS, len(target.files))) as pool:
            files = list(pool.map(read, target.files))
        return self._put_archive(files)

    # -- promote -------------------------------------------------------------------------------------
    def promote(self, meta: ReleaseMeta, from_env: str, release_id: str | None = None, *,
                source_storage: Storage | None = None, allow_empty: bool = False,
                max_delete: int | None = None) -> PublishResult:
        """A new release of this environment whose files are the exact bytes of a release of `from_env`
        (its current one by default; in `source_storage`'s bucket, default this one), copied
        server-side by pinned version: same content_digest, same image and git sha, `promoted_from`
        recording the source. Same guardrails and conditional commit as publish; dag_id ownership is
        checked against this environment's other packages."""
        self._check_environment("promoted")
        self.storage.require_versioning()
        self._check_signer()
        origin = source_storage or self.storage
        read_settings(origin, from_env)  # the source environment exists too
        if release_id is None:
            found = read_current(origin, from_env, self.package).manifest
        else:
            found = find_release(origin, from_env, self.package, release_id)
        source = promotion_source(found, from_env=from_env, env=self.env, package=self.package,
                                  release_id=release_id, url=origin.url(f"{from_env}/{self.package}/"),
                                  same_bucket=origin.bucket == self.storage.bucket)
        current = read_current(self.storage, self.env, self.package)
        environment = read_environment(self.storage, self.env, skip=self.package)
        warnings = list(environment.warnings)
        refuse_conflicts("promote", self.package, source.dag_ids, environment.manifests)
        plan = plan_publish(source.files, current.manifest, allow_empty=allow_empty, max_delete=max_delete)
        plan = reupload_stale(plan, self._stale_pins(current.manifest, plan.unchanged))
        result = PublishResult(current.release_id, plan, False, current.manifest, current.release_id, warnings)
        if republishes_current(plan, current.manifest) and not self._needs_signature(current.manifest):
            result.noop = True
            return result
        live = current.live_files
        copied = self._copy_from(origin.bucket, from_env, [f for f in source.files if f.path in plan.uploads])
        entries = tuple(copied.get(f.path) or live[f.path] for f in source.files)
        manifest = self._new_manifest(current, entries, source.dag_ids, replace(meta, image=source.image,
                                                                                  git_sha=source.git_sha))
        manifest = manifest.with_changes(promoted_from=PromotedFrom(from_env, source.release_id),
                                         archive=self._copy_archive(origin.bucket, from_env, source.archive))
        if manifest.content_digest != source.content_digest:  # the same files, so the same digest
            raise RefusedError(f"promoting {source.release_id}: the copied files' digest {manifest.content_digest} "
                               f"is not the source's {source.content_digest}; nothing was committed")
        manifest, result.committed_at, more = self._commit(manifest, current, removed=plan.deleted)
        result.warnings += more
        result.release_id, result.manifest = manifest.release_id, manifest
        return result

    def _copy_from(self, bucket: str, from_env: str, files: Sequence[FileEntry]) -> dict[str, FileEntry]:
        """Server-side copies of pinned versions from `from_env` of `bucket` (in parallel): path -> the new entry."""
        def copy(f: FileEntry) -> tuple[str, FileEntry]:
            assert f.version_id is not None
            stored = self.storage.copy_version(dag_key(self.env, self.package, f.path), f.version_id,
                                               source_key=dag_key(from_env, self.package, f.path), source_bucket=bucket)
            if not stored.version_id:
                raise StorageError(f"{self.storage.url(stored.key)}: the bucket returned no VersionId for the copy")
            return f.path, FileEntry(f.path, f.sha256, f.size, stored.version_id)

        if not files:
            return {}
        with ThreadPoolExecutor(max_workers=min(UPLOAD_WORKERS, len(files))) as pool:
            return dict(pool.map(copy, files))

    def _copy_archive(self, bucket: str, from_env: str, archive: ArchiveRef | None) -> ArchiveRef | None:
        """The source release's archive (dags.tar.gz), copied by its pinned version, if it has one."""
        if archive is None:
            return None
        stored = self.storage.copy_version(archive_key(self.env, self.package), archive.version_id,
                                           source_key=archive_key(from_env, self.package), source_bucket=bucket)
        if not stored.version_id:
            raise StorageError(f"{self.storage.url(stored.key)}: the bucket returned no VersionId for the copy")
        return replace(archive, version_id=stored.version_id)

    def plan_retire(self) -> ChangePlan:
        """What `retire` would change (the same checks and refusals), writing nothing."""
        return self._retire_plan()[0]

    def _retire_plan(self) -> tuple[ChangePlan, CurrentRelease]:
        self._check_environment("retired")
        self.storage.require_versioning()
        current = read_current(self.storage, self.env, self.package)
        if current.etag is None:
            raise RefusedError(f"{self.url}: package {self.package!r} was never published; nothing to retire",
                               kind=ErrorKind.NO_RELEASE)
        return plan_change("retire", self.env, self.package, current.manifest, None), current

    def retire(self, meta: ReleaseMeta, *, confirmed: ChangePlan | None = None) -> PublishResult:
        """Commit a tombstone release: the package leaves Airflow; history keeps every release.
        `confirmed`: the plan a person confirmed (plan_retire); refused if it no longer holds."""
        plan, current = self._retire_plan()
        self._as_confirmed(plan, confirmed)
        if current.manifest is not None and current.manifest.retired:
            return PublishResult(current.manifest.release_id, PublishPlan(), True, current.manifest,
                                 current.release_id)
        live = current.live_files
        manifest = self._new_manifest(current, (), (), meta, retired=True)
        manifest, committed_at, warnings = self._commit(manifest, current, removed=tuple(sorted(live)))
        return PublishResult(manifest.release_id, PublishPlan(deleted=tuple(sorted(live))), False, manifest,
                             current.release_id, warnings, committed_at=committed_at)
