"""`airflow-dag-publisher generate`: KubernetesPodOperator DAG files from flags or from a jobs.yaml spec."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_dag_publisher import generator
from airflow_dag_publisher.cli import common, toolkit
from airflow_dag_publisher.errors import RefusedError, UsageError
from airflow_dag_publisher.generator.checks import TOLERATION_EFFECTS, check_job
from airflow_dag_publisher.generator.model import JobSpec
from airflow_dag_publisher.generator.render import TOOL, Origin
from airflow_dag_publisher.generator.spec import SpecError, read_spec
from airflow_dag_publisher.generator.yamlmarks import Path as FieldPath
from airflow_dag_publisher.names import check_package
from airflow_dag_publisher.output import emit_json, info, warn

# Flags describing one job: (flag, dest). Their values make the job's raw fields.
_SCALAR_FLAGS = (("--name", "name"), ("--schedule", "schedule"), ("--command", "command"),
                 ("--arguments", "arguments"),
                 ("--retries", "retries"), ("--retry-delay", "retry_delay"),
                 ("--execution-timeout", "execution_timeout"), ("--service-account", "service_account"),
                 ("--owner", "owner"), ("--description", "description"))
_RESOURCE_FLAGS = (("--cpu-request", "requests", "cpu"), ("--memory-request", "requests", "memory"),
                   ("--cpu-limit", "limits", "cpu"), ("--memory-limit", "limits", "memory"))
_PAIR_FLAGS = (("--env-var", "env"), ("--node-selector", "node_selector"), ("--label", "labels"))
_LIST_FLAGS = (("--tag", "tag"), ("--toleration", "toleration"))
_JOB_DESTS = tuple(dest for _flag, dest in (*_SCALAR_FLAGS, *_PAIR_FLAGS, *_LIST_FLAGS)) + tuple(
    flag.lstrip("-").replace("-", "_") for flag, _kind, _resource in _RESOURCE_FLAGS)
_FLAG_OF_FIELD = {dest: flag for flag, dest in (*_SCALAR_FLAGS, *_PAIR_FLAGS)} | {
    "image": "--image", "tags": "--tag", "tolerations": "--toleration"}


def register(sub: Any, environ: Mapping[str, str]) -> None:
    p = toolkit.command(
        sub, "generate", help="write KubernetesPodOperator DAG files from flags or a jobs.yaml spec",
        description="Render templates/kubernetes_pod_dag.py.j2 into <output-dir>/<package>_<name>.py, from flags "
        "(one job) or from --spec jobs.yaml (all jobs of a package). A generated file carries a content hash: "
        "generating again over a file edited by hand is refused unless --force.",
        examples=["--package orders_report --name daily_totals --image registry.example.com/data/orders-report:2.0.1 "
                  "--schedule '0 4 * * *' --output-dir airflow_dags",
                  "--spec packages/pipeline_processing/jobs.yaml --check",
                  "--spec packages/pipeline_processing/jobs.yaml --json"],
        exits={1: "refused: a file edited by hand (without --force), or with --check a file missing or out of date",
               2: "usage error: a bad flag, spec field or schedule (each named)", 3: ""})
    p.add_argument("--spec", help="jobs.yaml describing the package's jobs (instead of the job flags)")
    o = toolkit.Options(p, environ)
    common.add_package(o)
    common.add_image(o)
    p.add_argument("--output-dir", help="folder of the DAG files (default: airflow_dags beside the spec, "
                   "or ./airflow_dags)")
    p.add_argument("--force", action="store_true", help="overwrite files edited by hand or not generated")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if a file is missing or differs from what would be generated")
    common.add_json(o)
    job = p.add_argument_group("one job (without --spec)")
    job.add_argument("--name", help="job name: the DAG is <package>_<name>, the task <name>")
    job.add_argument("--schedule", help="what Airflow accepts: a cron expression (as Airflow parses it: L, #, ?), "
                     "a preset (@daily, @hourly, @once, @continuous, …) or none")
    job.add_argument("--command", help="the container's command, split like a shell "
                     "(default: python -m <package>.jobs.<name>)")
    job.add_argument("--arguments", metavar="ARGS", help="the command's arguments, split like a shell")
    job.add_argument("--env-var", dest="env", action="append", metavar="KEY=VALUE",
                     help="environment variable (repeat)")
    for flag, kind, resource in _RESOURCE_FLAGS:
        job.add_argument(flag, metavar="QUANTITY", help=f"{resource} {kind[:-1]}, a Kubernetes quantity")
    job.add_argument("--retries", type=toolkit.number(int, minimum=None), help="retries of a failed run (default 2)")
    job.add_argument("--retry-delay", metavar="DURATION", help="e.g. 30s, 5m (default 5m)")
    job.add_argument("--execution-timeout", metavar="DURATION", help="e.g. 1h30m or none (default 1h)")
    job.add_argument("--service-account", help="Kubernetes service account of the pod")
    job.add_argument("--node-selector", dest="node_selector", action="append", metavar="KEY=VALUE",
                     help="node label to match (repeat)")
    job.add_argument("--toleration", action="append", metavar="KEY[=VALUE][:EFFECT]",
                     help="tolerate a taint, kubectl syntax (repeat)")
    job.add_argument("--label", dest="labels", action="append", metavar="KEY=VALUE", help="pod label (repeat)")
    job.add_argument("--tag", action="append", help="DAG tag besides the package name (repeat)")
    job.add_argument("--owner", help="DAG owner (default: the package name)")
    job.add_argument("--description", help="DAG description")


def generate(*, spec: str | None, package: str | None, image: str | None, output_dir: str | None, force: bool,
             check: bool, job: Mapping[str, Any], as_json: bool = False) -> int:
    """`job`: the one-job flags given (dest -> value; `job_flags` reads them from the command line).
    With `as_json`: `{"output_dir", "files": [{"path", "action"}], "stale"}` on stdout (with --check,
    `"up_to_date": true`; a check that fails is a JSON error whose details are that document)."""
    if spec:
        specs, origins, folder, name = _from_spec(spec, package, image, output_dir, job)
    else:
        specs, origins, folder, name = _from_flags(package, image, output_dir, job)
    files = generator.render_all(specs, origins)
    existing = generator.read_existing(folder, [f.name for f in files])
    plan = generator.plan_writes(files, existing, str(folder), force=force)
    doc: dict[str, Any] = {"output_dir": str(folder),
                           "files": [{"path": str(folder / w.name), "action": w.action} for w in plan.writes]}
    if check:
        return _check(plan, folder, doc if as_json else None)
    generator.apply(plan, folder)
    stale = generator.stale_generated_files(folder, name, {f.name for f in files}) if spec else []
    doc["stale"] = [str(folder / f) for f in stale]
    if as_json:
        emit_json(doc)
        return 0
    for write in plan.writes:
        info(f"{write.action}: {folder / write.name}")
    for path in doc["stale"]:
        warn(f"{path} is a generated file no job of {spec} produces; delete it if the job was removed")
    return 0


def _check(plan: generator.WritePlan, output_dir: Path, doc: dict[str, Any] | None) -> int:
    stale = [f"{output_dir / w.name} would be {w.action}" for w in plan.writes if w.action != generator.UNCHANGED]
    problems = [*plan.refusals, *stale]
    if problems:
        error = RefusedError("generated files are not up to date:\n" + "\n".join(f"  {p}" for p in problems))
        error.details = None if doc is None else {**doc, "up_to_date": False, "problems": problems}
        raise error
    if doc is not None:
        emit_json({**doc, "up_to_date": True})
    else:
        info(f"{len(plan.writes)} generated file(s) up to date in {output_dir}")
    return 0


def job_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The one-job flags given on the command line: dest -> value (a flag not given is absent)."""
    parsed = vars(args)
    return {dest: parsed[dest] for dest in _JOB_DESTS if parsed[dest] is not None}


