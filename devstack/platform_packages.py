"""The platform's one list of packages, `infra/airflow/packages.yaml`, and the Kubernetes objects
derived from it: what each package's job pods need in namespace `etl-jobs` (its ServiceAccount).

    python -m devstack.platform_packages            # (re)writes infra/airflow/k8s/etl-jobs-packages.yaml
    python -m devstack.platform_packages --check    # exit 1 when the committed file is not what the list gives

`make k8s-packages` runs the first. Terraform reads the same list itself (`yamldecode(file(...))` in
infra/airflow/terraform/main.tf) for the per-package CI policies. Exit codes: 0 done (or current),
1 the committed file is stale (--check), 2 the list is invalid (every problem named, with its key).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGES_FILE = ROOT / "infra" / "airflow" / "packages.yaml"
OUTPUT_FILE = ROOT / "infra" / "airflow" / "k8s" / "etl-jobs-packages.yaml"
JOBS_NAMESPACE = "etl-jobs"

PACKAGE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")  # ARCHITECTURE.md "Names"
# A ServiceAccount name is a DNS-1123 subdomain; we keep to a single label (no dots), like every
# name the chart and the generator produce.
SERVICE_ACCOUNT = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
REGISTRY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9._-]+)*$")
TOP_KEYS = {"allowed_registries", "packages"}
PACKAGE_KEYS = {"name", "service_account"}


class PackageListError(Exception):
    """The package list is invalid; `problems` names each one with the key at fault."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


@dataclass(frozen=True)
class PlatformPackage:
    name: str
    service_account: str


@dataclass(frozen=True)
class PackageList:
    allowed_registries: tuple[str, ...]
    packages: tuple[PlatformPackage, ...]

    def names(self) -> list[str]:
        return [p.name for p in self.packages]


def default_service_account(name: str) -> str:
    return name.replace("_", "-")


def parse(doc: Any, source: str = "packages.yaml") -> PackageList:
    """Check the whole document and report every problem at once."""
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise PackageListError(source, ["expected a mapping with `allowed_registries` and `packages`"])
    problems += [f"unknown key `{k}` (known: {', '.join(sorted(TOP_KEYS))})" for k in doc if k not in TOP_KEYS]

    registries = doc.get("allowed_registries")
    if not isinstance(registries, list) or not registries:
        problems.append("`allowed_registries`: expected a non-empty list of registry hosts")
        registries = []
    for i, registry in enumerate(registries):
        if not isinstance(registry, str) or not REGISTRY.match(registry):
            problems.append(f"`allowed_registries[{i}]`: {registry!r} is not a registry host "
                            "(e.g. registry.example.com)")

    entries = doc.get("packages")
    if not isinstance(entries, list):
        problems.append("`packages`: expected a list of {name, service_account} entries")
        entries = []
    packages: list[PlatformPackage] = []
    for i, entry in enumerate(entries):
        where = f"`packages[{i}]`"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping with `name` (and optionally `service_account`)")
            continue
        problems += [f"{where}: unknown key `{k}` (known: {', '.join(sorted(PACKAGE_KEYS))})"
                     for k in entry if k not in PACKAGE_KEYS]
        name = entry.get("name")
        if not isinstance(name, str) or not PACKAGE_NAME.match(name):
            problems.append(f"{where}.name: {name!r} is not a package name ({PACKAGE_NAME.pattern})")
            continue
        account = entry.get("service_account", default_service_account(name))
        if not isinstance(account, str) or not SERVICE_ACCOUNT.match(account):
            problems.append(f"{where}.service_account: {account!r} is not a Kubernetes name "
                            "(lowercase letters, digits and '-', at most 63 characters)")
            continue
        packages.append(PlatformPackage(name, account))

    columns = {"name": [p.name for p in packages], "service_account": [p.service_account for p in packages]}
    for label, values in columns.items():
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            problems.append(f"`packages`: {label} listed more than once: {', '.join(duplicates)}")
    if problems:
        raise PackageListError(source, problems)
    return PackageList(tuple(str(r) for r in registries), tuple(packages))


def load(path: Path = PACKAGES_FILE) -> PackageList:
    source = _display(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PackageListError(source, [f"cannot read: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise PackageListError(source, [f"not valid YAML: {exc}"]) from None
    return parse(doc, source)


# The docker-registry Secret of the job images' registry in etl-jobs (deploy_airflow.sh's PULL_SECRET).
PULL_SECRET = "registry-pull"


def etl_jobs_objects(packages: PackageList) -> list[dict[str, Any]]:
    """Per package, what its job pods need in etl-jobs: the ServiceAccount its DAGs name. Job pods
    never call the Kubernetes API, so no token is mounted; they pull the package's image (from a
    registry of `allowed_registries`) with the Secret PULL_SECRET, which deploy_airflow.sh checks."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": p.service_account,
                "namespace": JOBS_NAMESPACE,
                "labels": {
                    "app.kubernetes.io/part-of": "airflow-dag-publisher",
                    "app.kubernetes.io/managed-by": "platform-packages",
                    "package": p.name,
                },
            },
            "automountServiceAccountToken": False,
            "imagePullSecrets": [{"name": PULL_SECRET}],
        }
        for p in packages.packages
    ]


HEADER = """\
# GENERATED from infra/airflow/packages.yaml by `make k8s-packages` (python -m devstack.platform_packages):
# do not edit; tests/infra/test_packages.py fails when this file is not what the list gives.
# Per package, what its job pods need in etl-jobs: the ServiceAccount its DAGs run as (pulling with
# the Secret registry-pull, a prerequisite deploy_airflow.sh checks).
# Applied by infra/airflow/scripts/deploy_airflow.sh (install and upgrade).
"""


class _IndentedDumper(yaml.SafeDumper):
    """Block sequences indented under their key, as yamllint's default style wants them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def render(packages: PackageList) -> str:
    docs = etl_jobs_objects(packages)
    body = "".join(yaml.dump(d, Dumper=_IndentedDumper, sort_keys=False, explicit_start=True) for d in docs)
    return HEADER + (body or "---\n")


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.platform_packages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=Path, default=PACKAGES_FILE, help="the package list (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=OUTPUT_FILE, help="the generated file (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if --output is stale")
    args = parser.parse_args(argv)
    try:
        text = render(load(args.packages))
    except PackageListError as exc:
        for problem in exc.problems:
            print(f"platform-packages: {exc.source}: {problem}", file=sys.stderr)
        return 2
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"platform-packages: {_display(args.output)} is stale: run `make k8s-packages` "
                  f"and commit the result", file=sys.stderr)
            return 1
        print(f"platform-packages: {_display(args.output)} is current")
        return 0
    if current != text:
        args.output.write_text(text, encoding="utf-8")
        print(f"platform-packages: wrote {_display(args.output)}")
    else:
        print(f"platform-packages: {_display(args.output)} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
