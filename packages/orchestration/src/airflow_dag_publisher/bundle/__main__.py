"""`python -m airflow_dag_publisher.bundle config|helm-values`: see bundle/config.py."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from airflow_dag_publisher.bundle.config import (
    K8S_DIR,
    BundleSettings,
    bundle_config_list,
    to_json,
    wanted_values,
)
from airflow_dag_publisher.cli import toolkit
from airflow_dag_publisher.errors import EXIT_OK, EXIT_REFUSED, UsageError
from airflow_dag_publisher.policy.package_list import REPO_PACKAGES_FILE, load_cluster

PROG = "python -m airflow_dag_publisher.bundle"


def build_parser() -> argparse.ArgumentParser:
    parser = toolkit.Parser(prog=PROG, description="Airflow's DAG bundles of the packages: one versioned bundle "
                            "(airflow_dag_publisher.bundle.ReleaseBundle) per package of the package list.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=toolkit.Parser)
    config = sub.add_parser("config", help="print the JSON of [dag_processor] dag_bundle_config_list")
    config.add_argument("--packages-file", type=Path, required=True, help="the package list (packages.yaml)")
    config.add_argument("--env", required=True, help="the environment the agent mirrors")
    config.add_argument("--bucket", required=True, help="the bucket releases are published to")
    config.add_argument("--dags-dir", required=True, help="the agent's DAGs folder on every Airflow node")
    config.add_argument("--state-dir", help="the agent's state folder (default: beside the DAGs folder)")
    config.add_argument("--trust-file", help="the agent's trust file: a task's release must be signed as the agent "
                        "requires")
    config.add_argument("--require-signatures", action="store_true", help="as the agent's --require-signatures")
    config.add_argument("--refresh-interval", type=toolkit.number(int), default=None,
                        help="seconds between a bundle's refreshes (default: [dag_processor] refresh_interval)")
    helm = sub.add_parser("helm-values", help="write the generated block of every environment's Helm values")
    helm.add_argument("--packages-file", type=Path, default=REPO_PACKAGES_FILE, help="the package list")
    helm.add_argument("--k8s-dir", type=Path, default=K8S_DIR, help="infra/airflow/k8s")
    helm.add_argument("--check", action="store_true", help="exit 1 when a copy is stale; write nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)

    def run() -> int:
        args = toolkit.parse(build_parser(), args_list)
        packages = sorted(load_cluster(args.packages_file).packages)
        if args.command == "config":
            settings = BundleSettings(env=args.env, bucket=args.bucket, dags_dir=args.dags_dir,
                                      state_dir=args.state_dir, trust_file=args.trust_file,
                                      require_signatures=args.require_signatures,
                                      refresh_interval=args.refresh_interval)
            print(to_json(bundle_config_list(packages, settings)))
            return EXIT_OK
        stale = []
        for path, (current, wanted) in wanted_values(args.k8s_dir, packages).items():
            if current == wanted:
                continue
            stale.append(path)
            if not args.check:
                try:
                    path.write_text(wanted, encoding="utf-8")
                except OSError as exc:
                    raise UsageError(f"{path}: {exc.strerror or exc}") from None
        for path in stale:
            verb = "is stale; run `make bundles`" if args.check else "updated"
            print(f"{path}: dag_bundle_config_list {verb}", file=sys.stderr if args.check else sys.stdout)
        if not stale:
            print("every environment's dag_bundle_config_list is up to date")
        return EXIT_REFUSED if args.check and stale else EXIT_OK

    return toolkit.guard(PROG, args_list, run)


if __name__ == "__main__":
    sys.exit(main())
