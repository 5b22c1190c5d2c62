"""`ReleaseBundle`: one Airflow DAG bundle per package, versioned by release id.

Bundle name = package name; version = release id. Two sides, as Airflow's BaseDagBundle has them:

- Without a version (the dag-processor, and the scheduler and triggerer when they look at the
  bundle): the bundle is the sync agent's current release of the package on this node. `refresh()`
  reads the package's link once (`os.readlink(<dags>/<package>)`, which the agent swaps atomically
  to `.../releases/<package>/<release id>/<package>`) and takes both the release id and the release's
  root from that one answer: the version Airflow records and the files it parses change together,
  and a parse reads one immutable release directory, never a folder that changes under it.
  `get_current_version()` returns what the last refresh read. No S3 request and no database query:
  one readlink(2) per refresh. The agent stays the only downloader there.
- With a version (a task: the scheduler under LocalExecutor, a KubernetesExecutor task pod, a
  Celery worker): `initialize()` materialises exactly that release into Airflow's versions folder
  (`<dag_bundle_storage_path>/<package>/versions/<release id>`), from the agent's copy on this node
  when it holds it, else from S3, through the agent's own verified build (`bundle.materialise`).
  A release that cannot be materialised raises with one line naming the package, the release and
  why; nothing is written at that path.

A bundle's path (its root) holds one folder, `<package>/`, with the release's files: relative
filelocs are `<package>/<path>` as in the agent's DAGs folder, and Airflow, which puts a bundle's
path on `sys.path`, imports `<package>.<module>` from the same release.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import structlog
from airflow.dag_processing.bundles.base import BaseDagBundle, BundleVersion

from airflow_dag_publisher.bundle.materialise import STAGING, ReleaseSource, ReleaseUnavailableError, materialise
from airflow_dag_publisher.errors import DagPublisherError
from airflow_dag_publisher.names import BUCKET_RE, ENV_RE, PACKAGE_RE, RELEASE_ID_RE
from airflow_dag_publisher.storage import Storage, make_client
from airflow_dag_publisher.sync.releases import default_state_dir
from airflow_dag_publisher.sync.trust import load_trust

log = logging.getLogger(__name__)


class ReleaseBundle(BaseDagBundle):
    """The releases of one package (bundle name = package name), versioned by release id.

    :param bucket: the S3 bucket releases are published to
    :param env: the environment (the agent's --env)
    :param dags_dir: the agent's DAGs folder on this node (its --dags-dir); absent on a
        KubernetesExecutor task pod, where a version always comes from S3
    :param state_dir: the agent's state folder (its --state-dir; default: beside the DAGs folder)
    :param trust_file: the agent's trust file (package -> PEM public keys); a version must be
        signed as the agent requires
    :param require_signatures: as the agent's --require-signatures
    :param s3_timeout: connect and read timeout of each S3 request of a task's materialisation
    :param materialise_timeout: the whole materialisation of a version
    """

    supports_versioning = True

    def __init__(self, *, bucket: str, env: str, dags_dir: str, state_dir: str | None = None,
                 trust_file: str | None = None, require_signatures: bool = False, s3_timeout: float = 10.0,
                 materialise_timeout: float = 120.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not PACKAGE_RE.match(self.name):
            raise ValueError(f"bundle {self.name!r}: a ReleaseBundle's name is its package's ({PACKAGE_RE.pattern})")
        if self.version is not None and not RELEASE_ID_RE.match(self.version):
            raise ValueError(f"package {self.name}: bundle version {self.version!r} is not a release id")
        if not ENV_RE.match(env):
            raise ValueError(f"bundle {self.name!r}: env {env!r} is not an environment name")
        if not BUCKET_RE.match(bucket):
            raise ValueError(f"bundle {self.name!r}: bucket {bucket!r} is not an S3 bucket name")
        self.bucket = bucket
        self.env = env
        self.dags_dir = Path(os.path.abspath(dags_dir))
        self.state_dir = Path(os.path.abspath(state_dir)) if state_dir else default_state_dir(self.dags_dir)
        self.trust_file = trust_file
        self.require_signatures = bool(require_signatures)
        self.s3_timeout = float(s3_timeout)
        self.materialise_timeout = float(materialise_timeout)
        self._log = structlog.get_logger(__name__).bind(bundle_name=self.name, version=self.version, env=env,
                                                         bucket=bucket)
        self._current: tuple[Path, str] | None = None  # (release root, release id) as the last refresh read
        self._read = False
        self._real_dags: str | None = None

    def __repr__(self) -> str:
        return (f"<ReleaseBundle(name={self.name!r}, env={self.env!r}, bucket={self.bucket!r}, "
                f"version={self.version!r})>")

    # -- paths ----------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        if self.version:
            return Path(self.versions_dir) / self.version
        if not self._read:
            self._refresh_current()
        return self._current[0] if self._current else self._empty

    @property
    def _empty(self) -> Path:
        """The path while the agent holds no release of the package (not synced yet, or retired)."""
        return Path(self.base_dir) / "no-release"

    # -- the dag-processor's side: the agent's current release ------------------------------------
    def _refresh_current(self) -> None:
        """One readlink of the package's link: the release root and release id the agent swapped in."""
        self._read = True
        link = self.dags_dir / self.name
        try:
            target = os.readlink(link)
        except OSError:
            self._current = None
            return
        if self._real_dags is None:
            self._real_dags = os.path.realpath(self.dags_dir)
        files = os.path.normpath(os.path.join(self._real_dags, target))
        root, folder = os.path.split(files)
        parent, release_id = os.path.split(root)
        if folder != self.name or os.path.basename(parent) != self.name or not RELEASE_ID_RE.match(release_id):
            log.warning("bundle %s: %s -> %s is not a release of the sync agent's layout "
                        "(<state>/releases/%s/<release id>/%s); no release is served", self.name, link, target,
                        self.name, self.name)
            self._current = None
            return
        self._current = (Path(root), release_id)

    def refresh(self) -> None:
        if self.version:
            raise ReleaseUnavailableError(f"package {self.name}: bundle version {self.version} is fixed; "
                                          "only the unversioned bundle refreshes")
        before = self._current[1] if self._current else None
        self._refresh_current()
        after = self._current[1] if self._current else None
        if after != before:
            log.info("package %s: release %s (was %s)", self.name, after, before)

    def get_current_version(self) -> BundleVersion | None:
        if self.version:
            return BundleVersion(version=self.version)
        if not self._read:
            self._refresh_current()
        return BundleVersion(version=self._current[1]) if self._current else None

    # -- both ---------------------------------------------------------------------------------------
    def initialize(self) -> None:
        if self.version:
            self._materialise()
        else:
            self._refresh_current()
            self._empty.mkdir(parents=True, exist_ok=True)
        super().initialize()

    def _materialise(self) -> None:
        assert self.version is not None
        try:
            trust = load_trust(self.trust_file, require=self.require_signatures, option="trust_file")
        except DagPublisherError as exc:
            raise ReleaseUnavailableError(f"package {self.name}, release {self.version}: {exc}",
                                          kind=exc.kind) from None
        source = ReleaseSource(bucket=self.bucket, env=self.env, trust=trust, agent_state=self.state_dir,
                               timeout=self.materialise_timeout)
        dest = self.path
        started = time.monotonic()
        with self.lock():  # one materialisation of this package at a time on this node
            # what a killed task left half-built (nothing else builds this package now)
            shutil.rmtree(dest.parent / STAGING, ignore_errors=True)
            done = materialise(source, self.name, self.version, dest, storage=self._storage)
        if done is None:
            self._log.info("release %s already materialised in %s", self.version, dest)
            return
        self._log.info("release %s materialised in %s from %s in %.2f s (%d S3 requests, %d files downloaded)",
                       self.version, dest, "the sync agent's copy on this node" if done.local
                       else f"s3://{self.bucket}", time.monotonic() - started, done.requests, done.downloaded)

    def _storage(self) -> Storage:
        return Storage(self.bucket, make_client(connect_timeout=self.s3_timeout, read_timeout=self.s3_timeout,
                                                attempts=3, max_pool=8))
