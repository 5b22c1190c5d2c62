"""More than one dag-processor: the shards' Helm values generated from the package list
(devstack.dag_processor_shards, the rule of airflow_dag_publisher.shards), deploy_airflow.sh's commands
for them, and what the chart renders from them (offline, Helm's engine): every shard a dag-processor
Deployment with its own airflow.cfg, the release's service account, Secrets and statsd, the agent and
the parse-requests process beside it, disjoint bundle sets that cover every package, strictly valid
Kubernetes objects with selectors that do not overlap."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from devstack import dag_processor_shards as shards
from tests.infra import chart_render as cr
from tests.infra.infra_helpers import SCRIPTS
from tests.infra.test_scripts import PRUNE_SHARDS

PACKAGES = [f"team{n:02d}_jobs" for n in range(24)]
K8S_VERSION = "1.33.0"


def package_list(tmp_path: Path, names: list[str]) -> Path:
    path = tmp_path / "packages.yaml"
    path.write_text("allowed_registries: [registry.example.com]\npackages:\n" + "".join(f"  - name: {n}\n"
                                                                                          for n in names))
    return path


@pytest.fixture
def infra(tmp_path: Path) -> Path:
    """infra/airflow's scripts and k8s folders, copied: the test writes shards into an environment."""
    copy = tmp_path / "infra-airflow"
    shutil.copytree(SCRIPTS.parent / "scripts", copy / "scripts")
    shutil.copytree(SCRIPTS.parent / "k8s", copy / "k8s")
    return copy


def generate(infra: Path, packages: Path, *args: str) -> int:
    return shards.main(["--packages-file", str(packages), "--envs-dir", str(infra / "k8s" / "envs"), *args])


def bundle_names(values_text: str) -> list[str]:
    command = yaml.safe_load(values_text)["dagProcessor"]["args"][-1]
    assert command.startswith("exec python -m airflow_dag_publisher.dag_processor --bundle-name ")
    return re.findall(r"--bundle-name (\S+)", command)


def test_each_package_is_parsed_by_exactly_one_shard(tmp_path: Path, infra: Path) -> None:
    assert generate(infra, package_list(tmp_path, PACKAGES), "--env", "prod", "--shards", "3") == 0
    files = shards.written("prod", infra / "k8s" / "envs")
    assert sorted(files) == ["shard-0.yaml", "shard-1.yaml", "shard-2.yaml"]
    owned = [bundle_names(files[f"shard-{k}.yaml"]) for k in range(3)]
    assert sorted(p for group in owned for p in group) == sorted(PACKAGES)
    assert all(group for group in owned)
    assert "Dag-processor shard 1 of 3" in files["shard-1.yaml"]
    yaml.safe_load(files["shard-0.yaml"])  # the header is comments


def test_onboarding_a_package_makes_the_shards_stale_and_a_refresh_places_it(tmp_path: Path, infra: Path) -> None:
    envs = infra / "k8s" / "envs"
    assert generate(infra, package_list(tmp_path, PACKAGES), "--env", "prod", "--shards", "3") == 0
    before = shards.written("prod", envs)
    assert generate(infra, package_list(tmp_path, PACKAGES), "--check") == 0
    grown = package_list(tmp_path, [*PACKAGES, "newcomer"])
    assert generate(infra, grown, "--check") == 1
    assert generate(infra, grown, "--refresh") == 0
    after = shards.written("prod", envs)
    moved = [f for f in after if after[f] != before[f]]
    assert len(moved) == 1 and "newcomer" in bundle_names(after[moved[0]])  # one shard changed: the newcomer's
    assert generate(infra, grown, "--check") == 0


