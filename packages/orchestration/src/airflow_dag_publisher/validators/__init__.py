"""DAG validation: `validate_source` judges a folder (`validate`), `validate_files` judges exactly the
bytes a publish read (`publish`), through the same layers.

Two layers plus ruff: the static layer (`static`, no Airflow needed), the dynamic layer (`dynamic`:
every file parsed by Airflow's own DagBag in worker processes, laid out as in production) and
ruff's `AIR` rules (`ruff_air`). Reports are rendered by `reports`.

Both layers judge the cluster policy's rules with its own functions (`policy.cluster_policy`) and the
package list's data (`policy.package_list.default_cluster`: `--packages-file` (env DAG_PACKAGES_FILE),
else the nearest `infra/airflow/packages.yaml` above the source folder), so an author sees Airflow's
refusal first.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.policy.cluster_policy import DEFAULT_ALLOWED_OPERATORS, Cluster
from airflow_dag_publisher.policy.package_list import default_cluster
from airflow_dag_publisher.sources import LocalFile, check_folder
from airflow_dag_publisher.validators.dynamic import DynamicOptions, DynamicResult, default_timeout, run_dynamic
from airflow_dag_publisher.validators.model import ERROR, NO_FILE, WARNING, Finding, ValidationReport
from airflow_dag_publisher.validators.ruff_air import ruff_findings
from airflow_dag_publisher.validators.static import StaticContext, StaticResult, check_source

__all__ = ["DEFAULT_ALLOWED_OPERATORS", "ERROR", "NO_FILE", "WARNING", "Cluster", "Finding", "ValidationReport",
           "python_files", "validate_files", "validate_source"]

# Static findings the Airflow parse re-checks on the built objects: dropped for files it judged.
_REJUDGED = ("dag-id-prefix", "kpo-")
MAX_FILES = 10_000


def python_files(source: Path) -> list[str]:
    return sorted(
        p.relative_to(source).as_posix()
        for p in source.rglob("*.py")
        if "__pycache__" not in p.parts and p.is_file() and not p.is_symlink()
    )


def validate_source(source: Path, package: str, *, dynamic: bool = True, require_airflow: bool = False,
                    other_packages: set[str] | None = None, allowed_operators: Iterable[str] | None = None,
                    timeout: float | None = None, workers: int = 0, ruff: bool = True,
                    cluster: Cluster | None = None, packages_file: Path | None = None) -> ValidationReport:
    """Judge every .py file under `source` as package `package`. Every finding is collected; nothing
    stops at the first problem. `require_airflow` raises UsageError when Airflow cannot parse here.
    `cluster`: the cluster policy's data (default: the package list found for `source`, see above);
    `allowed_operators` adds to its allow-list on the author's side only."""
    check_folder(source)
    files = python_files(source)
    if len(files) > MAX_FILES:
        raise UsageError(f"--source {source}: {len(files)} Python files, more than {MAX_FILES}")
    if cluster is None:
        cluster, packages_file = default_cluster(source, packages_file)
    if allowed_operators is not None:
        cluster = replace(cluster, allowed_operators=cluster.allowed_operators | frozenset(allowed_operators))
    others = (frozenset(other_packages or ()) | cluster.packages) - {package}
    ctx = StaticContext(package, others, _top_level_modules(source), cluster)
    static = {rel: check_source(rel, (source / rel).read_bytes(), ctx) for rel in files}

    report = ValidationReport(package=package, files=files, packages_file=str(packages_file or "") or None)
    if packages_file is not None and package not in cluster.packages:
        report.findings.append(unlisted(package, packages_file))
    dyn = DynamicResult(skipped="disabled (--no-dynamic)")
    linting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ruff")  # ruff runs while Airflow parses
    ruffed = linting.submit(ruff_findings, source, files) if ruff else None
    linting.shutdown(wait=False)
    if dynamic:
        parsable = [rel for rel in files if static[rel].parsed]
        opts = DynamicOptions(package=package, other_packages=others, cluster=cluster,
                              timeout=default_timeout() if timeout is None else timeout, workers=workers)
        dyn = run_dynamic(source, parsable, opts)
        if dyn.skipped and require_airflow:
            raise UsageError(f"--require-airflow: the Airflow parse cannot run: {dyn.skipped}")
        if dyn.skipped:
            report.findings.append(Finding(NO_FILE, "dynamic-skipped", WARNING,
                                           f"the Airflow parse was skipped ({dyn.skipped}): static checks only"))
    report.dynamic_skipped = dyn.skipped
    report.airflow_version = dyn.airflow_version
    report.parse_seconds = dict(dyn.seconds)
    _merge(report, static, dyn)
    if ruffed is not None:
        report.findings.extend(ruffed.result())
    order = {rel: i for i, rel in enumerate(files)}
    report.findings.sort(key=lambda f: (order.get(f.file, -1), f.severity != ERROR, f.rule, f.message))
    return report


