"""The reliability suite's figures: each scenario records one line ("40 publishers killed, 1,200
folder samples, 0 torn"); the terminal summary prints every line of this run.

Under xdist a passing test's output is hidden and the controller never imports a conftest below
`tests/`, so scenarios append their lines to `test-artifacts/reliability-figures.txt` (tagged with
the run id) and this module, loaded as a plugin by the root conftest (`pytest_plugins`) or by
`tests/reliability/conftest.py`, prints them from whichever process owns the terminal.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

FIGURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "reliability-figures.txt"
RUN_ENV = "RELIABILITY_RUN_ID"
_PRINTED = pytest.StashKey[bool]()


def soak() -> bool:
    return os.environ.get("RELIABILITY_SOAK", "").strip().lower() in ("1", "true", "yes", "on")


def scale() -> int:
    """How many times the short form's counts a run does: RELIABILITY_SCALE, else 10 under soak."""
    raw = os.environ.get("RELIABILITY_SCALE", "").strip()
    if raw:
        return max(1, int(raw))
    return 10 if soak() else 1


def run_id() -> str:
    return os.environ.get(RUN_ENV) or os.environ.get("PYTEST_XDIST_TESTRUNUID") or "local"


def record(scenario: str, text: str) -> None:
    """Add one scenario's figures to this run's summary (also printed, for `-s` and `-rA`)."""
    line = f"reliability: {scenario}: {text}"
    print(line)
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with open(FIGURES, "a", encoding="utf-8") as fh:  # one short write per line: O_APPEND keeps lines whole
        fh.write(json.dumps({"run": run_id(), "line": line}) + "\n")


def lines(run: str) -> list[str]:
    try:
        raw = FIGURES.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for row in raw:
        try:
            item = json.loads(row)
        except ValueError:
            continue
        if item.get("run") == run:
            out.append(str(item["line"]))
    return sorted(out)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: the controller chose the run id
        return
    if not os.environ.get(RUN_ENV):
        os.environ[RUN_ENV] = uuid.uuid4().hex  # inherited by xdist workers, spawned after configure


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or config.stash.get(_PRINTED, False):
        return
    config.stash[_PRINTED] = True
    found = lines(run_id())
    if not found:
        return
    terminalreporter.section("reliability figures")
    for line in found:
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(also in {FIGURES})")
