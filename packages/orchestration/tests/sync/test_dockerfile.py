"""The agent image definition, read as Docker reads it (no engine here): a base pinned by digest, no
Airflow, the dependencies exactly from the committed lock (which is current), non-root, the version
label from the package metadata, the agent as entry point."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from devstack import agent_lock

DISTRIBUTION = Path(__file__).resolve().parents[2]
DOCKERFILE = DISTRIBUTION / "Dockerfile"
ROOT = DISTRIBUTION.parents[1]
DIGEST_PINNED = re.compile(r"^python:3\.11-slim@sha256:[0-9a-f]{64}$")


def instructions(text: str | None = None) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (text if text is not None else DOCKERFILE.read_text()).splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, args in instructions():
        if keyword == "FROM":
            result.append([])
        result[-1].append((keyword, args))
    return result


def run_commands(stage: list[tuple[str, str]]) -> list[list[str]]:
    commands = []
    for keyword, args in stage:
        if keyword == "RUN":
            commands += [shlex.split(c) for c in re.split(r"\s&&\s", args)]
    return commands


def test_every_stage_starts_from_python_slim_pinned_by_one_digest() -> None:
    froms = [args.split()[0] for keyword, args in instructions() if keyword == "FROM"]
    assert len(froms) == 2
    assert all(DIGEST_PINNED.match(image) for image in froms), froms
    assert len(set(froms)) == 1, "both stages must use the same base digest"
    digest = froms[0].split("@")[1]
    labels = " ".join(args for keyword, args in instructions() if keyword == "LABEL")
    assert f'org.opencontainers.image.base.digest="{digest}"' in labels


def test_the_instruction_reader_joins_continuations_and_drops_comments() -> None:
    text = "# c\nFROM a AS b\nRUN x \\\n    && y\n\n# d\nUSER 1\n"
    assert instructions(text) == [("FROM", "a AS b"), ("RUN", "x  && y"), ("USER", "1")]


def test_agent_image_is_non_root_and_runs_the_agent() -> None:
    users = [args for keyword, args in instructions() if keyword == "USER"]
    assert users and users[-1] == "50000:0"
    values = yaml.safe_load((ROOT / "infra/airflow/k8s/airflow-values.yaml").read_text())
    init = values["scheduler"]["extraInitContainers"][0]["securityContext"]
    assert (init["runAsUser"], init["runAsGroup"]) == (50000, 0)  # what Kubernetes enforces agrees
    assert ("ENTRYPOINT", '["airflow-dag-sync"]') in instructions()
    text = DOCKERFILE.read_text()
    assert "[airflow]" not in text and "apache-airflow" not in text


def test_runtime_installs_exactly_the_lock_then_the_wheel_of_its_version() -> None:
    build, runtime = stages()
    copied = [args for keyword, args in runtime if keyword == "COPY"]
    assert "requirements-agent.lock /tmp/requirements-agent.lock" in copied
    pips = [c for c in run_commands(runtime) if c[:4] == ["python", "-m", "pip", "install"]]
    assert pips == [
        ["python", "-m", "pip", "install", "--no-deps", "-r", "/tmp/requirements-agent.lock"],
        ["python", "-m", "pip", "install", "--no-deps",
         "/wheels/airflow_dag_publisher-${AGENT_VERSION}-py3-none-any.whl"],
    ]
    assert ["python", "-m", "pip", "check"] in run_commands(runtime)
    assert ["test", "-n", "${AGENT_VERSION}"] in run_commands(runtime)
    # the build stage: the locked backend, then a wheel without resolution or isolation
    build_cmds = run_commands(build)
    assert ["python", "-m", "pip", "install", "--no-deps", "-r", "requirements-agent-build.lock"] in build_cmds
    assert ["python", "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", "/wheels", "."] \
        in build_cmds
    for cmd in build_cmds + run_commands(runtime):  # nothing else is installed by name
        if cmd[:4] == ["python", "-m", "pip", "install"]:
            assert "--no-deps" in cmd and ("-r" in cmd or cmd[-1].endswith(".whl")), cmd


def test_version_label_is_the_package_metadata_version() -> None:
    labels = " ".join(args for keyword, args in instructions() if keyword == "LABEL")
    assert 'org.opencontainers.image.version="${AGENT_VERSION}"' in labels
    assert ("ARG", "AGENT_VERSION") in stages()[1]
    # the wheel the runtime installs is named by the version setuptools takes from the source
    init = (DISTRIBUTION / "src" / "airflow_dag_publisher" / "__init__.py").read_text()
    version = re.search(r'^__version__ = "([^"]+)"$', init, re.M)
    assert version
    pyproject = tomllib.loads((DISTRIBUTION / "pyproject.toml").read_text())
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "airflow_dag_publisher.__version__"}
    pipeline = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())
    script = "\n".join(pipeline["agent-image"]["script"])
    assert '--build-arg "AGENT_VERSION=${AGENT_VERSION}"' in script


def test_agent_image_builds_from_what_the_distribution_needs() -> None:
    """`pip wheel .` needs every file pyproject.toml names (its readme) inside the build stage."""
    build, _ = stages()
    copied = " ".join(args for keyword, args in build if keyword == "COPY")
    for needed in ("pyproject.toml", "README.md", "src", "requirements-agent-build.lock"):
        assert needed in copied
    ignored = (DISTRIBUTION / ".dockerignore").read_text()
    assert "tests/" in ignored and "**/__pycache__" in ignored


def test_the_lock_files_are_what_the_repository_lock_gives() -> None:
    proc = subprocess.run([sys.executable, "-m", "devstack.agent_lock", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path, text in agent_lock.render().items():
        assert path.read_text() == text, f"{path.name} is stale: run `make agent-lock`"


def test_the_runtime_lock_covers_the_distribution_and_pins_the_repository_versions() -> None:
    locked = agent_lock.dev_lock_versions()
    pins = dict(line.split("==") for line in agent_lock.RUNTIME_LOCK.read_text().splitlines()
                if line and not line.startswith("#"))
    pyproject = tomllib.loads((DISTRIBUTION / "pyproject.toml").read_text())
    for dependency in pyproject["project"]["dependencies"]:
        req = Requirement(dependency)
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} is a dependency but not in the agent lock"
        assert req.specifier.contains(pins[name]), (name, pins[name], str(req.specifier))
    assert all(locked[name] == version for name, version in pins.items())
    assert not {"apache-airflow", "apache-airflow-core"} & set(pins)


def test_a_stale_lock_fails_the_check_and_the_command_rewrites_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    files = agent_lock.render()
    runtime, build = tmp_path / "requirements-agent.lock", tmp_path / "requirements-agent-build.lock"
    runtime.write_text(files[agent_lock.RUNTIME_LOCK].replace("boto3==", "boto3==0.0.0+"))
    build.write_text(files[agent_lock.BUILD_LOCK])
    monkeypatch.setattr(agent_lock, "ROOT", tmp_path)
    monkeypatch.setattr(agent_lock, "RUNTIME_LOCK", runtime)
    monkeypatch.setattr(agent_lock, "BUILD_LOCK", build)

    assert agent_lock.main(["--check"]) == 1
    assert "requirements-agent.lock is stale: run `make agent-lock`" in capsys.readouterr().err
    assert agent_lock.main([]) == 0
    assert agent_lock.main(["--check"]) == 0
    assert "boto3==0.0.0" not in runtime.read_text()


def test_agent_image_metrics_port_matches_the_helm_values() -> None:
    values = (ROOT / "infra/airflow/k8s/airflow-values.yaml").read_text()
    assert "DAGSYNC_METRICS_PORT=9108" in DOCKERFILE.read_text() and "--metrics-port=9108" in values


def test_the_airflow_image_is_stock_airflow_plus_the_bundle_at_the_helm_values_versions() -> None:
    """Every Airflow process imports the DAG bundle class: the Helm values' image is the official
    Airflow of their airflowVersion with this distribution's wheel (Dockerfile.airflow), tagged with
    both versions, and the build fails unless the bundle imports there."""
    import yaml
    from airflow_dag_publisher import __version__

    text = (DISTRIBUTION / "Dockerfile.airflow").read_text()
    values = yaml.safe_load((DISTRIBUTION.parents[1] / "infra" / "airflow" / "k8s" / "airflow-values.yaml").read_text())
    assert f"ARG AIRFLOW_IMAGE=apache/airflow:{values['airflowVersion']}\n" in text
    assert "FROM ${AIRFLOW_IMAGE}\n" in text
    assert 'pip install --no-deps "/tmp/wheels/airflow_dag_publisher-${AGENT_VERSION}-py3-none-any.whl"' in text
    assert 'python -c "import airflow_dag_publisher.bundle.release"' in text
    assert values["defaultAirflowRepository"] == "registry.example.com/platform/airflow"
    assert values["defaultAirflowTag"] == f"{values['airflowVersion']}-dagpub-{__version__}"
    build = next(line for line in text.splitlines() if line.startswith("#     -t "))
    assert f"{values['defaultAirflowRepository']}:{values['defaultAirflowTag']}" in build
