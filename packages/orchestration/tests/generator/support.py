"""Shared helpers of the generator tests: run the CLI in-process, and parse DAGs with Airflow once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from airflow_dag_publisher.cli.main import main

HERE = Path(__file__).parent
REPO = HERE.parents[3]
PROBE = HERE / "airflow_probe.py"
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: nowhere, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: nobody, user: {token: not-a-token}}]
contexts: [{name: nowhere, context: {cluster: nowhere, user: nobody, namespace: etl-jobs}}]
current-context: nowhere
"""


def run_cli(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`airflow-dag-publisher ARGV` in-process: (exit code, stdout, stderr); argparse exits count too."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def parse_with_airflow(folders: Sequence[Path], tmp: Path) -> dict[str, Any]:
    """The probe's report for these folders (one subprocess: isolated AIRFLOW_HOME, kubeconfig to nowhere)."""
    return run_probe(PROBE, folders, tmp)


def run_probe(probe: Path, folders: Sequence[Path], tmp: Path) -> dict[str, Any]:
    """Run `probe OUT.json DIR...` with Airflow in a subprocess and return what it wrote."""
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "KUBE"))}
    env.update(AIRFLOW_HOME=str(tmp / "airflow_home"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               KUBECONFIG=str(kubeconfig))
    out = tmp / "probe.json"
    proc = subprocess.run([sys.executable, str(probe), str(out), *map(str, folders)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ruff", *args, "--config", str(REPO / "pyproject.toml")],
                          capture_output=True, text=True, timeout=120, check=False)
