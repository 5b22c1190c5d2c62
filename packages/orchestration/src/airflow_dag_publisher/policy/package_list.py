"""The package list (`infra/airflow/packages.yaml`) as the cluster policy's data.

Only the keys the policy needs are read (`allowed_registries`, `packages[].name`,
`packages[].service_account`); any other key is left alone for the tools that own it.

Which list the validator uses: `DAG_PACKAGES_FILE` when set, else the nearest
`infra/airflow/packages.yaml` above the source folder (a package's CI runs in the platform's
repository), else none: then the service account of a package is its name with dashes, and images
may come from any registry (the cluster, which always has the list, still refuses them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.policy.cluster_policy import PACKAGE_RE, Cluster

PACKAGES_FILE_ENV = "DAG_PACKAGES_FILE"
REPO_PACKAGES_FILE = Path("infra") / "airflow" / "packages.yaml"
MAX_PARENTS = 32
# A Kubernetes service account name (a DNS-1123 subdomain).
_ACCOUNT = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_REGISTRY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]+)?(/[a-z0-9._-]+)*$")


def load_cluster(path: Path) -> Cluster:
    """The policy's data from a package list; UsageError naming the file and key at fault."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the package list: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from None
    return cluster_from(doc, str(path))


def cluster_from(doc: Any, where: str) -> Cluster:
    if not isinstance(doc, dict):
        raise UsageError(f"{where}: expected a mapping with `packages` and `allowed_registries`")
    registries = doc.get("allowed_registries")
    if not isinstance(registries, list) or not registries:
        raise UsageError(f"{where}: `allowed_registries` must be a non-empty list of registries")
    for i, entry in enumerate(registries):
        if not isinstance(entry, str) or not _REGISTRY.match(entry):
            raise UsageError(f"{where}: allowed_registries[{i}] {entry!r} is not a registry (host[:port][/path])")
    packages = doc.get("packages")
    if not isinstance(packages, list):
        raise UsageError(f"{where}: `packages` must be a list")
    accounts: dict[str, str] = {}
    for i, entry in enumerate(packages):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not PACKAGE_RE.match(name):
            raise UsageError(f"{where}: packages[{i}].name {name!r} is not a package name ({PACKAGE_RE.pattern})")
        account = entry.get("service_account", name.replace("_", "-"))
        if not isinstance(account, str) or not _ACCOUNT.match(account) or len(account) > 253:
            raise UsageError(f"{where}: packages[{i}].service_account {account!r} is not a Kubernetes name")
        if name in accounts:
            raise UsageError(f"{where}: packages[{i}]: package {name!r} is listed twice")
        shared = [other for other, acc in accounts.items() if acc == account]
        if shared:
            raise UsageError(f"{where}: packages[{i}]: service account {account!r} is already {shared[0]!r}'s")
        accounts[name] = account
    return Cluster(service_accounts=accounts, allowed_registries=tuple(registries))


def find_packages_file(source: Path) -> Path | None:
    """The nearest `infra/airflow/packages.yaml` above `source`, else None."""
    folder = source.resolve()
    for _ in range(MAX_PARENTS):
        candidate = folder / REPO_PACKAGES_FILE
        if candidate.is_file():
            return candidate
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def default_cluster(source: Path, named: Path | None = None) -> tuple[Cluster, Path | None]:
    """The cluster data the validator judges `source` against, and the package list it came from:
    `named` (`--packages-file`, env DAG_PACKAGES_FILE) when given, else the nearest list above `source`."""
    if named is not None:
        try:
            return load_cluster(named), named
        except UsageError as exc:
            raise UsageError(f"--packages-file ({PACKAGES_FILE_ENV}): {exc}") from None
    path = find_packages_file(source)
    return (load_cluster(path), path) if path is not None else (Cluster(), None)