def test_a_shard_without_a_package_is_refused_and_one_shard_removes_them(tmp_path: Path, infra: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    few = package_list(tmp_path, PACKAGES[:2])
    assert generate(infra, few, "--env", "prod", "--shards", "5") == 2
    assert "without a package: use fewer shards" in capsys.readouterr().err
    assert not (infra / "k8s" / "envs" / "prod" / shards.SHARDS_DIR).exists()
    assert generate(infra, package_list(tmp_path, PACKAGES), "--env", "prod", "--shards", "2") == 0
    assert generate(infra, package_list(tmp_path, PACKAGES), "--env", "prod", "--shards", "1") == 0
    assert not (infra / "k8s" / "envs" / "prod" / shards.SHARDS_DIR).exists()


def template_commands(out: str) -> list[list[str]]:
    """deploy_airflow.sh's `helm template ... > FILE` lines of a dry run, as argument lists."""
    return [shlex.split(line[2:].rsplit(" > ", 1)[0]) for line in out.splitlines()
            if line.startswith("+ ") and " template " in line]


def values_of(argv: list[str]) -> dict[str, Any]:
    """The values a `helm template` command line gives: its -f files, then its --set/--set-string."""
    values: dict[str, Any] = {}
    for i, arg in enumerate(argv):
        if arg == "-f":
            cr.merge(values, yaml.safe_load(Path(argv[i + 1]).read_text()) or {})
    for i, arg in enumerate(argv):
        if arg == "--set":
            cr.merge(values, helm_python.parse_set_string(argv[i + 1]))
        elif arg == "--set-string":
            cr.merge(values, helm_python.parse_set_string_values(argv[i + 1]))
    return values


def rendered(values: dict[str, Any], name: str, only: list[str] | None = None) -> list[dict[str, Any]]:
    files = cr.chart().render(values, name=name, namespace=cr.NAMESPACE, is_install=True, is_upgrade=False,
                              revision=1)
    return [doc for template, text in sorted(files.items()) if template.endswith(".yaml")
            and (only is None or any(template.endswith(o.split("templates/", 1)[1]) for o in only))
            for doc in yaml.safe_load_all(text) if doc]


def test_the_chart_renders_every_shard_as_a_dag_processor_of_its_packages(tmp_path: Path, infra: Path) -> None:
    assert generate(infra, package_list(tmp_path, PACKAGES), "--env", "prod", "--shards", "3") == 0
    proc = subprocess.run(["bash", str(infra / "scripts" / "deploy_airflow.sh"), "--dry-run", "--env", "prod",
                           "upgrade"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    main_cmd = cr.helm_command(proc.stdout)
    shards_dir = infra / "k8s" / "envs" / "prod" / shards.SHARDS_DIR
    assert main_cmd.values_files[-1] == shards_dir / "shard-0.yaml"  # the release's own dag-processor: shard 0
    main = rendered(cr.user_values(main_cmd), cr.RELEASE)
    commands = template_commands(proc.stdout)
    assert [c[2] for c in commands] == ["airflow-dp1", "airflow-dp2"]
    assert proc.stdout.splitlines()[-1] == "+ " + PRUNE_SHARDS.format(namespace="airflow", keep="1\\,2")

    deployments = {d["metadata"]["name"]: d for d in main if d["kind"] == "Deployment"
                   and d["metadata"]["name"].endswith("dag-processor")}
    config_maps = {d["metadata"]["name"] for d in main if d["kind"] == "ConfigMap"}
    accounts = {d["metadata"]["name"] for d in main if d["kind"] == "ServiceAccount"}
    for argv in commands:
        only = [argv[i + 1] for i, a in enumerate(argv) if a == "--show-only"]
        objects = rendered(values_of(argv), argv[2], only)
        assert sorted(o["kind"] for o in objects) == ["ConfigMap", "Deployment"]
        for obj in objects:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
            assert obj["metadata"]["labels"]["airflow-dag-processor-shard"] == argv[2].removeprefix("airflow-dp")
        config_maps |= {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
        deployments |= {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
        cfg = next(o for o in objects if o["kind"] == "ConfigMap")["data"]["airflow.cfg"]
        assert "statsd_host = airflow-statsd" in cfg  # the release's statsd-exporter, not a shard's

    assert sorted(deployments) == ["airflow-dag-processor", "airflow-dp1-dag-processor", "airflow-dp2-dag-processor"]
    owned: list[str] = []
    selectors = []
    for name, dep in deployments.items():
        spec = dep["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == "airflow-dag-processor" and "airflow-dag-processor" in accounts
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["config"]["configMap"]["name"] in config_maps
        containers = {c["name"]: c for c in spec["containers"]}
        assert {"dag-processor", "dag-sync", "parse-requests"} <= set(containers), name
        owned += re.findall(r"--bundle-name (\S+)", containers["dag-processor"]["args"][-1])
        selectors.append(dep["spec"]["selector"]["matchLabels"])
        assert all(dep["spec"]["template"]["metadata"]["labels"][k] == v
                   for k, v in dep["spec"]["selector"]["matchLabels"].items())
    assert sorted(owned) == sorted(PACKAGES)  # each package once, in exactly one dag-processor
    for i, a in enumerate(selectors):  # no Deployment selects another's pods
        for b in selectors[i + 1:]:
            assert any(a.get(k) != v for k, v in b.items())


def test_the_committed_shards_are_what_the_package_list_gives() -> None:
    """`make dag-processor-shards` has been run since packages.yaml last changed (no environment has
    shards yet: two packages need one dag-processor)."""
    assert shards.main(["--check"]) == 0
