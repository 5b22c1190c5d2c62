"""jobs.yaml: one package's jobs, loaded with line numbers and checked field by field.

```yaml
package: pipeline_processing
image: registry.example.com/data/pipeline-processing:1.4.0   # default image of every job
defaults:              # optional: any job field; mappings merge, other values are replaced
  retries: 2
jobs:
  - name: example_job
    schedule: "0 3 * * *"
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

import yaml

from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.files import read_text
from airflow_dag_publisher.generator.checks import JOB_FIELDS, Problem, check_job, unknown_key_message
from airflow_dag_publisher.generator.model import JobSpec
from airflow_dag_publisher.generator.yamlmarks import LoadedYaml, Path, load_yaml
from airflow_dag_publisher.names import PACKAGE_RE

TOP_FIELDS = ("package", "image", "defaults", "jobs")
MAX_JOBS = 500
MAX_SPEC_BYTES = 1_000_000


class SpecError(UsageError):
    """A spec (or the flags standing for one) with bad fields: one line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"{source}: {count}:\n" + "\n".join(f"  {p}" for p in problems))


@dataclass(frozen=True)
class Spec:
    package: str
    jobs: tuple[JobSpec, ...]


def dotted(path: Path) -> str:
    """("jobs", 2, "resources", "limits") -> "jobs[2].resources.limits"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def read_spec(spec_path: FsPath, *, package: str | None = None, image: str | None = None) -> Spec:
    """Load and check a jobs.yaml file. `package` and `image` come from flags or the environment."""
    text = read_text(spec_path, max_bytes=MAX_SPEC_BYTES, what=f"spec {spec_path}")
    return parse_spec(text, str(spec_path), package=package, image=image)


def parse_spec(text: str, source: str, *, package: str | None = None, image: str | None = None) -> Spec:
    try:
        loaded = load_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise UsageError(f"{where}: not valid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"{source}: not valid YAML: {exc}") from exc
    problems: list[Problem] = [Problem(path, "duplicate key") for path, _line in loaded.duplicates]
    spec = _check_document(loaded.data, problems, package=package, image=image)
    if problems:
        raise SpecError(source, _format(problems, loaded, source))
    assert spec is not None
    return spec


def _format(problems: list[Problem], loaded: LoadedYaml, source: str) -> list[str]:
    """One message per problem, in the order of the file's lines."""
    out: list[str] = []
    for problem in sorted(problems, key=lambda p: loaded.line_of(p.path) or 0):
        line = loaded.line_of(problem.path)
        where = f"{source}:{line}" if line is not None else source
        field = f"{dotted(problem.path)}: " if problem.path else ""
        message = f"{where}: {field}{problem.message}"
        if message not in out:  # a bad default is reported once, not once per job
            out.append(message)
    return out


def _check_document(data: Any, problems: list[Problem], *, package: str | None, image: str | None) -> Spec | None:
    if not isinstance(data, Mapping):
        problems.append(Problem((), "expected a mapping with package, image, defaults and jobs"))
        return None
    for key in data:
        if key not in TOP_FIELDS:
            problems.append(Problem((str(key),), unknown_key_message(str(key), TOP_FIELDS)))
    spec_package = _package(data, problems, package)
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        problems.append(Problem(("defaults",), f"expected a mapping of job fields, got {type(defaults).__name__}"))
        defaults = {}
    for key in defaults:
        if key == "name":
            problems.append(Problem(("defaults", "name"), "a default name makes no sense: every job needs its own"))
        elif key not in JOB_FIELDS:
            problems.append(Problem(("defaults", str(key)), unknown_key_message(str(key), JOB_FIELDS)))
    base, origin = _base(data, defaults, problems, image)
    jobs = data.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        problems.append(Problem(("jobs",), "required: a list with at least one job"))
        return None
    if len(jobs) > MAX_JOBS:
        problems.append(Problem(("jobs",), f"more than {MAX_JOBS} jobs"))
        return None
    specs: list[JobSpec] = []
    names: dict[str, int] = {}
    for index, job in enumerate(jobs):
        if not isinstance(job, Mapping):
            problems.append(Problem(("jobs", index), f"expected a mapping of job fields, got {type(job).__name__}"))
            continue
        merged, job_origin = _merge(base, origin, job, ("jobs", index))
        spec, job_problems = check_job(merged, package=spec_package or "package")
        problems.extend(Problem(_source_path(p.path, job_origin), p.message) for p in job_problems)
        if spec is None:
            continue
        if spec.name in names:
            message = f"{spec.name!r} is also the name of jobs[{names[spec.name]}]"
            problems.append(Problem(("jobs", index, "name"), message))
            continue
        names[spec.name] = index
        specs.append(spec)
    if spec_package is None or problems:
        return None
    return Spec(package=spec_package, jobs=tuple(specs))


