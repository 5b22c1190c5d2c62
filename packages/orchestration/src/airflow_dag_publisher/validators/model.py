"""The validator's results: one `Finding` per problem, gathered in a `ValidationReport`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ERROR = "error"
WARNING = "warning"

# `Finding.file` for problems that belong to no single file (the validator's own situation).
NO_FILE = ""


@dataclass(frozen=True)
class Finding:
    file: str
    rule: str
    severity: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "rule": self.rule, "severity": self.severity, "message": self.message}


@dataclass
class ValidationReport:
    package: str
    files: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    dag_ids: dict[str, list[str]] = field(default_factory=dict)  # file -> dag_ids it defines
    dynamic_skipped: str | None = None  # why the Airflow parse did not run, or None if it ran
    parse_seconds: dict[str, float] = field(default_factory=dict)  # file -> Airflow parse time
    airflow_version: str | None = None
    packages_file: str | None = None  # the package list the cluster policy's rules read, if one was found
    # file -> (dag_id, task_id, image) of its KubernetesPodOperator tasks, as Airflow built them (as the
    # text says them when the Airflow parse did not judge the file: dag_id "" and image None if computed)
    images: dict[str, list[tuple[str, str, str | None]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    @property
    def all_dag_ids(self) -> list[str]:
        return sorted({d for ids in self.dag_ids.values() for d in ids})

    @property
    def job_images(self) -> list[str]:
        """Every distinct image the release's KubernetesPodOperator tasks run (known ones)."""
        return sorted({image for tasks in self.images.values() for _d, _t, image in tasks if image})

    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def findings_for(self, file: str) -> list[Finding]:
        return [f for f in self.findings if f.file == file]

    def bad_files(self) -> list[str]:
        """Files with at least one error, in report order."""
        return sorted({f.file for f in self.errors() if f.file != NO_FILE})

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "package": self.package,
            "files": list(self.files),
            "findings": [f.to_dict() for f in self.findings],
            "dag_ids": {file: list(ids) for file, ids in sorted(self.dag_ids.items())},
            "images": {file: [{"dag_id": d, "task_id": t, "image": i} for d, t, i in tasks]
                       for file, tasks in sorted(self.images.items())},
            "cluster_policy": {"packages_file": self.packages_file},
            "dynamic": {
                "ran": self.dynamic_skipped is None,
                "skipped_reason": self.dynamic_skipped,
                "airflow_version": self.airflow_version,
                "parse_seconds": {k: round(v, 3) for k, v in sorted(self.parse_seconds.items())},
            },
        }
