"""Checks on DAG objects as Airflow built them (run inside the parse worker).

Typed loosely on purpose: the objects come from Airflow, which this package does not import.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from airflow_dag_publisher.validators import conventions as conv

Problem = conv.Problem


def class_path(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def task_class(task: Any) -> type:
    """The operator class of a task; a mapped task (`.partial().expand()`) reports its operator's."""
    operator_class = getattr(task, "operator_class", None)
    return operator_class if isinstance(operator_class, type) else type(task)


def dag_problems(dag: Any, package: str, other_packages: frozenset[str], allowed: frozenset[str],
                 kpo_class: type | None) -> Iterator[Problem]:
    problem = conv.dag_id_problem(dag.dag_id, package, other_packages)
    if problem:
        yield ("dag-id-prefix", problem)
    for task in dag.tasks:
        cls = task_class(task)
        where = f"dag {dag.dag_id!r} task {task.task_id!r}"
        if kpo_class is not None and issubclass(cls, kpo_class):
            for rule, message in kpo_problems(task):
                yield (rule, f"{where}: {message}")
        elif not conv.operator_allowed(class_path(cls), allowed):
            yield ("operator-not-allowed", f"{where} is a {class_path(cls)}; tasks must be KubernetesPodOperator "
                   "(or an allow-listed operator)")


def starts_paused(dag: Any, paused_at_creation: bool) -> str | None:
    """Why `dag` will start paused when Airflow first sees it, or None if it starts active.

    Airflow creates a new DAG paused when it says `is_paused_upon_creation=True`, or when it says
    nothing and `[core] dags_are_paused_at_creation` (`paused_at_creation`) is True."""
    explicit = getattr(dag, "is_paused_upon_creation", None)
    if explicit is True:
        return (f"dag {dag.dag_id!r} starts paused (is_paused_upon_creation=True): its schedule does nothing "
                "until someone unpauses it")
    if explicit is None and paused_at_creation:
        return (f"dag {dag.dag_id!r} starts paused: it does not set is_paused_upon_creation and [core] "
                "dags_are_paused_at_creation is True where it was parsed, so its schedule does nothing until "
                "someone unpauses it; set is_paused_upon_creation=False (generated DAGs do unless their job says "
                "paused: true), or validate with the deployment's setting "
                "(AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False, as infra/airflow's Helm values set)")
    return None


def _value(task: Any, name: str) -> Any:
    """An argument as built; for a mapped task, from its partial arguments (mapped ones are unknown)."""
    partial = getattr(task, "partial_kwargs", None)
    if isinstance(partial, dict) and not hasattr(task, name):
        return partial.get(name, _MAPPED if _is_mapped_arg(task, name) else _DEFAULT)
    return getattr(task, name, _DEFAULT)


def _is_mapped_arg(task: Any, name: str) -> bool:
    expand_input = getattr(task, "expand_input", None)
    value = getattr(expand_input, "value", None)
    return isinstance(value, dict) and name in value


_MAPPED = object()
_DEFAULT = object()
_KPO_DEFAULTS = {"namespace": None, "on_finish_action": "delete_pod", "get_logs": True, "container_resources": None}


def kpo_problems(task: Any) -> Iterator[Problem]:
    values = {}
    for name in ("namespace", "image", "on_finish_action", "get_logs", "container_resources"):
        value = _value(task, name)
        if value is _MAPPED:
            yield ("kpo-mapped-argument", f"{name} is mapped at run time and cannot be checked")
            continue
        values[name] = _KPO_DEFAULTS.get(name) if value is _DEFAULT else value
    checks: tuple[tuple[str, str, Any], ...] = (
        ("namespace", "kpo-namespace", conv.namespace_problem),
        ("on_finish_action", "kpo-on-finish-action", conv.on_finish_problem),
        ("get_logs", "kpo-get-logs", conv.get_logs_problem),
    )
    for name, rule, check in checks:
        if name in values and (problem := check(values[name])):
            yield (rule, problem)
    if "image" in values:
        image = values["image"]
        if isinstance(image, str) and conv.is_template(image):
            yield ("kpo-image-template", f"image {image!r} is a template: its tag cannot be checked")
        elif problem := conv.image_problem(image):
            yield ("kpo-image", problem)
    if "container_resources" in values and (problem := resources_problem(values["container_resources"])):
        yield ("kpo-resources", problem)


def resources_problem(resources: Any) -> str | None:
    if resources is None:
        return "no container_resources (CPU and memory requests and limits are required)"
    if isinstance(resources, dict):
        return conv.resources_problem(resources.get("requests"), resources.get("limits"))
    return conv.resources_problem(getattr(resources, "requests", None), getattr(resources, "limits", None))
