"""The bundles' configuration, from the package list: Airflow's `[dag_processor] dag_bundle_config_list`
(one `ReleaseBundle` per package) and its copy in each environment's Helm values.

    python -m airflow_dag_publisher.bundle config --packages-file FILE --env ENV --bucket BUCKET --dags-dir DIR
        [--state-dir DIR] [--trust-file PATH] [--require-signatures] [--refresh-interval SECONDS]
    python -m airflow_dag_publisher.bundle helm-values [--check]     (`make bundles`)

`config` prints the JSON value. `helm-values` rewrites the generated block of every
`infra/airflow/k8s/envs/<env>/values.yaml` from `infra/airflow/packages.yaml` and that environment's agent
settings (`dag-sync-values.yaml`: bucket, environment, trust file), with the agent's paths in the pods;
`--check` exits 1 while a copy is stale. Onboarding a package stays one entry in the package list: the
copies are regenerated from it, and the deploy that carries them restarts the Airflow pods (the
configuration is read at start).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.names import BUCKET_RE, ENV_RE, PACKAGE_RE

CLASSPATH = "airflow_dag_publisher.bundle.ReleaseBundle"
K8S_DIR = Path("infra") / "airflow" / "k8s"
# Where the Helm values mount the agent's folders and its trust file in every Airflow container.
POD_DAGS_DIR = "/opt/airflow/dags"
POD_STATE_DIR = "/opt/airflow/dags-state"
AGENT_CONFIGMAP = "airflow-dag-sync"
TRUST_CONFIGMAP = "airflow-dag-sync-trust"  # its data also holds DAGSYNC_REQUIRE_SIGNATURES
BEGIN = "# BEGIN generated DAG bundles: `make bundles` writes this block; do not edit it by hand."
END = "# END generated DAG bundles"
COMMENT = f"""\
{BEGIN}
# Airflow's [dag_processor] dag_bundle_config_list: one versioned bundle per package of
# infra/airflow/packages.yaml (airflow_dag_publisher.bundle.ReleaseBundle, bundle name = package name,
# version = release id), with this environment's bucket, environment and trust settings from
# dag-sync-values.yaml and dag-sync-trust-values.yaml: `python -m airflow_dag_publisher.bundle
# helm-values` (`make bundles`).
"""


@dataclass(frozen=True)
class BundleSettings:
    """What every bundle of an environment shares: the agent's settings on the node."""

    env: str
    bucket: str
    dags_dir: str
    state_dir: str | None = None
    trust_file: str | None = None
    require_signatures: bool = False
    refresh_interval: int | None = None  # None: Airflow's [dag_processor] refresh_interval

    def check(self) -> None:
        if not ENV_RE.match(self.env):
            raise UsageError(f"--env {self.env!r} is not a valid environment name (expected {ENV_RE.pattern})")
        if not BUCKET_RE.match(self.bucket) or ".." in self.bucket:
            raise UsageError(f"--bucket {self.bucket!r} is not a valid S3 bucket name")
        for option, value in (("--dags-dir", self.dags_dir), ("--state-dir", self.state_dir)):
            if value is not None and not value.startswith("/"):
                raise UsageError(f"{option} {value!r} must be an absolute path (every Airflow process reads it)")
        if self.refresh_interval is not None and self.refresh_interval < 1:
            raise UsageError("--refresh-interval must be at least 1 second")


def bundle_config_list(packages: Iterable[str], settings: BundleSettings) -> list[dict[str, Any]]:
    """`dag_bundle_config_list`: one ReleaseBundle per package, in name order."""
    settings.check()
    kwargs: dict[str, Any] = {"bucket": settings.bucket, "env": settings.env, "dags_dir": settings.dags_dir}
    if settings.state_dir:
        kwargs["state_dir"] = settings.state_dir
    if settings.trust_file:
        kwargs["trust_file"] = settings.trust_file
    if settings.require_signatures:
        kwargs["require_signatures"] = True
    if settings.refresh_interval is not None:
        kwargs["refresh_interval"] = settings.refresh_interval
    names = sorted(set(packages))
    bad = [p for p in names if not PACKAGE_RE.match(p)]
    if bad:
        raise UsageError(f"not package names: {', '.join(map(repr, bad))}")
    return [{"name": p, "classpath": CLASSPATH, "kwargs": dict(kwargs)} for p in names]