def _package(data: Mapping[str, Any], problems: list[Problem], flag: str | None) -> str | None:
    value = data.get("package")
    if value is None:
        value = flag
        if value is None:
            problems.append(Problem(("package",), "required (or pass --package / set PACKAGE_NAME)"))
            return None
    elif flag is not None and flag != value:
        problems.append(Problem(("package",), f"{value!r} differs from --package/PACKAGE_NAME {flag!r}"))
    if not isinstance(value, str) or not PACKAGE_RE.match(value):
        problems.append(Problem(("package",), f"{value!r} is not a valid package name (expected {PACKAGE_RE.pattern})"))
        return None
    return value


def _base(data: Mapping[str, Any], defaults: Mapping[str, Any], problems: list[Problem],
          image: str | None) -> tuple[dict[str, Any], dict[Path, Path]]:
    """The values every job starts from, and where each came from (for messages)."""
    base: dict[str, Any] = {k: v for k, v in defaults.items() if k in JOB_FIELDS and k != "name"}
    origin: dict[Path, Path] = {(k,): ("defaults", k) for k in base}
    if data.get("image") is not None:
        if "image" in base:
            problems.append(Problem(("defaults", "image"), "set the image once: top-level image or defaults.image"))
        base["image"], origin[("image",)] = data["image"], ("image",)
    if image:  # --image / IMAGE_TAG wins over the spec: CI generates with the image it just built
        base["image"], origin[("image",)] = image, ("image",)
    return base, origin


def _merge(base: Mapping[str, Any], origin: dict[Path, Path], job: Mapping[str, Any],
           job_path: Path) -> tuple[dict[str, Any], dict[Path, Path]]:
    """Defaults overlaid by a job: mappings merge one level deep (resources two), other values are replaced."""
    merged = dict(base)
    job_origin = dict(origin)
    for key, value in job.items():
        path = (str(key),)
        previous = merged.get(key)
        if isinstance(value, Mapping) and isinstance(previous, Mapping):
            inner = dict(previous)
            for inner_key, inner_value in value.items():
                old = inner.get(inner_key)
                if key == "resources" and isinstance(inner_value, Mapping) and isinstance(old, Mapping):
                    inner[inner_key] = {**old, **inner_value}
                    for leaf in inner_value:
                        job_origin[(*path, inner_key, leaf)] = (*job_path, *path, inner_key, leaf)
                else:
                    inner[inner_key] = inner_value
                    job_origin[(*path, inner_key)] = (*job_path, *path, inner_key)
            merged[key] = inner
        else:
            merged[key] = value
            job_origin = {p: o for p, o in job_origin.items() if p[:1] != path}
            job_origin[path] = (*job_path, *path)
    job_origin.setdefault((), job_path)
    return merged, job_origin


def _source_path(path: Path, job_origin: dict[Path, Path]) -> Path:
    """Where a problem at `path` of the merged job comes from: the longest known prefix, then the rest."""
    for end in range(len(path), -1, -1):
        if path[:end] in job_origin:
            return (*job_origin[path[:end]], *path[end:])
    return path
