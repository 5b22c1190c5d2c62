"""`airflow-dag-publisher generate` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse
from typing import Any

from airflow_dag_publisher.errors import UsageError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("generate", help="(not yet available)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    raise UsageError("'generate' is not implemented yet")