def to_json(config_list: list[dict[str, Any]]) -> str:
    """The value Airflow reads (one line: airflow.cfg has one line per option)."""
    return json.dumps(config_list, separators=(", ", ": "))


# -- the Helm values' copies --------------------------------------------------------------------------
def configmap_data(values_file: Path, name: str) -> dict[str, str]:
    """The data of the ConfigMap `name` that a values file adds to the release (extraConfigMaps)."""
    try:
        doc = yaml.safe_load(values_file.read_text(encoding="utf-8")) or {}
        data = yaml.safe_load(doc["extraConfigMaps"][name]["data"]) or {}
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise UsageError(f"{values_file}: cannot read extraConfigMaps.{name}.data: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{values_file}: extraConfigMaps.{name}.data is not KEY: value lines")
    return {str(k): str(v) for k, v in data.items()}


def agent_settings(env_dir: Path) -> dict[str, str]:
    """The agent's DAGSYNC_* settings of an environment: its ConfigMap (dag-sync-values.yaml) and its
    trust ConfigMap (dag-sync-trust-values.yaml: DAGSYNC_REQUIRE_SIGNATURES), as the agent reads them."""
    settings = configmap_data(env_dir / "dag-sync-values.yaml", AGENT_CONFIGMAP)
    trust = env_dir / "dag-sync-trust-values.yaml"
    if trust.is_file():
        settings.update({k: v for k, v in configmap_data(trust, TRUST_CONFIGMAP).items() if k.startswith("DAGSYNC_")})
    return settings


def pod_settings(agent: Mapping[str, str], where: str) -> BundleSettings:
    """The bundles' settings in the Airflow pods: the agent's bucket, environment and trust, its folders."""
    try:
        return BundleSettings(env=agent["DAGSYNC_ENV"], bucket=agent["DAGSYNC_BUCKET"], dags_dir=POD_DAGS_DIR,
                              state_dir=POD_STATE_DIR, trust_file=agent.get("DAGSYNC_TRUST_FILE") or None,
                              require_signatures=agent.get("DAGSYNC_REQUIRE_SIGNATURES", "").lower()
                              in ("1", "true", "yes", "on"))
    except KeyError as exc:
        raise UsageError(f"{where}: the agent's settings lack {exc.args[0]}") from None


def values_block(config_list: list[dict[str, Any]]) -> str:
    doc = {"config": {"dag_processor": {"dag_bundle_config_list": to_json(config_list)}}}
    return COMMENT + yaml.safe_dump(doc, width=72, sort_keys=False) + END + "\n"


def with_block(values_text: str, block: str, where: str) -> str:
    """The values text with its generated block replaced (or appended), everything else unchanged."""
    lines = values_text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == END]
    if not starts and not ends:
        return values_text.rstrip("\n") + "\n" + block
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise UsageError(f"{where}: a broken generated DAG bundles block (BEGIN/END markers)")
    return "".join(lines[: starts[0]]) + block + "".join(lines[ends[0] + 1:])


def environments(k8s_dir: Path) -> list[str]:
    return sorted(p.name for p in (k8s_dir / "envs").iterdir() if (p / "dag-sync-values.yaml").is_file())


def wanted_values(k8s_dir: Path, packages: Iterable[str]) -> dict[Path, tuple[str, str]]:
    """values.yaml of each environment -> (its text now, its text with a fresh generated block)."""
    names = list(packages)
    out: dict[Path, tuple[str, str]] = {}
    for env in environments(k8s_dir):
        folder = k8s_dir / "envs" / env
        settings = pod_settings(agent_settings(folder), str(folder / "dag-sync-values.yaml"))
        if settings.env != env:
            raise UsageError(f"{folder / 'dag-sync-values.yaml'}: DAGSYNC_ENV is {settings.env!r}, not {env!r}")
        values = folder / "values.yaml"
        try:
            current = values.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{values}: {exc.strerror or exc}") from None
        out[values] = (current, with_block(current, values_block(bundle_config_list(names, settings)), str(values)))
    return out
