"""A platform callback for the cluster policy's cases (airflow_cases.py): allow-listed by reference
(`allowed_callbacks: [platform_callbacks.notify]`), unlike any function of a package's own file."""

from __future__ import annotations

from typing import Any


def notify(context: Any) -> None:
    return None
