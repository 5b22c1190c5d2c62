"""Self-service DAG delivery for Apache Airflow on Kubernetes: publish, validate, sync."""

from __future__ import annotations

__version__ = "0.1.0"
