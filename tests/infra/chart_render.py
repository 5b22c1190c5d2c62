"""The official Airflow chart rendered offline, as `deploy_airflow.sh` would install it.

The chart is the vendored copy (infra/airflow/third_party/airflow-chart-<version>/, unmodified), rendered
by Helm's own engine in-process (the PyPI package helm-python-sdk: no helm binary, no cluster). The
values are exactly those of the script's `helm upgrade --install` command line: `deploy_airflow.sh
--dry-run` prints it, and `helm_command` reads its `-f` files and `--set-string` expressions back, so a
test judges what the script would send, not a second list of files kept here.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
import yaml

from tests.infra.infra_helpers import INFRA, K8S, SCRIPTS

CHART_VERSION = "1.18.0"
CHART = INFRA / "third_party" / f"airflow-chart-{CHART_VERSION}"
RELEASE = "airflow"
NAMESPACE = "airflow"
ENVS = sorted(p.name for p in (K8S / "envs").iterdir() if p.is_dir())
# Values files an environment may add to the release (deploy_airflow.sh --values FILE): the variants the
# tests render besides the shipped LocalExecutor.
VARIANTS: dict[str, tuple[Path, ...]] = {"local": (), "kubernetes": (K8S / "kubernetes-executor-values.yaml",)}
HOOK_ANNOTATION = "helm.sh/hook"


@dataclass(frozen=True)
class HelmCommand:
    """What `deploy_airflow.sh --dry-run ... install` prints for its `helm upgrade --install`."""

    argv: tuple[str, ...]
    values_files: tuple[Path, ...]
    set_strings: tuple[str, ...]
    release: str
    namespace: str
    chart_version: str
    flags: frozenset[str]


def deploy_dry_run(env: str, command: str = "install", *extra: str, script: Path = SCRIPTS / "deploy_airflow.sh",
                   environ: dict[str, str] | None = None) -> str:
    proc = subprocess.run(["bash", str(script), "--dry-run", "--env", env, *extra, command], capture_output=True,
                          text=True, timeout=60, check=False, env=environ or dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def helm_command(output: str) -> HelmCommand:
    """The `helm upgrade` line of a dry run, parsed."""
    lines = [line[2:] for line in output.splitlines() if line.startswith("+ ") and " upgrade " in line]
    assert len(lines) == 1, output
    argv = tuple(shlex.split(lines[0]))
    files: list[Path] = []
    sets: list[str] = []
    flags: set[str] = set()
    positional: list[str] = []
    options: dict[str, str] = {}
    i = 2  # helm upgrade
    while i < len(argv):
        arg = argv[i]
        if arg in ("-f", "--values"):
            files.append(Path(argv[i + 1]))
            i += 2
        elif arg == "--set-string":
            sets.append(argv[i + 1])
            i += 2
        elif arg in ("--namespace", "--version", "--timeout"):
            options[arg] = argv[i + 1]
            i += 2
        elif arg.startswith("--"):
            assert arg not in ("--set", "--set-file", "--set-json"), f"{arg}: not modelled by this helper"
            flags.add(arg)
            i += 1
        else:
            positional.append(arg)
            i += 1
    release, _chart = positional
    return HelmCommand(argv, tuple(files), tuple(sets), release, options["--namespace"], options["--version"],
                       frozenset(flags))


def merge(into: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of `-f` files: maps merge, everything else replaces (nulls are kept: the chart's
    coalescing then deletes the chart default they name, as `helm install` does)."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value
    return into


def user_values(cmd: HelmCommand) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path in cmd.values_files:
        merge(values, yaml.safe_load(path.read_text()) or {})
    for expression in cmd.set_strings:
        merge(values, helm_python.parse_set_string_values(expression))
    return values


@dataclass(frozen=True)
class Rendered:
    """One rendered object and where it comes from."""

    template: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.obj["metadata"].get("annotations") or {})

    @property
    def hooks(self) -> frozenset[str]:
        """The Helm hook events this object runs at (empty: part of the release's manifest)."""
        text = self.annotations.get(HOOK_ANNOTATION, "")
        return frozenset(h.strip() for h in text.split(",") if h.strip())

    @property
    def hook_weight(self) -> int:
        return int(self.annotations.get("helm.sh/hook-weight", "0"))


@dataclass
class Release:
    env: str
    variant: str
    command: HelmCommand
    values: dict[str, Any]
    objects: list[Rendered] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # every rendered template, NOTES.txt included

    def find(self, kind: str, name: str) -> Rendered | None:
        return next((r for r in self.objects if r.kind == kind and r.name == name), None)

    def of_kind(self, *kinds: str) -> list[Rendered]:
        return [r for r in self.objects if r.kind in kinds]


@functools.cache
def chart() -> helm_python.Chart:
    loaded = helm_python.Chart.load(CHART)
    assert loaded.version == CHART_VERSION, loaded.version
    return loaded


def render_values(values: dict[str, Any], *, upgrade: bool = False, revision: int | None = None
                  ) -> tuple[list[Rendered], dict[str, str]]:
    files = chart().render(values, name=RELEASE, namespace=NAMESPACE, is_install=not upgrade, is_upgrade=upgrade,
                           revision=revision or (2 if upgrade else 1))
    objects = [Rendered(template, doc) for template, text in sorted(files.items()) if template.endswith(".yaml")
               for doc in yaml.safe_load_all(text) if doc]
    return objects, files


@functools.cache
def _release(env: str, variant: str, command: str) -> Release:
    extra: list[str] = []
    for path in VARIANTS[variant]:
        extra += ["--values", str(path)]
    cmd = helm_command(deploy_dry_run(env, command, *extra))
    values = user_values(cmd)
    objects, files = render_values(values, upgrade=command == "upgrade")
    return Release(env, variant, cmd, values, objects, files)


def release(env: str, variant: str = "local", command: str = "install") -> Release:
    """The release deploy_airflow.sh would install (or upgrade to) in `env`; cached per process."""
    return _release(env, variant, command)


def pod_templates(rel: Release) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, pod metadata, pod spec) of every pod the release can start: workloads, Jobs, and the
    KubernetesExecutor's worker pod template (a file in a ConfigMap)."""
    for r in rel.objects:
        if r.kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            template = r.obj["spec"]["template"]
            yield f"{r.kind}/{r.name}", template.get("metadata") or {}, template["spec"]
        elif r.kind == "CronJob":
            template = r.obj["spec"]["jobTemplate"]["spec"]["template"]
            yield f"{r.kind}/{r.name}", template.get("metadata") or {}, template["spec"]
        elif r.kind == "Pod":
            yield f"Pod/{r.name}", r.obj["metadata"], r.obj["spec"]
        elif r.kind == "ConfigMap":
            for key, text in (r.obj.get("data") or {}).items():
                if key.endswith("pod_template_file.yaml"):
                    pod = yaml.safe_load(text)
                    yield f"ConfigMap/{r.name}:{key}", pod.get("metadata") or {}, pod["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def json_copy(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def kubectl_lines(texts: Sequence[str]) -> list[str]:
    """Every `kubectl ...` command line of the given texts (continuation lines joined)."""
    found = []
    for text in texts:
        joined = re.sub(r"\\\n\s*", " ", text)
        for line in joined.splitlines():
            at = line.find("kubectl ")
            while at != -1:
                found.append(line[at:])
                at = line.find("kubectl ", at + 1)
    return found
