"""The conventions only the validator holds, as pure functions over plain values, shared by the static
layer (literal arguments read from the source) and the Airflow worker (arguments as Airflow built them).

The rules Airflow also enforces (dag_id prefix, operators, namespace, image, registry, service account,
pod deletion, privileged containers, host access, pod templates) are the cluster policy's:
`airflow_dag_publisher.policy.cluster_policy`, which both layers call.
"""

from __future__ import annotations

from collections.abc import Mapping

RESOURCE_KINDS = ("cpu", "memory")

# DAG arguments that Airflow 3 removed: a DAG using them fails to import.
AIRFLOW2_DAG_ARGUMENTS = {
    "schedule_interval": "use schedule=",
    "timetable": "use schedule=",
    "concurrency": "use max_active_tasks=",
    "sla_miss_callback": "SLAs are removed in Airflow 3",
    "default_view": "removed in Airflow 3",
    "orientation": "removed in Airflow 3",
    "full_filepath": "removed in Airflow 3",
}

# KubernetesPodOperator arguments the validator alone checks, with the operator's defaults.
VALIDATOR_KPO_DEFAULTS: dict[str, object] = {"get_logs": True, "container_resources": None}

Problem = tuple[str, str]  # (rule, message)


def get_logs_problem(get_logs: object) -> str | None:
    return None if get_logs is True else f"get_logs is {get_logs!r}; pod logs must be streamed (get_logs=True)"


def resources_problem(requests: Mapping[str, object] | None, limits: Mapping[str, object] | None) -> str | None:
    """Why container resources lack a CPU or memory request or limit, or None."""
    missing = [
        f"{part}.{kind}"
        for part, values in (("requests", requests), ("limits", limits))
        for kind in RESOURCE_KINDS
        if not (values or {}).get(kind)
    ]
    if not missing:
        return None
    return "container_resources lack " + ", ".join(missing) + " (CPU and memory requests and limits are required)"