def _from_spec(spec: str, package: str | None, image: str | None, output_dir: str | None,
               flags: Mapping[str, Any]) -> tuple[list[JobSpec], dict[str, Origin], Path, str]:
    given = [flag for flag, dest in (*_SCALAR_FLAGS, *_PAIR_FLAGS, *_LIST_FLAGS) if dest in flags]
    given += [flag for flag, _kind, _resource in _RESOURCE_FLAGS if _resource_dest(flag) in flags]
    if given:
        raise UsageError(f"--spec cannot be combined with {', '.join(given)}: put job settings in the spec")
    spec_path = Path(spec)
    image_flag = image or None  # --image or IMAGE_TAG overrides the spec's image (CI generates with the image it built)
    read = read_spec(spec_path, package=check_package(package) if package else None, image=image_flag)
    folder = Path(output_dir) if output_dir else spec_path.parent / "airflow_dags"
    out_rel = os.path.relpath(folder.resolve(), spec_path.resolve().parent)
    command = (TOOL, "generate", "--spec", spec_path.name, "--output-dir", out_rel,
               *(("--image", image_flag) if image_flag else ()))
    origins = {
        job.name: Origin(description=f"{spec_path.name} (job {job.name})",
                         how_to_change=f"edit {spec_path.name} and run, in its folder", command=command)
        for job in read.jobs
    }
    return list(read.jobs), origins, folder, read.package


