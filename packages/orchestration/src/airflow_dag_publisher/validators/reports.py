"""The report in three formats: text for people, JSON per the CLI contract, JUnit XML for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from airflow_dag_publisher.validators.model import ERROR, NO_FILE, ValidationReport

FORMATS = ("text", "json", "junit")


def summary_line(report: ValidationReport) -> str:
    errors, warnings = len(report.errors()), len(report.warnings())
    verdict = "OK" if report.ok else "FAILED"
    dynamic = "Airflow parse: " + ("ran" if report.dynamic_skipped is None else f"skipped ({report.dynamic_skipped})")
    return (f"{verdict}: package {report.package!r}, {len(report.files)} file(s), {len(report.bad_files())} with "
            f"errors, {errors} error(s), {warnings} warning(s), {len(report.all_dag_ids)} dag_id(s); {dynamic}")


def to_text(report: ValidationReport) -> str:
    lines = []
    for finding in report.findings:
        where = finding.file or "(validator)"
        lines.append(f"{where}: {finding.severity}: [{finding.rule}] {finding.message}")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def to_json(report: ValidationReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def to_junit(report: ValidationReport) -> str:
    """One testcase per file; errors become a <failure>, warnings go to <system-out>. Findings that
    belong to no file (e.g. the dynamic layer was skipped) get a testcase of their own."""
    suite = ET.Element("testsuite", name=f"airflow-dag-validate.{report.package}")
    names = list(report.files)
    if any(f.file == NO_FILE for f in report.findings):
        names.append(NO_FILE)
    failures = 0
    for name in names:
        findings = report.findings_for(name)
        case = ET.SubElement(suite, "testcase", classname=f"dags.{report.package}", name=name or "(validator)",
                             file=name, time=f"{report.parse_seconds.get(name, 0.0):.3f}")
        errors = [f for f in findings if f.severity == ERROR]
        if errors:
            failures += 1
            failure = ET.SubElement(case, "failure", type=errors[0].rule,
                                    message=f"{len(errors)} error(s): " + "; ".join(e.rule for e in errors))
            failure.text = "\n".join(f"[{f.rule}] {f.message}" for f in errors)
        others = [f for f in findings if f.severity != ERROR]
        if others:
            ET.SubElement(case, "system-out").text = "\n".join(f"{f.severity}: [{f.rule}] {f.message}" for f in others)
    suite.set("tests", str(len(names)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    root = ET.Element("testsuites", name="airflow-dag-validate", tests=str(len(names)), failures=str(failures))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def render(report: ValidationReport, fmt: str) -> str:
    renderers = {"text": to_text, "json": to_json, "junit": to_junit}
    return renderers[fmt](report)
