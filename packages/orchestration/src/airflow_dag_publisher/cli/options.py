"""Shared command-line options: every option falls back to its environment variable (CLI contract)."""

from __future__ import annotations

import argparse
import os

ENV_FALLBACKS = {
    "env": "ENVIRONMENT",
    "package": "PACKAGE_NAME",
    "bucket": "DAG_BUCKET",
    "image": "IMAGE_TAG",
    "source": "DAG_SOURCE_DIR",
}


def _default(dest: str, fallback: str | None = None) -> str | None:
    return os.environ.get(ENV_FALLBACKS[dest]) or fallback


def add_env(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default=_default("env"), help="environment, e.g. dev (env: ENVIRONMENT)")


def add_package(p: argparse.ArgumentParser) -> None:
    p.add_argument("--package", default=_default("package"), help="package name (env: PACKAGE_NAME)")


def add_bucket(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bucket", default=_default("bucket"), help="S3 bucket of DAGs (env: DAG_BUCKET)")


def add_image(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", default=_default("image"), help="the package's container image (env: IMAGE_TAG)")


def add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", default=_default("source", "airflow_dags"),
                   help="folder of DAG files (env: DAG_SOURCE_DIR; default: airflow_dags)")


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout, nothing else")
