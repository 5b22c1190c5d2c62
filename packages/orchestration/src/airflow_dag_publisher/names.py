"""Rules for environment, package, dag_id and file path names, shared by every command and the agent."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.policy.cluster_policy import PACKAGE_RE, dag_id_problem

ENV_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# A release id as a directory name and an Airflow bundle version (the publisher's ids are
# `<UTC time>-<12 hex>`): one path component, never `.` or `..`.
RELEASE_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$")
MAX_PATH_DEPTH = 8
MAX_NAME_BYTES = 255  # one path component: the file systems' NAME_MAX
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

__all__ = ["BUCKET_RE", "ENV_RE", "PACKAGE_RE", "check_bucket", "check_env", "check_package", "dag_id_belongs_to",
           "dns_subdomain_problem", "path_conflicts", "path_problem"]


def check_env(env: str | None, option: str = "--env", env_var: str = "ENVIRONMENT") -> str:
    if not env:
        raise UsageError(f"{option} is required (or set {env_var})")
    if not ENV_RE.match(env):
        raise UsageError(f"{option} {env!r} is not a valid environment name (expected {ENV_RE.pattern})")
    return env


def check_package(package: str | None, option: str = "--package") -> str:
    if not package:
        raise UsageError(f"{option} is required (or set PACKAGE_NAME)")
    if not PACKAGE_RE.match(package):
        raise UsageError(f"{option} {package!r} is not a valid package name (expected {PACKAGE_RE.pattern})")
    return package


def check_bucket(bucket: str | None, option: str = "--bucket", env_var: str = "DAG_BUCKET") -> str:
    if not bucket:
        raise UsageError(f"{option} is required (or set {env_var})")
    if not BUCKET_RE.match(bucket) or ".." in bucket:
        raise UsageError(f"{option} {bucket!r} is not a valid S3 bucket name")
    return bucket


def dns_subdomain_problem(value: str, what: str) -> str | None:
    """A Kubernetes object name (a service account) or label prefix: a DNS subdomain of at most 253 characters."""
    if len(value) > 253 or not _DNS_SUBDOMAIN_RE.match(value):
        return f"{what} {value!r} is not a DNS subdomain (lower-case letters, digits, '-' and '.')"
    return None


def dag_id_belongs_to(dag_id: str, package: str, all_packages: set[str] | None = None) -> bool:
    """True if dag_id belongs to package: it has the `<package>_` prefix and no longer package
    name of the environment (e.g. `alpha_ext` for `alpha`) claims it with its own prefix. The rule
    is the cluster policy's (`policy.cluster_policy.dag_id_problem`), which Airflow enforces too."""
    return dag_id_problem(dag_id, package, all_packages or ()) is None


def path_problem(path: str) -> str | None:
    """Why a package-relative file path is unsafe, or None if it is safe."""
    if not path:
        return "empty path"
    if _CONTROL.search(path):
        return "control character in path"
    if "\\" in path:
        return "backslash in path"
    if path.startswith("/"):
        return "absolute path"
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "path is not normalised (empty, '.' or '..' component)"
    if len(parts) > MAX_PATH_DEPTH:
        return f"path deeper than {MAX_PATH_DEPTH} levels"
    if str(PurePosixPath(path)) != path:
        return "path is not normalised"
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        return "path is not valid Unicode (lone surrogate)"
    if len(encoded) > 1024:
        return "path longer than 1024 bytes"
    if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in parts):
        return f"a path component is longer than {MAX_NAME_BYTES} bytes"
    return None


def path_conflicts(paths: list[str]) -> list[str]:
    """Paths that cannot coexist in one folder: a file that is also another file's parent folder."""
    files = set(paths)
    problems = []
    for path in sorted(files):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in files:
                problems.append(f"{parent!r} is a file and also the folder of {path!r}")
                break
    return problems
