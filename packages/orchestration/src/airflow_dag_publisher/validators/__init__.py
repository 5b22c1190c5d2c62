"""DAG validation. `validate_source` is the one entry point used by `validate` and `publish`.

(Interim version: compiles each .py file and finds dag_id literals statically. The full validator
— conventions plus a real Airflow parse — replaces the internals, keeping this interface.)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ERROR = "error"
WARNING = "warning"


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
    dynamic_skipped: str | None = None

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    @property
    def all_dag_ids(self) -> list[str]:
        return sorted({d for ids in self.dag_ids.values() for d in ids})

    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]


def python_files(source: Path) -> list[str]:
    return sorted(
        p.relative_to(source).as_posix()
        for p in source.rglob("*.py")
        if "__pycache__" not in p.parts and p.is_file()
    )


def validate_source(source: Path, package: str, *, dynamic: bool = True, require_airflow: bool = False,
                    other_packages: set[str] | None = None) -> ValidationReport:
    report = ValidationReport(package=package, files=python_files(source))
    for rel in report.files:
        text = (source / rel).read_bytes()
        try:
            tree = ast.parse(text, filename=rel)
        except SyntaxError as exc:
            report.findings.append(Finding(rel, "syntax", ERROR, f"line {exc.lineno}: {exc.msg}"))
            continue
        ids = _literal_dag_ids(tree)
        if ids:
            report.dag_ids[rel] = ids
        for dag_id in ids:
            if not dag_id.startswith(f"{package}_"):
                report.findings.append(Finding(rel, "dag-id-prefix", ERROR,
                                               f"dag_id {dag_id!r} does not start with {package + '_'!r}"))
    report.dynamic_skipped = "interim validator: static checks only"
    return report


def _literal_dag_ids(tree: ast.AST) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in ("DAG", "dag"):
                for kw in node.keywords:
                    if kw.arg == "dag_id" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                        found.append(kw.value.value)
                if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    found.append(node.args[0].value)
    return sorted(set(found))
