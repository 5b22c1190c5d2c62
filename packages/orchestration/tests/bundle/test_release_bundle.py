"""`ReleaseBundle` as Airflow 3.3 drives it: configured by `dag_bundle_config_list` (what
`python -m airflow_dag_publisher.bundle config` prints) and obtained through Airflow's own
`DagBundlesManager`. The dag-processor's side reads the sync agent's link (one readlink per refresh,
no S3 request); a task's side materialises a version (tests/bundle/test_materialise.py covers the
sources, this file the Airflow contract)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_dag_publisher.bundle.config import BundleSettings, bundle_config_list, to_json
from airflow_dag_publisher.manifest import FileEntry, ReleaseManifest
from airflow_dag_publisher.sync.releases import Layout

REPO = Path(__file__).resolve().parents[4]
ENV = "dev"


@pytest.fixture
def airflow_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Airflow's settings for this test, read by Airflow at each access (environment variables)."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow-home"))
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH", str(tmp_path / "bundles"))
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return tmp_path


def configure(monkeypatch: pytest.MonkeyPatch, dags: Path, packages: list[str]) -> list[dict[str, Any]]:
    config = bundle_config_list(packages, BundleSettings(env=ENV, bucket="acme-dags", dags_dir=str(dags)))
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", to_json(config))
    return config


def agent_release(layout: Layout, package: str, release_id: str, files: dict[str, bytes]) -> None:
    """A release as the agent lays it out (sync/releases.py), then swapped in."""
    root = layout.release_path(package, release_id)
    (root / package).mkdir(parents=True)
    for path, data in files.items():
        (root / package / path).write_bytes(data)
    entries = tuple(FileEntry(p, hashlib.sha256(d).hexdigest(), len(d), "v") for p, d in files.items())
    manifest = ReleaseManifest(env=ENV, package=package, release_id=release_id, created_at="2026-01-01T00:00:00Z",
                               files=entries)
    (root / "manifest.json").write_bytes(manifest.to_json())
    layout.swap(package, release_id)


@pytest.fixture
def layout(airflow_env: Path) -> Iterator[Layout]:
    layout = Layout(airflow_env / "node" / "dags")
    layout.prepare()
    yield layout
    layout.unlock()


R1, R2 = "20260101T000000Z-000000000001", "20260102T000000Z-000000000002"


def test_the_dag_processors_bundle_is_the_agents_current_release_read_with_one_readlink(
        layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    configure(monkeypatch, layout.dags_dir, ["alpha", "beta"])
    agent_release(layout, "alpha", R1, {"alpha_dag.py": b"x = 1\n"})
    bundle = DagBundlesManager().get_bundle("alpha")
    assert type(bundle).__name__ == "ReleaseBundle" and bundle.supports_versioning
    bundle.initialize()
    assert bundle.get_current_version().version == R1
    assert bundle.path == layout.release_path("alpha", R1).resolve()
    assert sorted(os.listdir(bundle.path)) == ["alpha", "manifest.json"]

    calls: list[str] = []
    real = os.readlink
    monkeypatch.setattr(os, "readlink", lambda p, *a, **k: calls.append(str(p)) or real(p, *a, **k))
    agent_release(layout, "alpha", R2, {"alpha_dag.py": b"x = 2\n"})
    calls.clear()
    assert bundle.get_current_version().version == R1  # what the last refresh read: files and version together
    bundle.refresh()
    assert calls == [str(layout.dags_dir / "alpha")]
    assert bundle.get_current_version().version == R2 and bundle.path.name == R2
    assert (bundle.path / "alpha" / "alpha_dag.py").read_bytes() == b"x = 2\n"
    bundle.refresh()
    assert len(calls) == 2  # each refresh: one readlink, nothing else (no S3 client was even made)

    unsynced = DagBundlesManager().get_bundle("beta")
    unsynced.initialize()
    assert unsynced.get_current_version() is None and unsynced.path.is_dir() and not os.listdir(unsynced.path)


def test_a_link_that_is_not_the_agents_layout_serves_no_release(layout: Layout, monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    from airflow_dag_publisher.bundle import ReleaseBundle

    folder = layout.dags_dir.parent / "elsewhere"
    folder.mkdir()
    os.symlink(folder, layout.dags_dir / "alpha")
    bundle = ReleaseBundle(name="alpha", bucket="acme-dags", env=ENV, dags_dir=str(layout.dags_dir))
    bundle.initialize()
    assert bundle.get_current_version() is None
    assert "is not a release of the sync agent's layout" in caplog.text


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "Alpha"}, "name is its package's"),
    ({"version": "../../etc"}, "is not a release id"),
    ({"env": "PROD"}, "is not an environment name"),
    ({"bucket": "no"}, "is not an S3 bucket name"),
])
def test_bad_configuration_is_refused_naming_it(airflow_env: Path, kwargs: dict[str, str], message: str) -> None:
    from airflow_dag_publisher.bundle import ReleaseBundle

    args: dict[str, Any] = {"name": "alpha", "bucket": "acme-dags", "env": ENV, "dags_dir": "/nowhere", **kwargs}
    with pytest.raises(ValueError, match=message):
        ReleaseBundle(**args)


def test_a_task_gets_its_version_through_airflows_manager_and_an_unknown_one_fails_in_one_line(
        layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    """`DagBundlesManager().get_bundle(name, version).initialize()`, what Airflow's task runner calls:
    the agent on this node holds R1, so it is copied from there; a release nobody has fails naming the
    package, the release and why, and the version's folder does not exist."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow_dag_publisher.bundle.materialise import ReleaseUnavailableError

    configure(monkeypatch, layout.dags_dir, ["alpha"])
    data = b"x = 1\n"
    agent_release(layout, "alpha", R1, {"alpha_dag.py": data})
    bundle = DagBundlesManager().get_bundle("alpha", version=R1)
    leftover = Path(bundle.versions_dir) / ".staging" / "alpha-killed"  # a task killed mid-build
    leftover.mkdir(parents=True)
    bundle.initialize()
    assert not leftover.exists()
    assert bundle.path.parent == Path(bundle.versions_dir) and bundle.path.name == R1
    assert (bundle.path / "alpha" / "alpha_dag.py").read_bytes() == data
    assert bundle.get_current_version().version == R1

    missing = DagBundlesManager().get_bundle("alpha", version=R2)
    with pytest.raises(ReleaseUnavailableError) as caught:
        missing.initialize()
    assert str(caught.value).startswith(f"package alpha, release {R2}: ") and "\n" not in str(caught.value)
    assert not missing.path.exists()
    with pytest.raises(ReleaseUnavailableError, match="only the unversioned bundle refreshes"):
        bundle.refresh()


