"""Turn one job's raw values (from jobs.yaml or from flags) into a JobSpec, reporting every bad field.

`check_job` never stops at the first problem: it returns the JobSpec (or None) and all problems,
each with the path of the field at fault relative to the job (`("resources", "limits", "memory")`).
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_dag_publisher.generator import fields
from airflow_dag_publisher.generator.model import JobSpec, Resources, Toleration
from airflow_dag_publisher.generator.schedule import normalise_schedule, schedule_problem
from airflow_dag_publisher.generator.yamlmarks import Path
from airflow_dag_publisher.names import dns_subdomain_problem
from airflow_dag_publisher.policy.cluster_policy import image_problem, toleration_problem

JOB_FIELDS = ("name", "image", "schedule", "command", "arguments", "env", "resources", "retries", "retry_delay",
              "execution_timeout", "service_account", "node_selector", "tolerations", "labels", "tags", "owner",
              "description", "paused")
DEFAULT_RESOURCES = Resources(cpu_request="100m", memory_request="256Mi", cpu_limit="1", memory_limit="512Mi")
DEFAULT_RETRIES = 2
DEFAULT_RETRY_DELAY = "5m"
DEFAULT_EXECUTION_TIMEOUT = "1h"
MAX_RETRIES = 20
MAX_ITEMS = 100  # bound on list and mapping sizes (arguments, env, labels, tags, tolerations)
TOLERATION_FIELDS = ("key", "operator", "value", "effect", "toleration_seconds")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
MAX_TAG_LENGTH = 100  # Airflow's limit


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str


def unknown_key_message(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
    return f"unknown field {key!r}{hint}"


class _Job:
    """Collects the problems of one job while reading its fields."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.problems: list[Problem] = []

    def bad(self, path: Path, message: str) -> None:
        self.problems.append(Problem(path, message))

    def text(self, path: Path, value: Any, *, allow_int: bool = False) -> str | None:
        if isinstance(value, str):
            return value
        if allow_int and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        kind = "null" if value is None else type(value).__name__
        self.bad(path, f"expected a string, got {kind} {value!r}" + ("; quote it" if value is not None else ""))
        return None

    def optional_text(self, key: str) -> str | None:
        value = self.raw.get(key)
        return None if value is None else self.text((key,), value)

    def strings(self, key: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.bad((key,), f"expected a list of strings, got {type(value).__name__}")
            return ()
        if len(value) > MAX_ITEMS:
            self.bad((key,), f"more than {MAX_ITEMS} items")
            return ()
        out = [self.text((key, i), item, allow_int=True) for i, item in enumerate(value)]
        return tuple(s for s in out if s is not None)

    def pairs(self, key: str, check_key: Any, check_value: Any) -> tuple[tuple[str, str], ...]:
        value = self.raw.get(key)
        if value is None:
            return ()
        if not isinstance(value, Mapping):
            self.bad((key,), f"expected a mapping, got {type(value).__name__}")
            return ()
        if len(value) > MAX_ITEMS:
            self.bad((key,), f"more than {MAX_ITEMS} entries")
            return ()
        out: list[tuple[str, str]] = []
        for k, v in value.items():
            name = str(k)
            text = self.text((key, name), v, allow_int=True)
            problem = check_key(name) or (check_value(text) if text is not None else None)
            if problem:
                self.bad((key, name), problem)
            elif text is not None:
                out.append((name, text))
        return tuple(out)

    def duration(self, key: str, default: str | None) -> int | None:
        value = self.raw.get(key, default)
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        seconds = fields.parse_duration(value)
        if seconds is None:
            self.bad((key,), f"{value!r} is not a duration (seconds, or e.g. 30s, 5m, 1h30m, 2d)")
        return seconds


def check_job(raw: Mapping[str, Any], *, package: str) -> tuple[JobSpec | None, list[Problem]]:
    """Validate one job's raw fields (already merged with any defaults) and build its JobSpec."""
    job = _Job(raw)
    for key in raw:
        if key not in JOB_FIELDS:
            job.bad((str(key),), unknown_key_message(str(key), JOB_FIELDS))

    name = _name(job)
    image = _image(job)
    schedule = _schedule(job)
    command = _command(job, package, name)
    arguments = job.strings("arguments", _split(job, "arguments", raw.get("arguments")))
    env = job.pairs("env", fields.env_name_problem, lambda _v: None)
    resources = _resources(job)
    retries = _retries(job)
    retry_delay = job.duration("retry_delay", DEFAULT_RETRY_DELAY)
    execution_timeout = job.duration("execution_timeout", DEFAULT_EXECUTION_TIMEOUT)
    if execution_timeout == 0:
        job.bad(("execution_timeout",), "must be greater than zero (use none for no timeout)")
    service_account = job.optional_text("service_account")
    if service_account is not None and (p := dns_subdomain_problem(service_account, "service account")):
        job.bad(("service_account",), p)
    node_selector = job.pairs("node_selector", fields.label_key_problem, fields.label_value_problem)
    tolerations = _tolerations(job)
    labels = job.pairs("labels", _pod_label_key_problem, fields.label_value_problem)
    tags = _tags(job, package)
    owner = job.optional_text("owner") or package
    description = job.optional_text("description")
    paused = _paused(job)

    if job.problems or name is None or image is None or resources is None:
        return None, job.problems
    spec = JobSpec(
        package=package, name=name, image=image, schedule=schedule, command=command, arguments=arguments,
        env=env, resources=resources, retries=retries, retry_delay_seconds=retry_delay or 0,
        execution_timeout_seconds=execution_timeout, service_account=service_account,
        node_selector=node_selector, tolerations=tolerations, labels=labels, tags=tags, owner=owner,
        description=description, paused=paused,
    )
    return spec, []


def _name(job: _Job) -> str | None:
    if job.raw.get("name") is None:
        job.bad(("name",), "required")
        return None
    name = job.text(("name",), job.raw["name"])
    if name is not None and (p := fields.job_name_problem(name)):
        job.bad(("name",), p)
        return None
    return name


def _image(job: _Job) -> str | None:
    if job.raw.get("image") is None:
        job.bad(("image",), "required (a pinned image, e.g. registry.example.com/team/app:1.2.3)")
        return None
    image = job.text(("image",), job.raw["image"])
    if image is not None and (p := image_problem(image)):
        job.bad(("image",), p)
        return None
    return image


def _schedule(job: _Job) -> str | None:
    value = job.raw.get("schedule")
    if value is None:
        return None
    text = job.text(("schedule",), value)
    if text is None or text.strip().lower() == "none":
        return None
    written = normalise_schedule(text)  # judged as the generated file will pass it to DAG()
    if p := schedule_problem(written):
        job.bad(("schedule",), p)
    return written


def _command(job: _Job, package: str, name: str | None) -> tuple[str, ...]:
    value = job.raw.get("command")
    if value is None:
        return ("python", "-m", f"{package}.jobs.{name}")
    value = _split(job, "command", value)
    before = len(job.problems)
    command = job.strings("command", value)
    if not command and len(job.problems) == before:
        job.bad(("command",), "must not be empty")
    return command


def _split(job: _Job, key: str, value: Any) -> Any:
    """A string stands for a list of words, split the way a POSIX shell would."""
    if not isinstance(value, str):
        return value
    try:
        return shlex.split(value)
    except ValueError as exc:
        job.bad((key,), f"cannot split {value!r} like a shell would: {exc}")
        return None


def _paused(job: _Job) -> bool:
    """Whether the DAG starts paused when Airflow first sees it (default: active, no manual step)."""
    value = job.raw.get("paused", False)
    if not isinstance(value, bool):
        job.bad(("paused",), f"expected true or false, got {type(value).__name__} {value!r}")
        return False
    return value


def _retries(job: _Job) -> int:
    value = job.raw.get("retries", DEFAULT_RETRIES)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        job.bad(("retries",), f"{value!r} is not a whole number from 0 to {MAX_RETRIES}")
        return 0
    return value


def _resources(job: _Job) -> Resources | None:
    raw = job.raw.get("resources") or {}
    if not isinstance(raw, Mapping):
        job.bad(("resources",), f"expected a mapping with requests and limits, got {type(raw).__name__}")
        return None
    for key in raw:
        if key not in ("requests", "limits"):
            job.bad(("resources", str(key)), unknown_key_message(str(key), ("requests", "limits")))
    given: dict[tuple[str, str], str] = {}
    for kind in ("requests", "limits"):
        section = raw.get(kind) or {}
        if not isinstance(section, Mapping):
            job.bad(("resources", kind), f"expected a mapping of cpu and memory, got {type(section).__name__}")
            continue
        for resource, value in section.items():
            path = ("resources", kind, str(resource))
            if resource not in ("cpu", "memory"):
                job.bad(path, unknown_key_message(str(resource), ("cpu", "memory")))
                continue
            text = job.text(path, value, allow_int=True)
            if text is not None and (p := fields.quantity_problem(text, str(resource))):
                job.bad(path, p)
            elif text is not None:
                given[(kind, str(resource))] = text
    chosen = {}
    for resource in ("cpu", "memory"):
        default_request = getattr(DEFAULT_RESOURCES, f"{resource}_request")
        default_limit = getattr(DEFAULT_RESOURCES, f"{resource}_limit")
        request = given.get(("requests", resource))
        limit = given.get(("limits", resource))
        if request is not None and limit is not None:
            if _q(request) > _q(limit):
                job.bad(("resources", "requests", resource),
                        f"request {request} is greater than the {resource} limit {limit}")
        elif request is not None:  # an unset limit follows a request above the default limit
            limit = request if _q(request) > _q(default_limit) else default_limit
        elif limit is not None:  # an unset request follows a limit below the default request
            request = limit if _q(limit) < _q(default_request) else default_request
        else:
            request, limit = default_request, default_limit
        chosen[f"{resource}_request"], chosen[f"{resource}_limit"] = request, limit
    return Resources(**chosen)


def _q(text: str) -> Any:
    value = fields.parse_quantity(text)
    assert value is not None  # only called on checked quantities
    return value


def _tolerations(job: _Job) -> tuple[Toleration, ...]:
    value = job.raw.get("tolerations")
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        job.bad(("tolerations",), f"expected a list of at most {MAX_ITEMS} tolerations")
        return ()
    out = []
    for i, item in enumerate(value):
        toleration = _toleration(job, ("tolerations", i), item)
        if toleration is not None:
            out.append(toleration)
    return tuple(out)


def _toleration(job: _Job, path: Path, item: Any) -> Toleration | None:
    if not isinstance(item, Mapping):
        job.bad(path, f"expected a mapping with key, operator, value, effect, got {type(item).__name__}")
        return None
    before = len(job.problems)
    for key in item:
        if key not in TOLERATION_FIELDS:
            job.bad((*path, str(key)), unknown_key_message(str(key), TOLERATION_FIELDS))
    key = None if item.get("key") is None else job.text((*path, "key"), item["key"])
    if key is not None and (p := fields.label_key_problem(key)):
        job.bad((*path, "key"), p)
    operator = item.get("operator", "Equal")
    if operator not in ("Equal", "Exists"):
        job.bad((*path, "operator"), f"{operator!r} is not Equal or Exists")
    value = None if item.get("value") is None else job.text((*path, "value"), item["value"], allow_int=True)
    if operator == "Exists" and value is not None:
        job.bad((*path, "value"), "must be empty when operator is Exists")
    if operator == "Equal" and key is None:
        job.bad((*path, "key"), "required when operator is Equal")
    if value is not None and (p := fields.label_value_problem(value)):
        job.bad((*path, "value"), p)
    effect = item.get("effect")
    if effect is not None and effect not in TOLERATION_EFFECTS:
        job.bad((*path, "effect"), f"{effect!r} is not one of {', '.join(TOLERATION_EFFECTS)}")
    seconds = item.get("toleration_seconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0):
        job.bad((*path, "toleration_seconds"), f"{seconds!r} is not a whole number of seconds")
    elif seconds is not None and effect != "NoExecute":
        job.bad((*path, "toleration_seconds"), "only applies with effect NoExecute")
    if len(job.problems) == before and (p := toleration_problem({"key": key, "operator": operator})):
        job.bad(path, p + " (the cluster policy refuses it)")
    if len(job.problems) > before:
        return None
    return Toleration(key=key, operator=str(operator), value=value, effect=effect, toleration_seconds=seconds)


def _pod_label_key_problem(key: str) -> str | None:
    if key in fields.OPERATOR_LABELS:
        return f"label {key!r} is set by KubernetesPodOperator itself"
    return fields.label_key_problem(key)


def _tags(job: _Job, package: str) -> tuple[str, ...]:
    tags = [package]
    for i, tag in enumerate(job.strings("tags", job.raw.get("tags"))):
        if not tag.strip() or len(tag) > MAX_TAG_LENGTH:
            job.bad(("tags", i), f"tag {tag!r} must be 1 to {MAX_TAG_LENGTH} characters")
        elif tag not in tags:
            tags.append(tag)
    return tuple(tags)
