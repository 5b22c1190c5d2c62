"""Checks of single spec values: each returns why a value is wrong, or parses it into its canonical form.

Pure functions with no I/O: a check returns a message (no field name, the caller adds it) or None.
Schedules have their own module, `schedule`; the image rule is the cluster policy's
(`policy.cluster_policy.image_problem`) and the Kubernetes name rule is `names.dns_subdomain_problem`.
"""

from __future__ import annotations

import keyword
import re
from decimal import Decimal, InvalidOperation

from airflow_dag_publisher.names import dns_subdomain_problem

# --- names -------------------------------------------------------------------------------------

JOB_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Module-level names of the generated file: a task variable must not shadow them.
RESERVED_JOB_NAMES = frozenset({"annotations", "dag", "k8s", "timedelta"})


def job_name_problem(name: str) -> str | None:
    if not JOB_NAME_RE.match(name):
        return f"{name!r} is not a valid job name (expected {JOB_NAME_RE.pattern})"
    if keyword.iskeyword(name) or name in RESERVED_JOB_NAMES:
        return f"{name!r} is reserved (a Python keyword or a name the generated file uses)"
    return None


# --- Kubernetes quantities ---------------------------------------------------------------------

_QUANTITY_RE = re.compile(
    r"^(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_SUFFIX_FACTORS = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def parse_quantity(text: str) -> Decimal | None:
    """The value of a non-negative Kubernetes quantity (`250m`, `1.5`, `512Mi`, `1e3`), or None."""
    match = _QUANTITY_RE.match(text)
    if not match:
        return None
    suffix = match["suffix"] or ""
    try:
        number = Decimal(match["number"])
        factor = Decimal(10) ** int(suffix[1:]) if suffix[:1] in ("e", "E") else _SUFFIX_FACTORS[suffix]
    except (InvalidOperation, ValueError):
        return None
    return number * factor


def quantity_problem(text: str, resource: str) -> str | None:
    value = parse_quantity(text)
    if value is None:
        return f"{text!r} is not a Kubernetes quantity (e.g. {'250m or 1' if resource == 'cpu' else '512Mi or 2Gi'})"
    if value <= 0:
        return f"{text!r} must be greater than zero"
    if resource == "cpu" and value < Decimal("0.001"):
        return f"{text!r} is less than the smallest CPU amount, 1m"
    if resource == "memory" and text.endswith("m"):
        return f"{text!r} means {value} bytes (suffix m is milli); did you mean {text[:-1] + 'Mi'!r}?"
    if resource == "memory" and value < 2**20:
        return f"{text!r} is less than 1Mi; no container starts with that little memory"
    return None


# --- Kubernetes names and labels ---------------------------------------------------------------

_LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
# Labels KubernetesPodOperator sets on every pod itself (a spec label of that name would be overwritten).
OPERATOR_LABELS = frozenset({"dag_id", "task_id", "run_id", "try_number", "map_index", "kubernetes_pod_operator",
                             "airflow_version", "airflow_kpo_in_cluster", "parent_dag_id"})


def label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or dns_subdomain_problem(prefix, "prefix")):
        return f"label key {key!r}: prefix {prefix!r} is not a DNS subdomain"
    if not name or len(name) > 63 or not _LABEL_NAME_RE.match(name):
        return (f"label key {key!r} is not valid (at most 63 characters: letters, digits, '-', '_', '.', "
                "starting and ending with a letter or digit, optionally after a 'prefix/')")
    return None


def label_value_problem(value: str) -> str | None:
    if len(value) > 63 or not _LABEL_NAME_RE.match(value):
        return (f"label value {value!r} is not valid (at most 63 characters: letters, digits, '-', '_', '.', "
                "starting and ending with a letter or digit)")
    return None


ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_name_problem(name: str) -> str | None:
    if not ENV_NAME_RE.match(name):
        return f"environment variable name {name!r} is not valid (expected {ENV_NAME_RE.pattern})"
    return None


# --- durations ---------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"^(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?$")


def parse_duration(value: object) -> int | None:
    """Seconds from an integer number of seconds or a text like `90s`, `5m`, `1h30m`, `2d`; None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if not isinstance(value, str):
        return None
    match = _DURATION_RE.match(value.strip())
    if not value.strip() or not match:
        return None
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    return parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)
