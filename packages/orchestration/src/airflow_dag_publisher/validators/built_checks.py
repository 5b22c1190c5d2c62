"""Checks on DAG objects as Airflow built them (run inside the parse worker): the cluster policy's own
functions, exactly as Airflow's `dag_policy`/`task_policy` call them, then the validator-only conventions.

Typed loosely on purpose: the objects come from Airflow, which this package does not import.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from airflow_dag_publisher.policy import cluster_policy as policy
from airflow_dag_publisher.validators import conventions as conv

Problem = conv.Problem


def dag_problems(dag: Any, cluster: policy.Cluster, other_packages: frozenset[str],
                 package: str | None = None) -> Iterator[Problem]:
    """Every refusal of the cluster policy (all tasks, where Airflow stops at the first), with Airflow's
    words, then the validator-only KubernetesPodOperator conventions. `package`: the package the file
    was published as (what Airflow reads from its bundle or the file it opened, never the DAG's own
    fileloc, which a module sets through `__file__`)."""
    yield from policy.dag_violations(dag, cluster, other_packages, package)
    for task in dag.tasks:
        yield from policy.task_violations(task, cluster, package)
        if policy.is_kpo(task):
            where = f"dag {dag.dag_id!r} task {task.task_id!r}"
            for rule, message in kpo_conventions(task):
                yield (rule, f"{where}: {message}")


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


def kpo_conventions(task: Any) -> Iterator[Problem]:
    values, mapped = policy.task_arguments(task, conv.VALIDATOR_KPO_DEFAULTS)
    if mapped:
        yield ("kpo-mapped-argument", f"{', '.join(mapped)} {'is' if len(mapped) == 1 else 'are'} mapped at run time "
               "and cannot be checked")
    if "get_logs" in values and (problem := conv.get_logs_problem(values["get_logs"])):
        yield ("kpo-get-logs", problem)
    if "container_resources" in values and (problem := resources_problem(values["container_resources"])):
        yield ("kpo-resources", problem)


def resources_problem(resources: Any) -> str | None:
    if resources is None:
        return "no container_resources (CPU and memory requests and limits are required)"
    if isinstance(resources, dict):
        return conv.resources_problem(resources.get("requests"), resources.get("limits"))
    return conv.resources_problem(getattr(resources, "requests", None), getattr(resources, "limits", None))


def task_images(dags: list[Any]) -> list[tuple[str, str, str | None]]:
    """(dag_id, task_id, image) of every KubernetesPodOperator task as Airflow built it; the image is
    None when it is mapped at run time or not a string."""
    found: list[tuple[str, str, str | None]] = []
    for dag in dags:
        for task in dag.tasks:
            if policy.is_kpo(task):
                values, _mapped = policy.task_arguments(task, {"image": None})
                image = values.get("image")
                found.append((str(dag.dag_id), str(task.task_id), image if isinstance(image, str) else None))
    return sorted(found)
