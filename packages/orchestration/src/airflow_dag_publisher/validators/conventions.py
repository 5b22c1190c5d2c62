"""The package conventions as pure functions over plain values, shared by the static layer (literal
arguments read from the source) and the Airflow worker (arguments as Airflow built them)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from airflow_dag_publisher.names import dag_id_belongs_to, dag_id_prefix

REQUIRED_NAMESPACE = "etl-jobs"
REQUIRED_ON_FINISH_ACTION = "delete_pod"
RESOURCE_KINDS = ("cpu", "memory")

# Tasks that run no code of their own are allowed beside KubernetesPodOperator: they only shape the
# graph (start/end joins). Anything else needs an explicit `--allow-operator`.
DEFAULT_ALLOWED_OPERATORS = frozenset({"airflow.providers.standard.operators.empty.EmptyOperator"})

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

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_TEMPLATE = re.compile(r"\{\{.*\}\}|\{%")

Problem = tuple[str, str]  # (rule, message)


def is_template(value: str) -> bool:
    return bool(_TEMPLATE.search(value))


def image_problem(image: object) -> str | None:
    """Why an image reference is not pinned (by tag or digest, never `latest`), or None."""
    if not isinstance(image, str) or not image.strip():
        return "no image is set"
    if _DIGEST.search(image):
        return None
    if "@" in image:
        return f"image {image!r} has a malformed digest (expected @sha256:<64 hex>)"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} is untagged (pin a version tag or a digest)"
    tag = last.rsplit(":", 1)[1]
    if not tag:
        return f"image {image!r} has an empty tag"
    if tag == "latest":
        return f"image {image!r} uses the 'latest' tag (pin a version tag or a digest)"
    return None


def dag_id_problem(dag_id: str, package: str, other_packages: Iterable[str] = ()) -> str | None:
    others = set(other_packages)
    if dag_id_belongs_to(dag_id, package, others):
        return None
    if dag_id.startswith(dag_id_prefix(package)):
        owner = max((o for o in others if dag_id.startswith(dag_id_prefix(o))), key=len)
        return f"dag_id {dag_id!r} carries the prefix of package {owner!r}, not {package!r}"
    return f"dag_id {dag_id!r} does not start with {dag_id_prefix(package)!r}"


def namespace_problem(namespace: object) -> str | None:
    if namespace == REQUIRED_NAMESPACE:
        return None
    return f"namespace is {namespace!r}; tasks must run in {REQUIRED_NAMESPACE!r}"


def on_finish_problem(action: object) -> str | None:
    value = getattr(action, "value", action)
    if value == REQUIRED_ON_FINISH_ACTION:
        return None
    return f"on_finish_action is {value!r}; the pod must be deleted after the run ({REQUIRED_ON_FINISH_ACTION!r})"


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


def operator_allowed(class_path: str, allowed: Iterable[str]) -> bool:
    """An allow-list entry is a dotted class path or a bare class name."""
    name = class_path.rsplit(".", 1)[-1]
    return any(entry in (class_path, name) for entry in allowed)
