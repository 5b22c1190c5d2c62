"""Run in a subprocess by the tests: parse DAG folders with Airflow's DagBag, render every task's pod with
KubernetesPodOperator.build_pod_request_obj() and validate it against the Kubernetes schema (strict).

    python airflow_probe.py OUT.json DIR [DIR ...]    (AIRFLOW_HOME and KUBECONFIG set by the caller)

Writes one JSON document (Airflow logs to stdout, so not there):
{"import_errors": {...}, "dags": {dag_id: {...}}, "connects": [...], "kubernetes_version": "..."}.
Every socket connect is refused and recorded: none may happen.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

connects: list[str] = []


def _refuse(self: socket.socket, address: Any) -> None:
    connects.append(repr(address))
    raise OSError("network access is not allowed in this probe")


socket.socket.connect = _refuse  # type: ignore[method-assign]
socket.socket.connect_ex = _refuse  # type: ignore[method-assign,assignment]


def main(out_path: str, folders: list[str]) -> int:
    import kubernetes_validate
    from airflow.dag_processing.dagbag import DagBag
    from kubernetes.client import ApiClient

    version = kubernetes_validate.latest_version()
    api = ApiClient()
    out: dict[str, Any] = {"import_errors": {}, "dags": {}, "kubernetes_version": version}
    for folder in folders:
        bag = DagBag(dag_folder=folder)
        out["import_errors"].update({str(k): str(v) for k, v in bag.import_errors.items()})
        for dag_id, dag in sorted(bag.dags.items()):
            tasks = {}
            for task in dag.tasks:
                pod = task.build_pod_request_obj()
                obj = api.sanitize_for_serialization(pod)
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                    errors: list[str] = []
                except kubernetes_validate.ValidationError as exc:
                    errors = [str(exc)]
                finish = task.on_finish_action
                tasks[task.task_id] = {"pod": obj, "schema_errors": errors, "type": type(task).__name__,
                                       "on_finish_action": getattr(finish, "value", str(finish)),
                                       "get_logs": task.get_logs}
            out["dags"][dag_id] = {
                "fileloc": dag.fileloc, "schedule": str(dag.schedule), "catchup": dag.catchup,
                "max_active_runs": dag.max_active_runs, "tags": sorted(dag.tags), "tasks": tasks,
                "owner": dag.owner,
            }
    out["connects"] = connects
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(out, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
