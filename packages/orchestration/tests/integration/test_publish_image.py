"""The image a job runs is the image its CI built: `publish --image` (IMAGE_TAG) refuses a release whose
KubernetesPodOperator tasks run another image, and `history`/`list` show the image the jobs run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.dagfiles import kpo_dag
from devstack.seaweedfs import SeaweedFS

from .helpers import cli, snapshot, write_dag

pytestmark = pytest.mark.usefixtures("s3_env")
BUILT = "registry.example.com/alpha:2.0.0"


def publish(capsys: pytest.CaptureFixture[str], bucket: str, source: Path, *extra: str):  # type: ignore[no-untyped-def]
    return cli(capsys, "publish", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--source", str(source),
               "--json", *extra)


def test_an_image_tag_the_jobs_do_not_run_is_refused_and_nothing_is_written(
        tmp_path: Path, bucket: str, seaweedfs: SeaweedFS, capsys: pytest.CaptureFixture[str]) -> None:
    write_dag(tmp_path, "alpha", "daily")  # pinned to registry.example.com/alpha:1.0.0
    before = snapshot(seaweedfs.client(), bucket)
    run = publish(capsys, bucket, tmp_path, "--image", BUILT, "--skip-dynamic-validation")
    assert run.code == 1
    error = run.json()["error"]
    assert error["kind"] == "image_mismatch"
    assert ("alpha_daily.py: task 'run' runs registry.example.com/alpha:1.0.0, not --image "
            "registry.example.com/alpha:2.0.0") in error["message"]
    assert snapshot(seaweedfs.client(), bucket) == before


def test_history_and_list_show_the_image_the_jobs_run(tmp_path: Path, bucket: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    write_dag(tmp_path, "alpha", "daily")
    assert publish(capsys, bucket, tmp_path, "--skip-dynamic-validation").code == 0  # no --image: the jobs' own
    (tmp_path / "alpha_daily.py").write_text(kpo_dag("alpha", "daily", image=BUILT))
    assert publish(capsys, bucket, tmp_path, "--image", BUILT, "--skip-dynamic-validation").code == 0
    history = cli(capsys, "history", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--json").json()
    assert [m["image"] for m in history] == [BUILT, "registry.example.com/alpha:1.0.0"]
    rows = cli(capsys, "list", "--env", "dev", "--bucket", bucket, "--json").json()
    assert rows[0]["image"] == BUILT


def test_jobs_on_several_images_record_none_and_say_so(tmp_path: Path, bucket: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    write_dag(tmp_path, "alpha", "daily", n=1)
    write_dag(tmp_path, "alpha", "hourly", n=2)
    run = publish(capsys, bucket, tmp_path, "--skip-dynamic-validation")
    assert run.code == 0 and "run 2 different images" in run.err
    history = cli(capsys, "history", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--json").json()
    assert history[0]["image"] is None


def test_a_computed_image_is_compared_after_the_airflow_parse_and_refused_without_it(
        tmp_path: Path, bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    dag = kpo_dag("alpha", "daily", image="IMAGE_PLACEHOLDER").replace(
        '"IMAGE_PLACEHOLDER"', '"registry.example.com/alpha:" + VERSION')
    (tmp_path / "alpha_daily.py").write_text(dag.replace("\nwith DAG(", '\nVERSION = "2.0.0"\n\nwith DAG(', 1))
    static = publish(capsys, bucket, tmp_path, "--image", BUILT, "--skip-dynamic-validation")
    assert static.code == 1 and "its image is computed" in static.json()["error"]["message"]
    parsed = publish(capsys, bucket, tmp_path, "--image", BUILT)  # Airflow builds the task: its image is known
    assert parsed.code == 0, parsed.out
    assert json.loads(parsed.out)["release_id"]
