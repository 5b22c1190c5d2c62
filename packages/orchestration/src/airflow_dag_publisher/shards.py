"""Which dag-processor parses which package when one is not enough: the rule that assigns packages to
shards, each shard a dag-processor (`python -m airflow_dag_publisher.dag_processor --bundle-name ...`,
Airflow's command with the fleet manager) owning a disjoint set.

A package's shard is the one whose hash of (shard, package) is highest (rendezvous hashing): the rule
needs nothing but the package's name and the number of shards, so every generator, every pod and the
parse-requests bundle compute the same answer without a shared table. Packages spread evenly in
expectation, and a change of the number of shards moves only the packages that must move: from S to S + 1
shards about 1 / (S + 1) of them, all to the new shard; a package never moves between two shards that
both stay.

    python -m airflow_dag_publisher.shards --shards 3 [--packages-file infra/airflow/packages.yaml]

prints each shard's packages (one line per shard: `<k>: <package> ...`).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterable
from pathlib import Path

MAX_SHARDS = 64


def _weight(shard: int, package: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{shard}:{package}".encode()).digest()[:8], "big")


def shard_of(package: str, shards: int) -> int:
    """The shard (0 .. shards-1) that parses `package`."""
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be 1..{MAX_SHARDS}, not {shards}")
    return max(range(shards), key=lambda k: _weight(k, package))


def assign(packages: Iterable[str], shards: int) -> list[list[str]]:
    """Each shard's packages, in name order (a shard may be empty when packages are few)."""
    out: list[list[str]] = [[] for _ in range(shards)]
    for package in sorted(set(packages)):
        out[shard_of(package, shards)].append(package)
    return out


def main(argv: list[str] | None = None) -> int:
    from airflow_dag_publisher.errors import EXIT_USAGE, DagPublisherError
    from airflow_dag_publisher.policy.package_list import REPO_PACKAGES_FILE, load_cluster

    parser = argparse.ArgumentParser(prog="python -m airflow_dag_publisher.shards", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, required=True, help=f"dag-processors (1..{MAX_SHARDS})")
    parser.add_argument("--packages-file", type=Path, default=REPO_PACKAGES_FILE)
    args = parser.parse_args(argv)
    if not 1 <= args.shards <= MAX_SHARDS:
        parser.error(f"--shards must be 1..{MAX_SHARDS}")
    try:
        packages = list(load_cluster(args.packages_file).service_accounts)
    except DagPublisherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for k, names in enumerate(assign(packages, args.shards)):
        print(f"{k}: {' '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
