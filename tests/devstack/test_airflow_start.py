"""devstack.airflow: an Airflow component that exits while the stack waits for it is reported at
once with the end of its log (the reason), and its environment holds none of the caller's AWS
settings."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from devstack.airflow import AirflowStack
from tests.devstack.aws_user import USER_SETTINGS, aws_user_env

pytestmark = pytest.mark.slow


def test_a_component_that_exits_is_reported_with_the_end_of_its_log(tmp_path: Path) -> None:
    stack = AirflowStack(tmp_path / "home", tmp_path / "dags", components=("dag-processor --no-such-flag",))
    stack.log_dir.mkdir(parents=True)
    stack.db_path.touch()          # no migration: the component fails on its arguments first
    try:
        stack.start()
        started = time.monotonic()
        with pytest.raises(RuntimeError) as failure:
            stack.wait_for(lambda: False, timeout=120)
        elapsed = time.monotonic() - started
    finally:
        stack.stop()
    message = str(failure.value)
    assert elapsed < 60, f"reported after {elapsed:.0f} s: {message}"
    assert "python -m airflow_dag_publisher.dag_processor --no-such-flag exited with 2" in message
    assert "unrecognized arguments: --no-such-flag" in message


def test_components_get_none_of_the_callers_aws_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in aws_user_env(tmp_path / "home", {}).items():
        monkeypatch.setenv(key, value)
    env = AirflowStack(tmp_path / "airflow", tmp_path / "dags").env()
    assert not set(USER_SETTINGS) & set(env)
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == "/dev/null"


def test_dag_processors_run_as_the_helm_values_run_them(tmp_path: Path) -> None:
    """The values' dagProcessor.args run the fleet manager; a local stack runs the same, unless told not to
    (the fleet bench's stock peer)."""
    from devstack.airflow import SHIPPED_FLEET_MANAGER, airflow_binary

    assert SHIPPED_FLEET_MANAGER
    stack = AirflowStack(tmp_path / "home", tmp_path / "dags")
    assert stack.argv("dag-processor --bundle-name alpha") == [
        sys.executable, "-m", "airflow_dag_publisher.dag_processor", "--bundle-name", "alpha"]
    assert stack.argv("scheduler") == [airflow_binary(), "scheduler"]
    stock = AirflowStack(tmp_path / "home", tmp_path / "dags", fleet_manager=False)
    assert stock.argv("dag-processor") == [airflow_binary(), "dag-processor"]
