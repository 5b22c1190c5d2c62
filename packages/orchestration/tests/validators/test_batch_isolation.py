"""The Airflow parse judges the files of a batch one after the other in one forked child: what a file
leaves behind (modules of the DAGs folder, sys.path, environment, working directory, signal
handlers) must not reach the next file, and a file that ends its child or overruns fails alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_dag_publisher.validators import ERROR, validate_source

from devstack.dagfiles import kpo_dag

LEAKS = '''import os
import signal
import sys

sys.path.insert(0, "/nonexistent-acme-path")
os.environ["ACME_LEAKED"] = "1"
os.chdir("/")
signal.signal(signal.SIGALRM, signal.SIG_IGN)
'''
CHECKS = '''import os
import signal
import sys

if os.environ.get("ACME_LEAKED") or "/nonexistent-acme-path" in sys.path or os.getcwd() == "/":
    raise RuntimeError("state of an earlier file leaked into this one")
if signal.getsignal(signal.SIGALRM) == signal.SIG_IGN:
    raise RuntimeError("an earlier file's signal handler leaked into this one")
'''
COUNTS = '''import os

with open(os.environ["ACME_IMPORT_LOG"], "a") as log:
    log.write("loaded\\n")
VALUE = 1
'''


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def errors(report: object, file: str) -> list[str]:
    return [f"{f.rule}: {f.message}" for f in report.findings_for(file) if f.severity == ERROR]  # type: ignore[attr-defined]


def test_a_file_of_a_batch_does_not_see_what_the_files_before_it_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "imports.log"
    monkeypatch.setenv("ACME_IMPORT_LOG", str(log))
    source = tmp_path / "src"
    source.mkdir()
    write(source, {
        "acme_a_leaks.py": kpo_dag("acme", "a_leaks", preamble=LEAKS),
        "acme_b_checks.py": kpo_dag("acme", "b_checks", preamble=CHECKS),
        "acme_c_helper.py": kpo_dag("acme", "c_helper", preamble="from acme.helpers import VALUE\n"),
        "acme_d_helper.py": kpo_dag("acme", "d_helper", preamble="from acme.helpers import VALUE\n"),
        "helpers.py": COUNTS,
    })
    report = validate_source(source, "acme", timeout=5, workers=1, ruff=False)  # one child: one batch
    assert report.dynamic_skipped is None
    for file in ("acme_a_leaks.py", "acme_b_checks.py", "acme_c_helper.py", "acme_d_helper.py", "helpers.py"):
        assert errors(report, file) == [], (file, errors(report, file))
    # helpers.py was imported afresh by each file that imports it (Airflow does not import helpers.py
    # for its own parse: in safe mode, a file that mentions neither "dag" nor "airflow" is skipped)
    assert log.read_text().splitlines() == ["loaded"] * 2


def test_a_file_that_ends_its_child_or_overruns_fails_alone(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    write(source, {
        "acme_a_good.py": kpo_dag("acme", "a_good"),
        "acme_b_exits.py": kpo_dag("acme", "b_exits", preamble="import os\n\nos._exit(3)\n"),
        "acme_c_hangs.py": kpo_dag("acme", "c_hangs", preamble="import signal\n\nsignal.signal(signal.SIGALRM, "
                                   "signal.SIG_IGN)\nwhile True:\n    pass\n"),
        "acme_d_good.py": kpo_dag("acme", "d_good"),
    })
    report = validate_source(source, "acme", timeout=1.0, workers=1, ruff=False)
    assert errors(report, "acme_a_good.py") == [] and errors(report, "acme_d_good.py") == []
    assert [e.split(":")[0] for e in errors(report, "acme_b_exits.py")] == ["worker-died"]
    assert [e.split(":")[0] for e in errors(report, "acme_c_hangs.py")] == ["timeout"]
