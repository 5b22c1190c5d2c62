"""The package list (`infra/airflow/packages.yaml`): its schema and its one loader, which reports
every problem at once. The cluster policy, the validator, `make cluster-policy` and
`make k8s-packages` (devstack/platform_packages.py) all read the list through it.

    allowed_registries: [host[:port][/path], ...]     the registries job images may come from
    packages:
      - name: <package>                # ^[a-z][a-z0-9_]{0,62}$ (cluster_policy.PACKAGE_RE)
        service_account: <name>        # optional: a DNS subdomain; default the name with dashes
        spec_only: true                # optional: its releases are exactly what `generate --spec` renders
    allowed_callbacks: [module.function, ...]         optional: the platform's own callables a DAG may name

No other key is allowed (a misspelt `service_account` would silently give the default account).

Which list the validator uses: `DAG_PACKAGES_FILE` when set, else the nearest
`infra/airflow/packages.yaml` above the source folder (a package's CI runs in the platform's
repository), else none: then the service account of a package is the default one, and images
may come from any registry (the cluster, which always has the list, still refuses them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.names import dns_subdomain_problem
from airflow_dag_publisher.policy.cluster_policy import PACKAGE_RE, Cluster, default_service_account

PACKAGES_FILE_ENV = "DAG_PACKAGES_FILE"
REPO_PACKAGES_FILE = Path("infra") / "airflow" / "packages.yaml"
MAX_PARENTS = 32
TOP_KEYS = ("allowed_registries", "allowed_callbacks", "packages")
PACKAGE_KEYS = ("name", "service_account", "spec_only")
# A registry: a lower-case host, an optional port, an optional path (images are matched by prefix).
_REGISTRY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9._-]+)*$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


class PackageListError(UsageError):
    """The package list is invalid (exit 2); `problems` names each problem with its key."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


def load_cluster(path: Path, source: str | None = None) -> Cluster:
    """The package list at `path` (named `source` in messages, default the path)."""
    where = source or str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PackageListError(where, [f"cannot read the package list: {exc.strerror or exc}"]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PackageListError(where, [f"not valid YAML: {exc}"]) from None
    return cluster_from(doc, where)


def cluster_from(doc: Any, where: str) -> Cluster:
    """Check the whole document and report every problem at once (PackageListError)."""
    if not isinstance(doc, dict):
        raise PackageListError(where, ["expected a mapping with `allowed_registries` and `packages`"])
    problems = _unknown_keys(doc, TOP_KEYS, "")
    registries = doc.get("allowed_registries")
    if not isinstance(registries, list) or not registries:
        problems.append("`allowed_registries`: expected a non-empty list of registries (host[:port][/path])")
        registries = []
    for i, entry in enumerate(registries):
        if not isinstance(entry, str) or not _REGISTRY.match(entry):
            problems.append(f"`allowed_registries[{i}]`: {entry!r} is not a registry (host[:port][/path], "
                            "lower-case, e.g. registry.example.com)")
    entries = doc.get("packages")
    if not isinstance(entries, list):
        problems.append("`packages`: expected a list of {name, service_account} entries")
        entries = []
    accounts: dict[str, str] = {}
    owners: dict[str, str] = {}
    spec_only: set[str] = set()
    for i, entry in enumerate(entries):
        where_entry = f"`packages[{i}]`"
        if not isinstance(entry, dict):
            problems.append(f"{where_entry}: expected a mapping with `name` (and optionally `service_account`)")
            continue
        problems += _unknown_keys(entry, PACKAGE_KEYS, where_entry)
        name = entry.get("name")
        if not isinstance(name, str) or not PACKAGE_RE.match(name):
            problems.append(f"{where_entry}.name: {name!r} is not a package name ({PACKAGE_RE.pattern})")
            continue
        account = entry.get("service_account", default_service_account(name))
        why = dns_subdomain_problem(account, "name") if isinstance(account, str) else f"{account!r} is not a name"
        if why:
            problems.append(f"{where_entry}.service_account: {why}")
            continue
        flag = entry.get("spec_only", False)
        if not isinstance(flag, bool):
            problems.append(f"{where_entry}.spec_only: {flag!r} must be true or false")
        elif flag:
            spec_only.add(name)
        if name in accounts:
            problems.append(f"{where_entry}: package {name!r} is listed twice")
        elif account in owners:
            problems.append(f"{where_entry}: service account {account!r} is already package {owners[account]!r}'s")
        else:
            accounts[name], owners[account] = account, name
    callbacks = doc.get("allowed_callbacks") or []
    if not isinstance(callbacks, list) or not all(isinstance(c, str) and _DOTTED.match(c) for c in callbacks):
        problems.append("`allowed_callbacks`: expected a list of dotted paths (module.function)")
        callbacks = []
    if problems:
        raise PackageListError(where, problems)
    return Cluster(service_accounts=accounts, allowed_registries=tuple(registries), allowed_callbacks=tuple(callbacks),
                   spec_only=frozenset(spec_only))


def _unknown_keys(doc: dict[Any, Any], known: Sequence[str], where: str) -> list[str]:
    prefix = f"{where}: " if where else ""
    return [f"{prefix}unknown key `{k}` (known: {', '.join(known)})" for k in doc if k not in known]


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


def load_spec_only(path: Path) -> frozenset[str]:
    """The packages the list at `path` marks spec_only (their releases must be exactly what the generator
    renders from their jobs.yaml: spec_release.py)."""
    return load_cluster(path).spec_only
