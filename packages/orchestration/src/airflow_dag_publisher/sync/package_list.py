"""`--packages-file`: the platform's package list as the agent reads it, for the packages it marks
`spec_only: true` (their releases must be exactly what the generator renders from their jobs.yaml).

The file is read at start (a file that does not read is a usage error) and again whenever it changes
(a ConfigMap's update reaches its mounted file within about a minute): a change takes effect at the next
cycle without a restart, and a file that no longer reads keeps the last good list (logged)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.policy.package_list import load_spec_only

log = logging.getLogger("airflow_dag_publisher.sync")


class PackageListWatch:
    def __init__(self, path: str, *, option: str = "--packages-file") -> None:
        self.path = Path(path)
        self._seen = self._stamp()
        try:
            self._spec_only = load_spec_only(self.path)
        except UsageError as exc:
            raise UsageError(f"{option}: {exc}") from None

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def spec_only(self) -> frozenset[str]:
        """The spec-only packages, read again if the file changed since the last read."""
        stamp = self._stamp()
        if stamp != self._seen:
            self._seen = stamp
            try:
                found = load_spec_only(self.path)
            except UsageError as exc:
                log.error("the package list changed and does not read; keeping the last good one: %s", exc)
            else:
                if found != self._spec_only:
                    log.info("package list %s: spec-only packages now %s", self.path, ", ".join(sorted(found)) or
                             "none")
                self._spec_only = found
        return self._spec_only