def validate_files(files: Sequence[LocalFile], package: str, *, origin: Path | None = None, dynamic: bool = True,
                   other_packages: set[str] | None = None, ruff: bool = True,
                   packages_file: Path | None = None) -> ValidationReport:
    """Judge exactly these bytes (what a publish uploads), laid out in a private folder: a file that
    changes on disk after it was read cannot slip past the validator. `origin`, the folder they were
    read from, finds the package list as for `validate_source` (default: the current directory)."""
    cluster, packages_file = default_cluster(origin or Path.cwd(), packages_file)
    with tempfile.TemporaryDirectory(prefix="adp-release-") as tmp:
        root = Path(tmp) / "source"
        root.mkdir()
        for f in files:
            dest = root / f.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(f.data)
        report = validate_source(root, package, dynamic=dynamic, other_packages=other_packages, ruff=ruff,
                                 cluster=cluster)
    report.packages_file = str(packages_file) if packages_file else None
    return report


def unlisted(package: str, packages_file: Path) -> Finding:
    """A warning for a package the platform's package list does not name: its files may pass here, but
    in Airflow the cluster policy, in Kubernetes its service account and in AWS its CI policy and signing
    key all come from that list."""
    return Finding(NO_FILE, "package-not-listed", WARNING,
                   f"package {package!r} is not in {packages_file}: add `- name: {package}` there (a merge request "
                   "to the platform), then `make cluster-policy k8s-packages bundles`; until it is listed, "
                   "Airflow has no DAG bundle for it, Terraform no CI policy or signing key and Kubernetes no "
                   "service account")


def _merge(report: ValidationReport, static: dict[str, StaticResult], dyn: DynamicResult) -> None:
    for rel, result in static.items():
        judged = rel in dyn.judged
        report.findings.extend(f for f in result.findings if not (judged and f.rule.startswith(_REJUDGED)))
        ids = dyn.dag_ids.get(rel, []) if judged else sorted(set(result.dag_ids) | set(dyn.dag_ids.get(rel, [])))
        if ids:
            report.dag_ids[rel] = ids
        images = dyn.images.get(rel, []) if judged else result.images
        if images:
            report.images[rel] = list(images)
    report.findings.extend(dyn.findings)
    report.findings.extend(duplicate_findings(report.dag_ids))


def duplicate_findings(dag_ids: dict[str, list[str]]) -> list[Finding]:
    """An error on every file that defines a dag_id another file defines too."""
    owners: dict[str, list[str]] = {}
    for rel, ids in sorted(dag_ids.items()):
        for dag_id in set(ids):
            owners.setdefault(dag_id, []).append(rel)
    found = []
    for dag_id, files in sorted(owners.items()):
        for rel in files if len(files) > 1 else ():
            others = ", ".join(f for f in files if f != rel)
            found.append(Finding(rel, "duplicate-dag-id", ERROR, f"dag_id {dag_id!r} is also defined in {others}"))
    return found


def _top_level_modules(source: Path) -> frozenset[str]:
    names = set()
    for path in source.iterdir():
        if path.is_file() and path.suffix == ".py":
            names.add(path.stem)
        elif path.is_dir() and path.name.isidentifier() and path.name != "__pycache__":
            names.add(path.name)
    return frozenset(names)
