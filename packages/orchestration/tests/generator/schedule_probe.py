"""Run in a subprocess by test_schedules_match_airflow.py: Airflow's own verdict on DAG files' schedules.

    python schedule_probe.py OUT.json DIR [DIR ...]    (AIRFLOW_HOME set by the caller)

Each folder is parsed with Airflow's DagBag (which validates every DAG's timetable before accepting
it), then every DAG is serialized as the dag-processor does before it stores a DAG. Writes:
{"files": {"<dir name>/<file>": {"import_error": str | null, "serialize_error": str | null,
"timetable": "<type> <summary>" | null}}, "cron_presets": {...}, "core_cron_presets": {...}}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def main(out_path: str, folders: list[str]) -> int:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.definitions.timetables._cron import CRON_PRESETS
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.dates import cron_presets

    files: dict[str, dict[str, Any]] = {}
    for folder in map(Path, folders):
        bag = DagBag(dag_folder=str(folder))
        for path in sorted(folder.glob("*.py")):
            error = next((str(v) for k, v in bag.import_errors.items() if Path(k).name == path.name), None)
            files[f"{folder.name}/{path.name}"] = {"import_error": error, "serialize_error": None, "timetable": None}
        for dag in bag.dags.values():
            entry = files[f"{folder.name}/{Path(dag.fileloc).name}"]
            entry["timetable"] = f"{type(dag.timetable).__name__} {getattr(dag.timetable, 'summary', '')}"
            try:
                DagSerialization.to_dict(dag)
            except Exception as exc:  # the dag-processor records this as the file's import error
                entry["serialize_error"] = f"{type(exc).__name__}: {exc}"
    out = {"files": files, "cron_presets": dict(CRON_PRESETS), "core_cron_presets": dict(cron_presets)}
    Path(out_path).write_text(json.dumps(out), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
