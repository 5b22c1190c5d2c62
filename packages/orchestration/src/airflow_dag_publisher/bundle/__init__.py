"""Versioned runs: one Airflow DAG bundle per package (bundle name = package name, version = release
id), so every task runs the release its DAG run was parsed from.

    airflow_dag_publisher.bundle.ReleaseBundle          the bundle class (`release.py`)
    python -m airflow_dag_publisher.bundle config ...   the `[dag_processor] dag_bundle_config_list` JSON

`ReleaseBundle` imports Airflow; it is loaded on first use, so that the `config` command (and anything
else that imports this package) does not pay for Airflow's import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_dag_publisher.bundle.release import ReleaseBundle

__all__ = ["ReleaseBundle"]


def __getattr__(name: str) -> Any:
    if name == "ReleaseBundle":
        from airflow_dag_publisher.bundle.release import ReleaseBundle

        return ReleaseBundle
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
