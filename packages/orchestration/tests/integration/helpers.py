"""Helpers for tests against the real S3 server: run the CLI, snapshot a bucket, verify a release."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow_dag_publisher.cli.main import main

from devstack.dagfiles import write_kpo_dag


def write_dag(folder: Path, package: str, name: str, n: int = 0) -> Path:
    return write_kpo_dag(folder, package, name, image=f"registry.example.com/{package}:1.0.{n}")


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def snapshot(client: Any, bucket: str) -> list[tuple[str, str, str, bool]]:
    """Every object version and delete marker of the bucket, with the bytes' hash."""
    rows: list[tuple[str, str, str, bool]] = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            body = client.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
            rows.append((v["Key"], v["VersionId"], hashlib.sha256(body).hexdigest(), bool(v["IsLatest"])))
        for d in page.get("DeleteMarkers", []):
            rows.append((d["Key"], d["VersionId"], "<delete-marker>", bool(d["IsLatest"])))
    return sorted(rows)


def current_manifest(client: Any, bucket: str, env: str, package: str) -> dict[str, Any]:
    body = client.get_object(Bucket=bucket, Key=f"{env}/{package}/manifest.json")["Body"].read()
    return json.loads(body)  # type: ignore[no-any-return]


def assert_manifest_verifies(client: Any, bucket: str, manifest: dict[str, Any]) -> dict[str, bytes]:
    """Each pinned file version hashes to its sha256; returns path -> bytes."""
    files = {}
    for f in manifest["files"]:
        key = f"{manifest['env']}/{manifest['package']}/dags/{f['path']}"
        body = client.get_object(Bucket=bucket, Key=key, VersionId=f["version_id"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == f["sha256"], key
        assert len(body) == f["size"]
        files[f["path"]] = body
    return files
