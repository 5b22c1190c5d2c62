"""Parse what changed, not the fleet: `ParseRequestBundle`, a DAG bundle that holds no DAG files. Each
refresh (once a second in the shipped configuration) it reads the sync agent's package links, and for
every package whose link changed (a release swapped in, a package added or retired) it writes Airflow's
own priority parse requests (`DagPriorityParsingRequest`, the rows the UI's "reparse" writes) for the
package's DAG files. The dag-processor claims them at the start of its next loop, parses them before
anything else, and refreshes the bundle they belong to: new files are listed, removed files'
DAGs deactivated and their import errors cleared. So the dag-processor needs neither a short
`min_file_process_interval` (re-parsing the whole fleet) nor short listing and look intervals (walking
the folder, reading every bundle's state) to show a change within seconds, and a change published while
a restarted dag-processor is still parsing everything jumps that queue.

It runs in a dag-processor process of its own, beside the one that parses the packages (the Helm values'
container `parse-requests`), with only this bundle configured there (in that process's environment, so
no other Airflow component lists it) and looked at each second; the other dag-processor then looks at
its bundles seldom (each look reads every bundle's state, one database read per package bundle):

    python -m airflow_dag_publisher.dag_processor --bundle-name dagsync-parse-requests   # with, in its environment:
    AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST='[{"name": "dagsync-parse-requests",
        "classpath": "airflow_dag_publisher.parse_requests.ParseRequestBundle", "kwargs": {"refresh_interval": 1}}]'
    AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL=1

Every DAG file of a changed package is requested, not only the files whose bytes changed: a DAG file
that imports a changed helper module of its package must be parsed again too. A request is written a
second time `retry` seconds later (default: `[core] min_serialized_dag_update_interval` + 2 s): Airflow
drops a request for a file it is parsing at that moment (a parse that may have read the old release),
and skips writing a DAG serialized less than that interval before; the second request covers both.

With one bundle per package (`target_bundle="<package>"`, the release bundles: a bundle's path is its
current release's directory, so it changes with each release), a request is bound to the bundle's path
when Airflow claims it. So the files are requested in two steps: first a request that only makes
Airflow refresh the package's bundle (its new release, its new path); once Airflow has claimed it,
the requests for the package's DAG files.

`plan_requests` decides (pure); the bundle does the I/O: one stat of the DAGs folder per refresh, and
only when the folder changed a `readlink` per package; a listing of the changed packages only, one
insert per request.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow.dag_processing.bundles.base import BaseDagBundle

from airflow_dag_publisher.names import PACKAGE_RE

log = logging.getLogger(__name__)

FOLDER_BUNDLE = "dags-folder"  # Airflow's name for the DAGs folder's bundle (LocalDagBundle)
PER_PACKAGE = "<package>"  # target_bundle: each package has its own bundle, named after it
LISTING = ".dagsync-listing"  # a path in no package: a request for it only makes Airflow list the bundle
SETTLED_NS = 2_000_000_000  # a folder unchanged for 2 s gets a later time at its next change
VERSION = "1"  # the bundle holds no files: one version forever, so Airflow never lists its folder again


@dataclass(frozen=True)
class ParseRequest:
    bundle: str
    path: str  # relative to the bundle's root: <package>/<file>


def package_links(dags_folder: Path) -> dict[str, str]:
    """package -> its link's target, for every package link of the agent's DAGs folder."""
    links: dict[str, str] = {}
    with os.scandir(dags_folder) as entries:
        for entry in entries:
            if entry.is_symlink() and PACKAGE_RE.match(entry.name):
                try:
                    links[entry.name] = os.readlink(entry.path)
                except OSError:  # swapped or removed while listing: the next refresh sees it
                    continue
    return links


def changed_packages(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Packages whose link is new, points elsewhere, or is gone, in name order."""
    return sorted({p for p, target in after.items() if before.get(p) != target} | (set(before) - set(after)))


