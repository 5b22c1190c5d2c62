"""End to end: a real Airflow 3 dag-processor creates generated DAGs active (no one unpauses them),
and one whose job says `paused: true` paused, whatever `[core] dags_are_paused_at_creation` says;
a DAG that does not say is_paused_upon_creation follows that setting, which the shipped Helm values
(devstack.airflow.SHIPPED_CONFIG) set to False."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from devstack.airflow import SHIPPED_CONFIG, AirflowStack
from packages.orchestration.tests.generator.support import run_cli
from packages.orchestration.tests.integration.helpers import write_dag

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SETTING = "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"
JOBS = """\
package: acme
image: registry.example.com/acme/jobs:1.0.0
jobs:
  - name: live
    schedule: "@daily"
  - name: held
    schedule: "@daily"
    paused: true
"""


def paused_flags(db: Path) -> dict[str, bool]:
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {dag_id: bool(paused) for dag_id, paused in conn.execute("SELECT dag_id, is_paused FROM dag")}
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def test_the_shipped_configuration_creates_dags_active() -> None:
    assert SHIPPED_CONFIG[SETTING] == "False"


@pytest.mark.parametrize("setting", ["False", "True"])
def test_airflow_creates_generated_dags_active_unless_their_job_says_paused(
        setting: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "acme" / "jobs.yaml"
    spec.parent.mkdir()
    spec.write_text(JOBS)
    dags = tmp_path / "dags"
    code, _, err = run_cli(["generate", "--spec", str(spec), "--output-dir", str(dags / "acme")], capsys)
    assert code == 0, err
    write_dag(dags / "acme", "acme", "plain")  # hand-written, says nothing
    expected = {"acme_live": False, "acme_held": True, "acme_plain": setting == "True"}
    with AirflowStack(tmp_path / "home", dags, config={SETTING: setting}) as airflow:
        airflow.wait_for_dags(set(expected), timeout=120)
        airflow.wait_for(lambda: set(expected) <= set(paused_flags(airflow.db_path)), timeout=30)
        assert paused_flags(airflow.db_path) == expected
        assert airflow.import_errors() == []
