"""The package, its image and its DAG agree: the image tag is the package version, the DAG's command
is a module of the package, and the image runs as a non-root user."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_the_image_tag_in_jobs_yaml_is_the_package_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    spec = yaml.safe_load((ROOT / "jobs.yaml").read_text())
    assert spec["image"] == f"registry.example.com/data/reporting-seeder:{version}"


def test_every_job_is_a_module_of_the_package() -> None:
    spec = yaml.safe_load((ROOT / "jobs.yaml").read_text())
    for job in spec["jobs"]:
        assert importlib.util.find_spec(f"reporting_seeder.jobs.{job['name']}") is not None


def test_the_dockerfile_builds_a_slim_non_root_image_of_the_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", dockerfile, re.MULTILINE)
    assert re.search(r"^USER 10001:10001$", dockerfile, re.MULTILINE)
    assert "RUN pip install ." in dockerfile
    assert 'CMD ["python", "-m", "reporting_seeder.jobs.refresh_all"]' in dockerfile
