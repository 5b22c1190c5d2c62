"""Publish a package exactly as its CI does: run the `before_script` and `script` of the
`.dag_publish_template` job from `.gitlab/ci/dag-publish-template.yml` (resolving `extends` and
`!reference`), in one bash script with `set -eo pipefail` as the GitLab runner does, with the
template's variables and the CI variables a package sets. The demo never re-types the commands,
so it cannot drift from the template."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack.demo_procs import stop_groups

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / ".gitlab" / "ci" / "dag-publish-template.yml"
PUBLISH_JOB = ".dag_publish_template"


class TemplateError(Exception):
    pass


@dataclass(frozen=True)
class Reference:
    path: tuple[str, ...]


class _Loader(yaml.SafeLoader):
    pass


def _reference(loader: yaml.SafeLoader, node: yaml.Node) -> Reference:
    assert isinstance(node, yaml.SequenceNode)
    return Reference(tuple(str(loader.construct_scalar(n)) for n in node.value))  # type: ignore[arg-type]


_Loader.add_constructor("!reference", _reference)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read the CI template {path}: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: expected a mapping of jobs")
    return data


def _job(doc: dict[str, Any], name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A job with its `extends` chain merged (GitLab merges mappings key by key, deep)."""
    if name in seen or name not in doc:
        raise TemplateError(f"CI template: job {name!r} is missing or extends itself")
    job = doc[name]
    parents = job.get("extends", [])
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = _deep_merge(merged, _job(doc, parent, (*seen, name)))
    return _deep_merge(merged, {k: v for k, v in job.items() if k != "extends"})


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _lines(doc: dict[str, Any], items: Any) -> list[str]:
    out: list[str] = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, Reference):
            target: Any = doc
            for key in item.path:
                target = target[key]
            out.extend(_lines(doc, target))
        elif isinstance(item, list):
            out.extend(_lines(doc, item))
        elif item is not None:
            out.append(str(item))
    return out


def publish_script(doc: dict[str, Any] | None = None) -> tuple[str, dict[str, str]]:
    """The publish job's shell script and its variables, as the template defines them."""
    doc = doc if doc is not None else load_template()
    job = _job(doc, PUBLISH_JOB)
    entries = _lines(doc, job.get("before_script", [])) + _lines(doc, job.get("script", []))
    if not entries:
        raise TemplateError(f"CI template: {PUBLISH_JOB} has no script")
    # Top-level variables are the template's defaults; a job's own variables rank above them.
    variables = {**_variables(doc.get("variables")), **_variables(job.get("variables"))}
    return "set -eo pipefail\n" + "\n".join(entries) + "\n", variables


def _variables(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v.get("value", "") if isinstance(v, dict) else v) for k, v in raw.items()}


@dataclass
class CiRun:
    package: str
    returncode: int
    seconds: float
    log_path: Path

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def summary(self) -> str:
        """The job's own verification line (`dag-publish: verified: …`), else its last line."""
        text = self.log_path.read_text(errors="replace").splitlines()
        verified = [line for line in text if line.startswith("dag-publish: verified:")]
        return (verified or text or [""])[-1]


def run_publish_job(*, package: str, source_dir: Path, image: str, env_name: str, bucket: str,
                    base_env: Mapping[str, str], work_dir: Path, timeout: float = 600,
                    on_start: Callable[[int], None] | None = None, signing_key: Path | None = None,
                    spec: Path | None = None, packages_file: Path | None = None) -> CiRun:
    """Run the template's publish job for one package in `work_dir` (its artifacts land there);
    with `signing_key` (a PEM private key), the job signs the release (DAG_SIGNING_KEY=file:PATH);
    with `spec` (DAG_SPEC), the job generates the DAG files from it with IMAGE_TAG into `source_dir` and
    publishes the spec with them; `packages_file` is the platform's list (DAG_PACKAGES_FILE)."""
    script, variables = publish_script()
    env = dict(base_env)
    env.update(variables)
    env.update({
        "ENVIRONMENT": env_name, "PACKAGE_NAME": package, "IMAGE_TAG": image, "DAG_BUCKET": bucket,
        "DAG_SOURCE_DIR": str(source_dir),
        # The publisher is installed in the demo's .venv (first on PATH) instead of by pip.
        "DAG_PUBLISHER_INSTALL": "skip",
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{base_env.get('PATH', os.defpath)}",
    })
    if signing_key is not None:
        env["DAG_SIGNING_KEY"] = f"file:{signing_key}"
    if spec is not None:
        env["DAG_SPEC"] = str(spec)
    if packages_file is not None:
        env["DAG_PACKAGES_FILE"] = str(packages_file)
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / "job.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["bash", "-c", script], cwd=work_dir, env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        if on_start is not None:
            on_start(proc.pid)
        try:
            code = proc.wait(timeout=timeout)
        except BaseException as exc:  # timeout or Ctrl-C: stop the whole job, then report
            stop_groups({"publish-job": proc.pid}, timeout=5)
            proc.wait()
            if not isinstance(exc, subprocess.TimeoutExpired):
                raise
            log.write(f"\ndemo: the publish job did not finish within {timeout:.0f} s\n".encode())
            code = 124
    return CiRun(package, code, time.monotonic() - started, log_path)
