"""The local layout: release directories outside the DAGs folder, one relative symlink per package.

    <dags>/<package> -> ../.dagsync-<dags basename>/releases/<package>/<release id>/<package>   (relative)
    <dags>/.airflowignore                     the agent's: hides its temporary links from Airflow
    <state>/releases/<package>/<release id>/  one complete, verified release (its root):
        <package>/...                         its files (read-only), what the package link points at
        manifest.json                         the manifest the release was built from
    <state>/staging/                          releases being assembled (wiped at start)

A release directory is named by its release id, so the package link's target names the release
the package is on, read with one readlink(2) together with where its files are: Airflow's versioned
bundle (`airflow_dag_publisher.bundle`) reads its version so. The files sit one folder down, in a
folder named after the package, so that a release's root, put on `sys.path` (Airflow does so with a
bundle's path), imports `<package>.<module>` from that same release.

Airflow walks the DAGs folder with os.walk(followlinks=True) and fails on a directory reachable
twice, so nothing but the package links lives in the walked tree: release and staging
directories are reachable only through one link each. A swap makes a temporary link beside the
package link, in the DAGs folder itself (as git-sync does: same directory, so rename(2) is atomic
and never crosses file systems), and renames it over the package link; the agent's `.airflowignore`
keeps Airflow from walking into a temporary link in the instant it exists.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

from airflow_dag_publisher.errors import ErrorKind, RefusedError, UsageError
from airflow_dag_publisher.manifest import ReleaseManifest

log = logging.getLogger(__name__)

TEMP_LINK_MARK = ".dagsync-tmp-"
RELEASE_MANIFEST = "manifest.json"  # in a release's root, beside its package folder
# Airflow 3 reads .airflowignore with glob (gitignore) syntax by default; a pattern without a slash
# matches at any depth. `[core] dag_ignore_file_syntax = regexp` would need another pattern.
AIRFLOWIGNORE = f"# written by airflow-dag-sync: its temporary links while a package swaps\n.*{TEMP_LINK_MARK}*\n"


def default_state_dir(dags_dir: Path) -> Path:
    dags = Path(os.path.abspath(dags_dir))
    return dags.parent / f".dagsync-{dags.name}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


class Layout:
    """Paths of the DAGs folder and the state folder, and the only code that changes the DAGs folder."""

    def __init__(self, dags_dir: Path, state_dir: Path | None = None) -> None:
        self.dags_dir = Path(os.path.abspath(dags_dir))
        self.state_dir = Path(os.path.abspath(state_dir)) if state_dir else default_state_dir(self.dags_dir)
        self.releases_dir = self.state_dir / "releases"
        self.staging_dir = self.state_dir / "staging"
        self._lock_fd: int | None = None
        self._real: tuple[str, str] | None = None  # the real paths of releases_dir and dags_dir

    def check(self) -> None:
        dags, state = self.dags_dir.resolve(), self.state_dir.resolve()
        if _inside(state, dags):
            raise UsageError(f"--state-dir {self.state_dir} is inside --dags-dir {self.dags_dir}: Airflow would "
                             "parse the release directories; put it beside the DAGs folder")
        if _inside(dags, state):
            raise UsageError(f"--dags-dir {self.dags_dir} is inside --state-dir {self.state_dir}")

    def prepare(self) -> None:
        """Create the folders, take the state folder's lock, wipe leftovers of an interrupted run."""
        self.check()
        for path in (self.dags_dir, self.releases_dir, self.staging_dir):
            path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UsageError(f"another airflow-dag-sync holds {self.state_dir / 'lock'}") from None
        self._lock_fd = fd
        temporary_links = [p for p in self.dags_dir.iterdir() if TEMP_LINK_MARK in p.name and p.is_symlink()]
        for leftover in (*self.staging_dir.iterdir(), *temporary_links):
            remove_tree(leftover)
        ignore = self.dags_dir / ".airflowignore"
        if not ignore.is_file() or ignore.read_text(errors="replace") != AIRFLOWIGNORE:
            ignore.write_text(AIRFLOWIGNORE)

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- paths ----------------------------------------------------------------------------------
    def link_path(self, package: str) -> Path:
        return self.dags_dir / package

    def release_path(self, package: str, name: str) -> Path:
        """A release's root: its package folder and its manifest."""
        return self.releases_dir / package / name

    def files_path(self, package: str, name: str) -> Path:
        """Where a release's files are: the folder the package link points at."""
        return self.releases_dir / package / name / package

    def link_target(self, package: str, name: str) -> str:
        """The link's relative target, from the DAGs folder's real location (so `..` resolves right).
        Only the two folders are resolved (once): below them, the agent makes plain directories."""
        if self._real is None:
            self._real = (str(self.releases_dir.resolve()), str(self.dags_dir.resolve()))
        releases, dags = self._real
        return os.path.relpath(os.path.join(releases, package, name, package), dags)

    def current_target(self, package: str) -> str | None:
        try:
            return os.readlink(self.link_path(package))
        except (FileNotFoundError, OSError):
            return None

    # -- checks ---------------------------------------------------------------------------------
    def release_complete(self, package: str, name: str, manifest: ReleaseManifest) -> bool:
        """Cheap check of a release directory: every file present with its size."""
        root = str(self.files_path(package, name))
        try:
            for entry in manifest.files:
                st = os.lstat(os.path.join(root, entry.path))
                if not (stat.S_ISREG(st.st_mode) and st.st_size == entry.size):
                    return False
        except OSError:
            return False
        return True

    def links_to(self, package: str, name: str) -> bool:
        return self.current_target(package) == self.link_target(package, name)

    # -- changes --------------------------------------------------------------------------------
    def swap(self, package: str, name: str) -> None:
        """Point <dags>/<package> at the release: a new symlink beside it, renamed over it."""
        link = self.link_path(package)
        try:
            mode: int | None = os.lstat(link).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and not stat.S_ISLNK(mode):
            raise RefusedError(f"{link} is not a symlink made by airflow-dag-sync; move it away to let "
                               f"package {package} sync", kind=ErrorKind.NOT_OWNED)
        tmp = self.dags_dir / f".{package}{TEMP_LINK_MARK}{uuid.uuid4().hex[:12]}"
        os.symlink(self.link_target(package, name), tmp)
        try:
            os.replace(tmp, link)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def set_mtime(self, package: str, name: str, when: float, paths: Iterable[str]) -> None:
        """Give every file of a release (`paths`, its manifest's) the modification time `when`."""
        root = self.files_path(package, name)
        for path in paths:
            os.utime(root / path, (when, when), follow_symlinks=False)

    def unlink(self, package: str) -> bool:
        """Remove the package's link (a retired release). Only a symlink into our releases is removed."""
        link = self.link_path(package)
        target = self.current_target(package)
        if target is None:
            return False
        resolved = (self.dags_dir / target).resolve()
        if not _inside(resolved, self.releases_dir.resolve()):
            raise RefusedError(f"{link} does not point into {self.releases_dir}; not removing it",
                               kind=ErrorKind.NOT_OWNED)
        link.unlink()
        return True

    def mark_superseded(self, package: str, name: str | None) -> None:
        """Start the grace period of a release directory that is no longer current."""
        if name:
            path = self.release_path(package, name)
            if path.is_dir():
                os.utime(path)

    def cleanup(self, current: Mapping[str, str | None], grace: float, now: float | None = None) -> list[Path]:
        """Remove release directories superseded more than `grace` seconds ago; never a current one,
        nor one a package link points at."""
        now = time.time() if now is None else now
        removed: list[Path] = []
        for package_dir in sorted(self.releases_dir.iterdir()):
            if not package_dir.is_dir():
                continue
            package = package_dir.name
            linked = self.current_target(package)
            for release in sorted(package_dir.iterdir()):
                if release.name == current.get(package):
                    continue
                if linked and self.link_target(package, release.name) == linked:
                    continue
                try:
                    age = now - release.lstat().st_mtime
                except FileNotFoundError:
                    continue
                if age >= grace:
                    remove_tree(release)
                    removed.append(release)
            if not any(package_dir.iterdir()):
                package_dir.rmdir()
        return removed


def remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)
