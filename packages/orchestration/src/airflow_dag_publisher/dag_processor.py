"""`airflow dag-processor` whose idle loop costs the same with 2,000 DAG files as with 20.

    python -m airflow_dag_publisher.dag_processor [airflow dag-processor's options, e.g. --bundle-name B]

runs Airflow's own `dag-processor` command with `FleetDagFileProcessorManager`, Airflow's manager with
four of its per-loop steps made cheap while nothing happens. Airflow's loop turns once a second, and
with the shipped settings (parse requests, `min_file_process_interval` 6 h) nothing is due in almost
every turn, yet three steps cost in proportion to the fleet (measured with py-spy at 500 packages x 4
files: 3.9 % of a core in the dag-processor, 80 % of it in these):

- `prepare_file_queue` walks every known file (a dict of their stats, a shuffle) each second the
  queue is empty, only to find that no file is due (47 % of the samples). Here it runs at most every
  `queue_check_interval` seconds: `min_file_process_interval` bounded to 1..60 s. Nothing else waits
  for it: a parse request, a new file of a refreshed bundle and a callback reach the queue by other
  steps, at once.
- `claim_priority_files` and `fetch_callbacks` each read their table filtered by every bundle name
  (an `IN` of 500 names compiled each second: 35 %). Here each first asks whether the table holds
  any row at all (one constant query); only then does Airflow's own claim run.
- `purge_inactive_dag_warnings` (a DELETE each second: 8 %) runs every `parsing_cleanup_interval`
  (60 s), as the stale-DAG scan beside it does.

What is parsed, and when, is Airflow's: this changes only how often it looks when there is nothing to
find. A deployment that runs plain `airflow dag-processor` instead works the same and costs more at idle
(docs/airflow/OPERATIONS.md, "Parsing at fleet scale"). Airflow's command module names its manager at
module level (`dag_processor_command.DagFileProcessorManager`); an Airflow without that name runs its own
manager, with a warning.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import attrs
from airflow.dag_processing.manager import DagFileProcessorManager
from airflow.models.dagbag import DagPriorityParsingRequest
from airflow.models.db_callback_request import DbCallbackRequest
from airflow.utils.session import create_session
from sqlalchemy import select

log = logging.getLogger(__name__)

MAX_QUEUE_CHECK = 60.0  # seconds: a file due for its periodic parse waits at most this much longer


def queue_check_interval(min_file_process_interval: float) -> float:
    """How often an empty queue is refilled with the files due again: the re-parse interval, 1..60 s."""
    return min(MAX_QUEUE_CHECK, max(1.0, float(min_file_process_interval)))


def has_rows(model: Any) -> bool:
    """Does `model`'s table hold any row? One constant query (Airflow's own claim filters by every
    bundle name of the process)."""
    with create_session() as session:
        return session.scalar(select(model.bundle_name).limit(1)) is not None


@attrs.define(kw_only=True)
class FleetDagFileProcessorManager(DagFileProcessorManager):
    """Airflow's manager, looking less often where nothing is to be found (see the module's text)."""

    _next_queue_check: float = attrs.field(default=0.0, init=False)
    _next_purge: float = attrs.field(default=0.0, init=False)

    def prepare_file_queue(self, known_files: dict[str, Any]) -> None:
        now = time.monotonic()
        if now < self._next_queue_check:
            return
        self._next_queue_check = now + queue_check_interval(self._file_process_interval)
        super().prepare_file_queue(known_files=known_files)

    def claim_priority_files(self) -> list[Any]:
        if not has_rows(DagPriorityParsingRequest):
            return []
        return list(super().claim_priority_files())

    def fetch_callbacks(self) -> list[Any]:
        if not has_rows(DbCallbackRequest):
            return []
        return list(super().fetch_callbacks())

    def purge_inactive_dag_warnings(self) -> None:
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + float(self.parsing_cleanup_interval)
        super().purge_inactive_dag_warnings()


def install() -> bool:
    """Make Airflow's `dag-processor` command build FleetDagFileProcessorManager; False (logged) when
    this Airflow's command module does not name its manager where this expects it."""
    from airflow.cli.commands import dag_processor_command

    if getattr(dag_processor_command, "DagFileProcessorManager", None) is not DagFileProcessorManager:
        log.warning("airflow.cli.commands.dag_processor_command.DagFileProcessorManager not found: running "
                    "Airflow's own dag-processor manager (the idle loop costs more with a large fleet)")
        return False
    setattr(dag_processor_command, "DagFileProcessorManager", FleetDagFileProcessorManager)  # noqa: B010
    return True


def main(argv: list[str] | None = None) -> int:
    """`airflow dag-processor ARGS` with the fleet manager."""
    from airflow.__main__ import main as airflow_main

    args = sys.argv[1:] if argv is None else argv
    install()
    sys.argv = ["airflow", "dag-processor", *args]
    airflow_main()  # type: ignore[no-untyped-call]
    return 0


if __name__ == "__main__":
    sys.exit(main())
