"""Example package: job code run by the DAGs in airflow_dags/ (one pod per run, image reporting-seeder)."""

from __future__ import annotations

__version__ = "2.1.0"
