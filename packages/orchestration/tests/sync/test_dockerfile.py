"""The agent image definition: small base, no Airflow, non-root, the agent as entry point."""

from __future__ import annotations

from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def test_agent_image_is_slim_non_root_and_runs_the_agent() -> None:
    text = DOCKERFILE.read_text()
    froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert froms and all(image.startswith("python:") and image.endswith("-slim") for image in froms)
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and not users[-1].startswith(("root", "0"))
    assert 'ENTRYPOINT ["airflow-dag-sync"]' in text
    assert "[airflow]" not in text and "apache-airflow" not in text


def test_agent_image_builds_from_what_the_distribution_needs() -> None:
    """`pip wheel .` needs every file pyproject.toml names (its readme) inside the build stage."""
    text = DOCKERFILE.read_text()
    copied = " ".join(line for line in text.splitlines() if line.startswith("COPY ") and "--from" not in line)
    for needed in ("pyproject.toml", "README.md", "src"):
        assert needed in copied


def test_agent_image_metrics_port_matches_the_helm_values() -> None:
    values = (DOCKERFILE.parents[2] / "infra/airflow/k8s/airflow-values.yaml").read_text()
    assert "DAGSYNC_METRICS_PORT=9108" in DOCKERFILE.read_text() and "--metrics-port=9108" in values
