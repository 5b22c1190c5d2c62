"""The Kubernetes objects derived from the platform's one list of packages,
`infra/airflow/packages.yaml` (read, with every problem reported, by the one loader,
airflow_dag_publisher.policy.package_list): what each package's job pods need in namespace
`etl-jobs` (its ServiceAccount), and the list itself as the ConfigMap `airflow-dag-sync-packages` in
namespace `airflow`, which the sync agents mount (`--packages-file`: which packages are spec-only).

    python -m devstack.platform_packages            # (re)writes infra/airflow/k8s/etl-jobs-packages.yaml
    python -m devstack.platform_packages --check    # exit 1 when the committed file is not what the list gives

`make k8s-packages` runs the first. Terraform reads the same list itself (`yamldecode(file(...))` in
infra/airflow/terraform/main.tf) for the per-package CI policies. Exit codes: 0 done (or current),
1 the committed file is stale (--check), 2 the list is invalid (every problem named, with its key).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from airflow_dag_publisher.errors import EXIT_OK, ErrorKind, exit_code
from airflow_dag_publisher.files import write_atomic
from airflow_dag_publisher.policy.cluster_policy import REQUIRED_NAMESPACE, Cluster
from airflow_dag_publisher.policy.package_list import PackageListError, load_cluster

ROOT = Path(__file__).resolve().parent.parent
PACKAGES_FILE = ROOT / "infra" / "airflow" / "packages.yaml"
OUTPUT_FILE = ROOT / "infra" / "airflow" / "k8s" / "etl-jobs-packages.yaml"
AIRFLOW_NAMESPACE = "airflow"
AGENT_PACKAGES_CONFIGMAP = "airflow-dag-sync-packages"


def load(path: Path = PACKAGES_FILE) -> Cluster:
    """The package list (PackageListError naming every problem)."""
    return load_cluster(path, _display(path))


# The docker-registry Secret of the job images' registry in etl-jobs (deploy_airflow.sh's PULL_SECRET).
PULL_SECRET = "registry-pull"


def etl_jobs_objects(packages: Cluster) -> list[dict[str, Any]]:
    """Per package, what its job pods need in etl-jobs: the ServiceAccount its DAGs name. Job pods
    never call the Kubernetes API, so no token is mounted; they pull the package's image (from a
    registry of `allowed_registries`) with the Secret PULL_SECRET, which deploy_airflow.sh checks."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": account,
                "namespace": REQUIRED_NAMESPACE,
                "labels": {
                    "app.kubernetes.io/part-of": "airflow-dag-publisher",
                    "app.kubernetes.io/managed-by": "platform-packages",
                    "package": name,
                },
            },
            "automountServiceAccountToken": False,
            "imagePullSecrets": [{"name": PULL_SECRET}],
        }
        for name, account in packages.service_accounts.items()
    ]


def agent_objects(list_text: str) -> list[dict[str, Any]]:
    """The package list, verbatim, for the sync agents (airflow-values.yaml mounts it; `--packages-file`)."""
    return [{
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": AGENT_PACKAGES_CONFIGMAP,
            "namespace": AIRFLOW_NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": "airflow-dag-publisher",
                       "app.kubernetes.io/managed-by": "platform-packages"},
        },
        "data": {"packages.yaml": list_text},
    }]


HEADER = """\
# GENERATED from infra/airflow/packages.yaml by `make k8s-packages` (python -m devstack.platform_packages):
# do not edit; tests/infra/test_packages.py fails when this file is not what the list gives.
# Per package, what its job pods need in etl-jobs: the ServiceAccount its DAGs run as (pulling with
# the Secret registry-pull, a prerequisite deploy_airflow.sh checks); and the list itself for the
# sync agents in airflow (ConfigMap airflow-dag-sync-packages: which packages are spec-only).
# Applied by infra/airflow/scripts/deploy_airflow.sh (install and upgrade).
"""


class _IndentedDumper(yaml.SafeDumper):
    """Block sequences indented under their key, as yamllint's default style wants them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _block_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    """A multi-line string (the package list in the agents' ConfigMap) as a literal block."""
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_IndentedDumper.add_representer(str, _block_text)


def render(packages: Cluster, list_text: str | None = None) -> str:
    docs = etl_jobs_objects(packages) + (agent_objects(list_text) if list_text is not None else [])
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
        text = render(load(args.packages), args.packages.read_text(encoding="utf-8"))
    except PackageListError as exc:
        for problem in exc.problems:
            print(f"platform-packages: {exc.source}: {problem}", file=sys.stderr)
        return exit_code(exc)
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"platform-packages: {_display(args.output)} is stale: run `make k8s-packages` "
                  f"and commit the result", file=sys.stderr)
            return exit_code(ErrorKind.REFUSED)
        print(f"platform-packages: {_display(args.output)} is current")
        return EXIT_OK
    if current != text:
        write_atomic(args.output, text.encode("utf-8"), mode=0o644)
        print(f"platform-packages: wrote {_display(args.output)}")
    else:
        print(f"platform-packages: {_display(args.output)} unchanged")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