def plan_requests(changed: Iterable[str], dag_files: Callable[[str], list[str] | None],
                  bundle: str = FOLDER_BUNDLE) -> list[ParseRequest]:
    """The parse requests for changed packages: every DAG file of each (`dag_files(package)`: paths
    relative to the package, None when the package is gone). A package without DAG files (retired,
    or all removed) still gets one request, for a path no package holds: claiming it makes Airflow list
    the bundle again, which deactivates the DAGs of the removed files, and Airflow drops the request
    because the listing does not have its path."""
    out: list[ParseRequest] = []
    for package in changed:
        files = dag_files(package)
        target = package if bundle == PER_PACKAGE else bundle
        if files:
            out += [ParseRequest(target, f"{package}/{path}") for path in sorted(files)]
        else:
            out.append(ParseRequest(target, f"{package}/{LISTING}"))
    return out


class ParseRequestBundle(BaseDagBundle):
    """A bundle without DAG files that turns the sync agent's release swaps into parse requests.

    :param dags_folder: the agent's DAGs folder (its --dags-dir) as Airflow's containers mount it
        (default: Airflow's `[core] dags_folder`)
    :param target_bundle: the bundle that holds the packages' files: `dags-folder` (the DAGs folder's),
        `<package>` (each package's own bundle); default: a package's own bundle when Airflow has an
        active bundle of its name, else the DAGs folder's
    :param retry: seconds after which each request is written once more (default: the serialized
        DAG update interval + 2 s)
    """

    supports_versioning = True

    def __init__(self, *, dags_folder: str | None = None, target_bundle: str | None = None,
                 retry: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if dags_folder is None:
            from airflow import settings

            dags_folder = settings.DAGS_FOLDER
        self.dags_folder = Path(dags_folder)
        self.target_bundle = target_bundle
        self.retry = float(retry) if retry is not None else _serialized_update_interval() + 2.0
        self._empty = Path(self.base_dir) / "empty"
        self._links: dict[str, str] | None = None
        self._stamp: tuple[int, int, int, int] | None = None  # the DAGs folder's, when its links were read
        self._again: list[tuple[float, list[ParseRequest]]] = []  # (monotonic due, requests)
        self._unsent: list[ParseRequest] = []
        self._listing: set[str] = set()  # packages whose bundle Airflow is to refresh before their files
        self._undecided: set[str] = set()  # changed packages whose bundle could not be looked up yet

    @property
    def path(self) -> Path:
        return self._empty

    def initialize(self) -> None:
        self._empty.mkdir(parents=True, exist_ok=True)
        super().initialize()

    def get_current_version(self) -> str:
        return VERSION

    def refresh(self) -> None:
        try:
            links = self._read_links()
        except OSError as exc:
            log.warning("parse requests: cannot read %s: %s", self.dags_folder, exc)
            return
        before, self._links = self._links, links
        now = time.monotonic()
        requests = list(self._unsent)
        changed = changed_packages(before, links) if before is not None else []  # a first look only remembers
        if changed:
            log.info("parse requests: %d package(s) changed (%s)", len(changed),
                     ", ".join(changed[:10]) + (", ..." if len(changed) > 10 else ""))
        own, folder = self._targets(sorted(set(changed) | self._undecided))
        listed = self._listed()  # packages whose listing request (written before) Airflow has claimed
        requests += [ParseRequest(p, f"{p}/{LISTING}") for p in own]
        self._listing |= set(own)
        fresh = plan_requests(folder, self._dag_files) + plan_requests(listed, self._dag_files, PER_PACKAGE)
        if fresh:
            requests += fresh
            self._again.append((now + self.retry, fresh))
        due = [r for when, batch in self._again if when <= now for r in batch]
        self._again = [(when, batch) for when, batch in self._again if when > now]
        requests += due
        if requests:
            try:
                write_requests(requests)
                self._unsent = []
            except Exception as exc:  # the database is Airflow's: keep them for the next refresh
                log.warning("parse requests: %d not written (%s); trying again at the next refresh",
                            len(requests), exc)
                self._unsent = _unique(requests)

    def _read_links(self) -> dict[str, str]:
        """The package links. A link is swapped, added or removed by a rename or unlink in the DAGs
        folder, which changes the folder's own times: while they stay as they were at a look made well
        after the folder last changed (`SETTLED_NS`, beyond any file system's timestamp granularity),
        the last look's links stand, for one stat instead of a listing and a readlink per package."""
        looked_at = time.time_ns()
        st = os.stat(self.dags_folder)
        stamp = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        if self._links is not None and stamp == self._stamp:
            return self._links
        links = package_links(self.dags_folder)
        self._stamp = stamp if looked_at - st.st_mtime_ns > SETTLED_NS else None
        return links

    def _targets(self, packages: list[str]) -> tuple[list[str], list[str]]:
        """(packages with their own bundle, packages in the DAGs folder's bundle)."""
        if not packages or self.target_bundle == PER_PACKAGE:
            return packages, []
        if self.target_bundle is not None:
            return [], packages
        try:
            own = active_bundles(packages)
        except Exception as exc:  # the database is Airflow's: decide at the next refresh
            log.warning("parse requests: cannot read the bundles (%s); trying again at the next refresh", exc)
            self._undecided = set(packages)
            return [], []
        self._undecided = set()
        return [p for p in packages if p in own], [p for p in packages if p not in own]

    def _listed(self) -> list[str]:
        """Packages whose listing request Airflow has claimed (their bundle is refreshed): their files
        can be requested now; a gone package needs nothing more."""
        if not self._listing:
            return []
        try:
            held = pending_requests(self._listing)
        except Exception as exc:  # the database is Airflow's: look again at the next refresh
            log.warning("parse requests: cannot read the pending requests (%s)", exc)
            return []
        done = sorted(p for p in self._listing if ParseRequest(p, f"{p}/{LISTING}") not in held)
        self._listing -= set(done)
        return [p for p in done if (self.dags_folder / p).is_dir()]

    def _dag_files(self, package: str) -> list[str] | None:
        folder = self.dags_folder / package
        if not folder.is_dir():
            return None
        return dag_files(folder)


def dag_files(folder: Path) -> list[str]:
    """The files of a package folder Airflow would parse as DAG files (its own listing rules: the
    folder's .airflowignore, the DAG-discovery heuristic), relative to the folder."""
    from airflow.configuration import conf
    from airflow.utils.file import list_py_file_paths

    safe = conf.getboolean("core", "dag_discovery_safe_mode", fallback=True)
    return sorted(os.path.relpath(p, folder) for p in list_py_file_paths(folder, safe_mode=safe))


def active_bundles(names: Iterable[str]) -> set[str]:
    """Those of `names` that are active bundles in Airflow's database."""
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(DagBundleModel.name).where(DagBundleModel.name.in_(set(names)), DagBundleModel.active.is_(True))
        return set(session.scalars(query))


def pending_requests(bundles: Iterable[str], session: Any = None) -> set[ParseRequest]:
    """The parse requests Airflow holds, not claimed yet, for these bundles."""
    from airflow.models.dagbag import DagPriorityParsingRequest
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = select(DagPriorityParsingRequest.bundle_name, DagPriorityParsingRequest.relative_fileloc).where(
        DagPriorityParsingRequest.bundle_name.in_(set(bundles)))
    if session is not None:
        return {ParseRequest(b, f) for b, f in session.execute(query).tuples()}
    with create_session() as own:
        return {ParseRequest(b, f) for b, f in own.execute(query).tuples()}


def write_requests(requests: Iterable[ParseRequest]) -> None:
    """Insert the requests Airflow does not already hold (one row per file is all it keeps)."""
    from airflow.models.dagbag import DagPriorityParsingRequest
    from airflow.utils.session import create_session

    wanted = _unique(requests)
    with create_session() as session:
        held = pending_requests({r.bundle for r in wanted}, session)
        for r in wanted:
            if r not in held:
                session.add(DagPriorityParsingRequest(bundle_name=r.bundle, relative_fileloc=r.path))


def _unique(requests: Iterable[ParseRequest]) -> list[ParseRequest]:
    return list(dict.fromkeys(requests))


def _serialized_update_interval() -> float:
    from airflow.configuration import conf

    return float(conf.getint("core", "min_serialized_dag_update_interval", fallback=30))
