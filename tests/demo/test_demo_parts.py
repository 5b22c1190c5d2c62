"""The demo's parts without starting it: settings read from the production files, the CI template's
publish script, and the clean-up of what a killed run left behind."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import threading
from pathlib import Path

import yaml

from devstack.demo_ci import TEMPLATE, publish_script
from devstack.demo_config import K8S_DIR, POD_PATH_OPTIONS, load_settings
from devstack.demo_procs import Supervisor, read_pid_file, stop_stale


def test_airflow_is_configured_from_the_helm_values() -> None:
    values = yaml.safe_load((K8S_DIR / "airflow-values.yaml").read_text())
    env = load_settings().airflow_env()
    for section, options in values["config"].items():
        for option, value in (options or {}).items():
            name = f"AIRFLOW__{section.upper()}__{option.upper()}"
            if (section, option) in POD_PATH_OPTIONS:  # the pods' paths: the demo sets its own
                continue
            if value is None:  # deletes a chart default: sets nothing
                assert name not in env
            else:
                assert env[name] == str(value)
    assert env["AIRFLOW__CORE__EXECUTOR"] == values["executor"]
    # the dag-processor comes with its parse-requests process, as in the pod
    command, settings = load_settings().parse_requests or ("", {})
    assert command == "dag-processor --bundle-name dagsync-parse-requests"
    assert settings["AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL"] == "1"


def test_the_sync_agent_takes_the_environments_configmap() -> None:
    values = yaml.safe_load((K8S_DIR / "envs" / "dev" / "dag-sync-values.yaml").read_text())
    data = yaml.safe_load(values["extraConfigMaps"]["airflow-dag-sync"]["data"])
    settings = load_settings()
    for key, value in data.items():
        if key.startswith("DAGSYNC_"):
            assert settings.sync_env[key] == str(value)
    assert settings.bucket == data["DAGSYNC_BUCKET"]
    assert settings.env == "dev"
    assert "infra/airflow/k8s/envs/dev/dag-sync-values.yaml" in settings.sources
    # signatures required as the trust ConfigMap (Terraform's require_signatures) says
    assert settings.sync_env["DAGSYNC_REQUIRE_SIGNATURES"] == "true"


def test_publish_script_is_the_templates_own_validate_and_publish() -> None:
    script, variables = publish_script()
    assert "Reference(" not in script
    template = TEMPLATE.read_text()
    for command in ("airflow-dag-publisher validate", "airflow-dag-publisher publish", "airflow-dag-publisher list"):
        assert command in script and command in template
    assert script.index("airflow-dag-publisher validate") < script.index("airflow-dag-publisher publish")
    assert variables["DAG_PUBLISHER_INSTALL"] == "pip"   # the demo overrides it with "skip"
    completed = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_a_killed_runs_processes_are_stopped_and_only_those(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids.json"
    supervisor = Supervisor(pid_file, tmp_path / "logs")
    left = supervisor.start("left-behind", ["sleep", "300"], {"PATH": "/usr/bin:/bin"})
    # A killed run's processes are not children of the next run: reap ours as init would.
    threading.Thread(target=left.proc.wait, daemon=True).start()
    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        # A recycled pid: recorded, alive, but not the process the run started (start time differs).
        entries = read_pid_file(pid_file)
        entries["recycled"] = {"pid": bystander.pid, "start": 1}
        pid_file.write_text(json.dumps(entries))

        assert stop_stale(pid_file) == ["left-behind"]
        assert left.proc.wait(timeout=5) is not None
        assert bystander.poll() is None
        assert not pid_file.exists()
    finally:
        bystander.kill()
        bystander.wait()
        if left.proc.poll() is None:
            left.proc.kill()
            left.proc.wait()


def test_airflow_gets_the_helm_values_cluster_policies(tmp_path: Path) -> None:
    from devstack.airflow import AirflowStack

    values = yaml.safe_load((K8S_DIR / "airflow-values.yaml").read_text())
    assert load_settings().local_settings == values["airflowLocalSettings"]
    stack = AirflowStack(tmp_path / "home", tmp_path / "dags")
    stack.write_local_settings()
    # where the chart mounts it and Airflow imports it from ($AIRFLOW_HOME/config is on sys.path)
    assert (tmp_path / "home" / "config" / "airflow_local_settings.py").read_text() == values["airflowLocalSettings"]
    AirflowStack(tmp_path / "home", tmp_path / "dags", local_settings="").write_local_settings()
    assert not stack.local_settings_path.exists()


def test_readme_opens_with_what_the_system_is_then_the_ui_screenshot_make_screenshot_refreshes() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    top = readme[:readme.index("## Demo")]
    assert top.split("\n\n")[1].startswith("Self-service DAG delivery for Apache Airflow"), top[:300]
    image = re.search(r"!\[[^\]]+\]\((docs/images/[a-z-]+\.png)\)", top)
    assert image, "no screenshot before the Demo section"
    png = (root / image.group(1)).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 1200 and height >= 600, (width, height)
    makefile = (root / "Makefile").read_text()
    target = makefile[makefile.index("\nscreenshot:"):]
    assert f"DEMO_SCREENSHOT_TO={image.group(1)}" in target
    assert "tests/demo/test_demo.py::test_demo_runs_until_ctrl_c_with_ui_login_and_live_publish" in target
    assert "DEMO_SCREENSHOT_TO" in (root / "tests" / "demo" / "test_demo.py").read_text()


def test_the_demo_reports_one_latency_its_lines_summary_and_readme_agree() -> None:
    from devstack.demo import LATENCY_DEFINITION, publish_to_visible

    wanted = {"a_dag": "a", "b_dag": "b"}
    lines, worst = publish_to_visible(wanted, {"a_dag": 117.1, "b_dag": 120.0}, {"a": 100.0, "b": 110.5}, ready=105.0)
    assert lines == [
        "visible in Airflow: a_dag 17.1 s after its publish; Airflow became ready 5.0 s after that publish",
        "visible in Airflow: b_dag 9.5 s after its publish"]
    assert round(worst, 1) == 17.1  # the summary's number is the slowest line's, never another quantity
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    sample = readme[readme.index("[   4.3s] S3 (SeaweedFS)"):readme.index("Press Ctrl-C to stop.")]
    per_dag = [float(x) for x in re.findall(r"visible in Airflow: \w+ ([\d.]+) s after its publish", sample)]
    headline = re.search(r"publish-to-visible latency: ([\d.]+) s \((.*); production promises", sample)
    assert per_dag and headline and float(headline.group(1)) == max(per_dag)
    assert headline.group(2) == LATENCY_DEFINITION


def test_the_demos_s3_refuses_a_wrong_secret_as_aws_would(tmp_path: Path) -> None:
    """The demo's SeaweedFS runs with an identity: the devstack credentials (what the agent, the publish
    jobs and env.sh get) are accepted, a wrong secret is refused."""
    import botocore.exceptions

    from devstack.demo_stack import DemoStack

    stack = DemoStack(load_settings(), local=tmp_path, say=lambda _text: None)
    stack.run_dir.mkdir(parents=True)
    try:
        stack.start_s3()
        assert stack.s3 is not None and stack.s3.identity
        right = stack.s3.client()
        assert right.get_bucket_versioning(Bucket=stack.settings.bucket)["Status"] == "Enabled"
        assert stack.base_env["AWS_SECRET_ACCESS_KEY"] == stack.s3.env()["AWS_SECRET_ACCESS_KEY"]
        import boto3

        wrong = boto3.session.Session().client(
            "s3", endpoint_url=stack.s3.endpoint, region_name="us-east-1", aws_access_key_id="devstack",
            aws_secret_access_key="wrong-secret")
        try:
            wrong.list_objects_v2(Bucket=stack.settings.bucket)
        except botocore.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == "SignatureDoesNotMatch"
        else:
            raise AssertionError("the demo's S3 accepted a wrong secret")
    finally:
        stack.stop()
