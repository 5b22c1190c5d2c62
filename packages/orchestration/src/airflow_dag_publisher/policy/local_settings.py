"""Airflow's `airflow_local_settings.py`, generated: the cluster_policy module verbatim plus the
package list's data, and its copy in the Helm values (`airflowLocalSettings`, which the official chart
mounts as `$AIRFLOW_HOME/config/airflow_local_settings.py` in every Airflow container).

    python -m airflow_dag_publisher.policy.local_settings            # rewrite the Helm values' copy
    python -m airflow_dag_publisher.policy.local_settings --check    # exit 1 when that copy is stale
    python -m airflow_dag_publisher.policy.local_settings --output FILE   # write the file itself

Paths default to the repository's (run from its root, as `make cluster-policy` does).
"""

from __future__ import annotations

import argparse
import pprint
import sys
from pathlib import Path

from airflow_dag_publisher.cli import toolkit
from airflow_dag_publisher.errors import EXIT_OK, RefusedError, UsageError
from airflow_dag_publisher.files import write_atomic
from airflow_dag_publisher.policy import cluster_policy
from airflow_dag_publisher.policy.cluster_policy import Cluster
from airflow_dag_publisher.policy.package_list import REPO_PACKAGES_FILE, load_cluster

VALUES_FILE = Path("infra") / "airflow" / "k8s" / "airflow-values.yaml"
MODULE_PATH = "packages/orchestration/src/airflow_dag_publisher/policy/cluster_policy.py"
BEGIN = "# BEGIN generated cluster policy: `make cluster-policy` writes this block; do not edit it by hand."
END = "# END generated cluster policy"
PROG = "python -m airflow_dag_publisher.policy.local_settings"
MAX_LINE = 118  # the values file's YAML lines (indented by 2) stay within yamllint's 120

HEADER = f"""\
# airflow_local_settings.py: the DAG platform's cluster policies (dag_policy, task_policy).
# Generated from {MODULE_PATH}
# and {REPO_PACKAGES_FILE.as_posix()}; do not edit: change those and run `make cluster-policy`.
"""
VALUES_COMMENT = f"""\
{BEGIN}
# Airflow's airflow_local_settings.py (the chart mounts it at $AIRFLOW_HOME/config/ in every Airflow
# container): cluster policies that refuse, in every component that parses DAG files, a DAG whose
# dag_id is not its package's or whose tasks break the KubernetesPodOperator rules. The source is
# {MODULE_PATH} and
# {REPO_PACKAGES_FILE.as_posix()}.
"""


def render(cluster: Cluster) -> str:
    """The airflow_local_settings.py text for `cluster`: the module's own source, then its data."""
    source = Path(cluster_policy.__file__).read_text(encoding="utf-8").rstrip("\n")
    data = pprint.pformat(cluster.to_dict(), width=100, sort_dicts=True)
    tail = (f"\n\n\n# The package list these policies enforce.\nCLUSTER = Cluster.from_dict(\n"
            f"{_indent(data, '    ')}\n)\n\n"
            "# Only the hooks: Airflow copies every other name of this module into airflow.settings.\n"
            '__all__ = ["dag_policy", "task_policy"]\n')
    text = HEADER + "\n" + source + tail
    _check(text)
    return text


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def _check(text: str) -> None:
    """What the chart's `tpl`, yamllint and Python each require of the text."""
    if "{{" in text:
        raise UsageError("the local settings contain '{{', which Helm's tpl would execute")
    long = [i for i, line in enumerate(text.splitlines(), 1) if len(line) > MAX_LINE]
    if long:
        raise UsageError(f"the local settings have lines over {MAX_LINE} characters: {long[:5]}")
    compile(text, "airflow_local_settings.py", "exec")


def values_block(settings: str) -> str:
    return VALUES_COMMENT + "airflowLocalSettings: |\n" + _indent(settings.rstrip("\n"), "  ") + "\n" + END + "\n"


def with_local_settings(values_text: str, settings: str) -> str:
    """The Helm values text with its generated block replaced (or appended), everything else unchanged."""
    block = values_block(settings)
    lines = values_text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == END]
    if not starts and not ends:
        return values_text.rstrip("\n") + "\n\n" + block
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise UsageError("the Helm values have a broken generated cluster policy block (BEGIN/END markers)")
    return "".join(lines[: starts[0]]) + block + "".join(lines[ends[0] + 1:])


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    return toolkit.guard(PROG, args_list, lambda: run(args_list))


def run(argv: list[str]) -> int:
    parser = toolkit.Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=Path, default=REPO_PACKAGES_FILE, help="the package list")
    parser.add_argument("--values", type=Path, default=VALUES_FILE, help="the Helm values file to update")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 when the Helm values' copy is stale")
    mode.add_argument("--output", type=Path, metavar="FILE", help="write airflow_local_settings.py here instead")
    args = parser.parse_args(argv)
    settings = render(load_cluster(args.packages))
    if args.output:
        _write(args.output, settings)
        print(f"wrote {args.output}")
        return EXIT_OK
    try:
        current = args.values.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{args.values}: {exc.strerror or exc}") from None
    wanted = with_local_settings(current, settings)
    if args.check:
        if wanted != current:
            raise RefusedError(f"{args.values}: airflowLocalSettings is stale; run `make cluster-policy`")
        print(f"{args.values}: airflowLocalSettings is up to date")
        return EXIT_OK
    if wanted != current:
        _write(args.values, wanted)
    print(f"{args.values}: airflowLocalSettings {'updated' if wanted != current else 'already up to date'}")
    return EXIT_OK


def _write(path: Path, text: str) -> None:
    try:
        write_atomic(path, text.encode("utf-8"), mode=0o644)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


if __name__ == "__main__":
    sys.exit(main())