def test_the_config_command_prints_what_airflow_parses(tmp_path: Path) -> None:
    """The documented command; Airflow's own parser of `dag_bundle_config_list` accepts its output."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow_dag_publisher.bundle", "config", "--packages-file",
         str(REPO / "infra" / "airflow" / "packages.yaml"), "--env", "dev", "--bucket", "acme-dags",
         "--dags-dir", "/opt/airflow/dags", "--trust-file", "/etc/airflow-dag-sync/trust.yaml",
         "--require-signatures", "--refresh-interval", "5"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    assert [b["name"] for b in config] == ["pipeline_processing", "reporting_seeder"]
    assert config[0] == {"name": "pipeline_processing", "classpath": "airflow_dag_publisher.bundle.ReleaseBundle",
                         "kwargs": {"bucket": "acme-dags", "env": "dev", "dags_dir": "/opt/airflow/dags",
                                    "trust_file": "/etc/airflow-dag-sync/trust.yaml", "require_signatures": True,
                                    "refresh_interval": 5}}
    from airflow.dag_processing.bundles.manager import _parse_bundle_config

    assert [c.name for c in _parse_bundle_config(config)] == ["pipeline_processing", "reporting_seeder"]


@pytest.mark.parametrize(("args", "message"), [
    (["--env", "Dev"], "--env 'Dev' is not a valid environment name"),
    (["--bucket", "x"], "--bucket 'x' is not a valid S3 bucket name"),
    (["--dags-dir", "dags"], "--dags-dir 'dags' must be an absolute path"),
    (["--packages-file", "/nonexistent.yaml"], "/nonexistent.yaml: cannot read the package list"),
])
def test_the_config_command_refuses_bad_options_with_exit_2(args: list[str], message: str) -> None:
    base = {"--packages-file": str(REPO / "infra" / "airflow" / "packages.yaml"), "--env": "dev",
            "--bucket": "acme-dags", "--dags-dir": "/opt/airflow/dags"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = [x for pair in base.items() for x in pair]
    done = subprocess.run([sys.executable, "-m", "airflow_dag_publisher.bundle", "config", *argv],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
