"""`list` and `history` tables fit the terminal with real image names: ids and times are never cut, an
image is elided in its middle, dag_ids wrap, a terminal too narrow gets one block per row; never a
misaligned column. The real processes, with COLUMNS and in a tmux pane."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from airflow_dag_publisher.output import Column, table

from devstack.dagfiles import write_kpo_dag

BIN = Path(sys.executable).parent
IMAGES = {"pipeline_processing": "registry.example.com/data-platform/batch/pipeline-processing:2026.11.27-3f2a9c1b7d0e",
          "reporting_seeder": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/reporting/reporting-seeder:2.1.0"}


def starts(header: str, names: list[str]) -> list[int]:
    return [header.index(name) for name in names]


def check_aligned(lines: list[str], headers: list[str], width: int) -> None:
    """Every line fits, and every cell starts where its header does (a space before it)."""
    assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]
    positions = starts(lines[0], headers)
    for line in lines[1:]:
        for pos in positions[1:]:
            assert line[pos - 2:pos] == "  " or len(line) <= pos - 2 or line[:pos].strip() == "", (pos, line)


def test_table_narrows_elides_and_wraps_then_falls_back_to_blocks() -> None:
    columns = (Column("ID"), Column("IMAGE", minimum=12, elide=True), Column("DAG_IDS", minimum=10, items=True))
    rows = [["r1", "registry.example.com/team/image:1.2.3", "team_a_dag, team_b_dag, team_c_dag"]]
    assert table(columns, rows, None) == [  # a pipe: nothing cut
        "ID  IMAGE                                  DAG_IDS",
        "r1  registry.example.com/team/image:1.2.3  team_a_dag, team_b_dag, team_c_dag"]
    assert table(columns, rows, 40) == [
        "ID  IMAGE              DAG_IDS",
        "r1  registry…ge:1.2.3  team_a_dag,",
        "                       team_b_dag,",
        "                       team_c_dag"]
    assert table(columns, rows, 28) == [  # too narrow for the table: a block per row, nothing cut
        "r1",
        "  image    registry.example.",
        "           com/team/",
        "           image:1.2.3",
        "  dag_ids  team_a_dag,",
        "           team_b_dag,",
        "           team_c_dag"]


@pytest.fixture
def published(tmp_path: Path, bucket: str, s3_env: dict[str, str]) -> str:
    for package, image in IMAGES.items():
        src = tmp_path / package
        write_kpo_dag(src, package, "example_job", image=image)
        write_kpo_dag(src, package, "second_job_with_a_long_name", image=image)
        done = subprocess.run([str(BIN / "airflow-dag-publisher"), "publish", "--env", "dev", "--bucket", bucket,
                               "--package", package, "--source", str(src), "--skip-dynamic-validation",
                               "--image", image], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    return bucket


def run(*argv: str, columns: int) -> list[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([str(BIN / "airflow-dag-publisher"), *argv], env=env, capture_output=True, text=True,
                          timeout=60, check=True).stdout.splitlines()


@pytest.mark.parametrize("columns", [80, 120, 180, 250])
def test_list_and_history_fit_the_width_and_stay_aligned(published: str, columns: int) -> None:
    listed = run("list", "--env", "dev", "--bucket", published, columns=columns)
    history = run("history", "--env", "dev", "--bucket", published, "--package", "reporting_seeder", columns=columns)
    print("\n" + "\n".join([*listed, "", *history]))
    assert all(len(line) <= columns for line in listed + history)
    text = " ".join(line.strip() for line in listed)
    for package in IMAGES:
        assert f"{package}_example_job" in text and f"{package}_second_job_with_a_long_name" in text  # never cut
    if columns >= 180:  # a table
        check_aligned(listed, ["PACKAGE", "RELEASE", "PUBLISHED", "IMAGE", "DAG_IDS"], columns)
        check_aligned(history, ["RELEASE", "PUBLISHED", "FILES", "BY", "IMAGE", "SIGNED BY"], columns)
        assert (IMAGES["reporting_seeder"] in text) == (columns == 250) and ("…" in text) == (columns == 180)
    else:  # one block per package, every value whole
        assert listed[0] == "pipeline_processing" and listed[1].startswith("  release    ")
        image = listed[3:listed.index(next(line for line in listed if line.startswith("  dag_ids")))]
        assert "".join(line.strip() for line in image) == f"image      {IMAGES['pipeline_processing']}"


def test_a_tmux_pane_of_80_columns_shows_every_line_whole(published: str, tmp_path: Path) -> None:
    """A real terminal (no COLUMNS): nothing the pane had to wrap itself, nothing cut but the image's middle."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is missing: run `make system-tools`")
    socket = f"t28-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "done"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
    command = (f"{BIN / 'airflow-dag-publisher'} list --env dev --bucket {published}; "
               f"{BIN / 'airflow-dag-publisher'} history --env dev --bucket {published} --package reporting_seeder; "
               f"touch {out}; sleep 60")
    subprocess.run(["tmux", "-L", socket, "new-session", "-d", "-x", "80", "-y", "60", command], env=env, check=True,
                   timeout=30)
    try:
        deadline = time.monotonic() + 60
        while not out.exists():
            assert time.monotonic() < deadline, "the commands did not finish in the tmux pane"
            time.sleep(0.2)
        shown = subprocess.run(["tmux", "-L", socket, "capture-pane", "-p", "-J"], capture_output=True, text=True,
                               timeout=30, check=True).stdout.rstrip("\n").splitlines()
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=30, check=False)
    print("\n" + "\n".join(shown))
    lines = [line.rstrip() for line in shown if line.strip()]
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]  # -J: joined wraps
    assert lines[:2] == ["pipeline_processing", lines[1]] and lines[1].startswith("  release    20")
    assert lines == run("list", "--env", "dev", "--bucket", published, columns=80) + run(
        "history", "--env", "dev", "--bucket", published, "--package", "reporting_seeder", columns=80)
