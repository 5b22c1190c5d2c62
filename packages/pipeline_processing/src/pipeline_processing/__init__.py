"""Example package: job code run by the DAGs in airflow_dags/ (one pod per run, image pipeline-processing)."""

from __future__ import annotations

__version__ = "1.4.0"