def _from_flags(package: str | None, image: str | None, output_dir: str | None,
                flags: Mapping[str, Any]) -> tuple[list[JobSpec], dict[str, Origin], Path, str]:
    name = check_package(package)
    job_name = flags.get("name")
    if not job_name:
        raise UsageError("--name is required (or use --spec jobs.yaml)")
    if not image:
        raise UsageError("--image is required (or set IMAGE_TAG)")
    raw = _raw_job(image, flags)
    spec, problems = check_job(raw, package=name)
    if problems or spec is None:
        raise SpecError("generate", [f"{_flag_name(p.path)}: {p.message}" for p in problems])
    command = (TOOL, "generate", "--package", name, *_canonical_flags(job_name, image, flags))
    origin = Origin(description="command-line flags", how_to_change="run again with other flags", command=command)
    return [spec], {spec.name: origin}, Path(output_dir or "airflow_dags"), name


def _resource_dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _raw_job(image: str, flags: Mapping[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {"image": image}
    for _flag, dest in _SCALAR_FLAGS:
        if dest in flags:
            raw[dest] = flags[dest]
    for flag, dest in _PAIR_FLAGS:
        if dest in flags:
            raw[dest] = dict(_key_value(flag, item) for item in flags[dest])
    if "tag" in flags:
        raw["tags"] = list(flags["tag"])
    if "toleration" in flags:
        raw["tolerations"] = [_toleration(item) for item in flags["toleration"]]
    resources: dict[str, dict[str, str]] = {}
    for flag, kind, resource in _RESOURCE_FLAGS:
        if _resource_dest(flag) in flags:
            resources.setdefault(kind, {})[resource] = flags[_resource_dest(flag)]
    if resources:
        raw["resources"] = resources
    return raw


def _canonical_flags(name: str, image: str, flags: Mapping[str, Any]) -> list[str]:
    """The job flags as given, in a fixed order: the command that regenerates the file."""
    out = ["--name", name, "--image", image]
    for flag, dest in _SCALAR_FLAGS[1:]:
        if dest in flags:
            out += [flag, str(flags[dest])]
    for flag, _kind, _resource in _RESOURCE_FLAGS:
        if _resource_dest(flag) in flags:
            out += [flag, flags[_resource_dest(flag)]]
    for flag, dest in (*_PAIR_FLAGS, *_LIST_FLAGS):
        for item in flags.get(dest) or ():
            out += [flag, item]
    return out


def _key_value(flag: str, item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise UsageError(f"{flag} {item!r}: expected KEY=VALUE")
    return key, value


def _toleration(item: str) -> dict[str, Any]:
    """kubectl taint syntax: `key=value:NoSchedule`, `key:NoExecute` (operator Exists), `key=value`."""
    body, sep, effect = item.rpartition(":")
    if not sep:
        body, effect = item, ""
    if effect and effect not in TOLERATION_EFFECTS:
        raise UsageError(f"--toleration {item!r}: effect {effect!r} is not one of {', '.join(TOLERATION_EFFECTS)}")
    key, eq, value = body.partition("=")
    toleration: dict[str, Any] = {"key": key or None, "operator": "Equal" if eq else "Exists"}
    if eq:
        toleration["value"] = value
    if effect:
        toleration["effect"] = effect
    return toleration


def _flag_name(path: FieldPath) -> str:
    """The flag a problem's field path stands for: ("resources", "limits", "memory") -> --memory-limit."""
    if path[:1] == ("resources",) and len(path) == 3:
        return f"--{path[2]}-{str(path[1])[:-1]}"
    flag = _FLAG_OF_FIELD.get(str(path[0]), f"--{str(path[0]).replace('_', '-')}") if path else "generate"
    if len(path) > 1 and path[0] in ("env", "node_selector", "labels"):
        return f"{flag} {path[1]}"
    if len(path) > 1 and path[0] in ("tags", "tolerations"):
        return f"{flag} #{int(path[1]) + 1}"
    return flag
