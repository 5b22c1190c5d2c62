"""The cluster policy's rules over plain values (no Airflow): what each allows and refuses, and the
validator's static layer calling the same rules with literal arguments."""

from __future__ import annotations

import pytest
from airflow_dag_publisher.policy.cluster_policy import (
    Cluster,
    dag_id_problem,
    executor_problem,
    image_problems,
    kpo_problems,
    operator_allowed,
    package_of,
    registry_problem,
    service_account_problem,
)
from airflow_dag_publisher.validators.static import StaticContext, check_source

CLUSTER = Cluster(service_accounts={"alpha": "alpha", "beta": "beta-jobs"},
                  allowed_registries=("registry.example.com", "registry.example.com:5000/team"))


@pytest.mark.parametrize("relative, package", [
    ("alpha/daily.py", "alpha"),
    ("alpha/sub/daily.py", "alpha"),
    ("daily.py", None),
    ("Alpha/daily.py", None),
    ("alpha-x/daily.py", None),
    ("", None),
    (None, None),
])
def test_the_package_is_the_first_folder_under_the_dags_folder(relative: str | None, package: str | None) -> None:
    assert package_of(relative) == package


def test_dag_ids_belong_to_the_package_whose_prefix_is_longest() -> None:
    assert dag_id_problem("alpha_daily", "alpha") is None
    assert "does not start with 'alpha_'" in (dag_id_problem("beta_daily", "alpha", {"beta"}) or "")
    assert "does not start with 'alpha_'" in (dag_id_problem("alpha", "alpha") or "")
    assert "prefix of package 'alpha_ext'" in (dag_id_problem("alpha_ext_daily", "alpha", {"alpha_ext"}) or "")
    assert dag_id_problem("alpha_ext_daily", "alpha_ext", {"alpha"}) is None
    assert dag_id_problem("alpha_extra_daily", "alpha", {"alpha_ext"}) is None


@pytest.mark.parametrize("image", [
    "registry.example.com/team/jobs:1.0",
    "registry.example.com/jobs@sha256:" + "0" * 64,
    "registry.example.com:5000/team/jobs:2",
    "registry.example.com:5000/team/sub/jobs:2",
])
def test_images_from_allowed_registries_pass(image: str) -> None:
    assert registry_problem(image, CLUSTER.allowed_registries) is None
    assert image_problems(image, CLUSTER.allowed_registries) == []


@pytest.mark.parametrize("image", [
    "busybox:1.36",                                  # Docker Hub, implicitly
    "docker.io/library/busybox:1.36",
    "registry.example.com.evil.io/jobs:1",           # a host that only starts like an allowed one
    "registry.example.com:5000/other/jobs:1",        # the port's registry is allowed for team/ only
    "registry.example.com:5001/team/jobs:1",
    "evil.io/registry.example.com/jobs:1",
])
def test_images_from_other_registries_are_refused(image: str) -> None:
    assert [r for r, _ in image_problems(image, CLUSTER.allowed_registries)] == ["kpo-registry"]


def test_without_a_package_list_any_registry_passes_but_pinning_still_holds() -> None:
    assert image_problems("busybox:1.36", None) == []
    assert [r for r, _ in image_problems("busybox", None)] == ["kpo-image"]
    assert [r for r, _ in image_problems("busybox:latest", Cluster(allowed_registries=()).allowed_registries)] == [
        "kpo-image", "kpo-registry"]


def test_templated_images_are_refused_as_templates_only() -> None:
    found = image_problems("registry.example.com/jobs:{{ params.tag }}", CLUSTER.allowed_registries)
    assert [r for r, _ in found] == ["kpo-image-template"]


@pytest.mark.parametrize("account, package, words", [
    (None, "alpha", None),
    ("", "alpha", None),
    ("alpha", "alpha", None),
    ("beta-jobs", "beta", None),
    ("gamma-etl", "gamma_etl", None),                 # unlisted: its name with dashes
    ("beta-jobs", "alpha", "belongs to package 'beta'"),
    ("beta", "alpha", "is not package 'alpha''s"),
    ("default", "alpha", "is not package 'alpha''s"),
    ("beta-jobs", "beta_jobs", "belongs to package 'beta'"),  # unlisted, its dashed name is beta's account
])
def test_a_package_runs_as_its_own_service_account_only(account: str | None, package: str,
                                                        words: str | None) -> None:
    problem = service_account_problem(account, package, CLUSTER)
    assert (problem is None) if words is None else (words in (problem or ""))


def test_kpo_rules_read_kubernetes_dicts_in_camel_and_snake_case() -> None:
    args = {"container_security_context": {"privileged": True},
            "xcom_sidecar_container_security_context": {"allowPrivilegeEscalation": False},
            "volumes": [{"name": "a", "hostPath": {"path": "/"}}, {"name": "b", "host_path": {"path": "/x"}},
                        {"name": "c", "emptyDir": {}}],
            "init_containers": [{"name": "i", "image": "registry.example.com/i:1", "securityContext":
                                 {"privileged": True}}],
            "hostnetwork": True, "pod_template_dict": {}}
    assert [r for r, _ in kpo_problems(args, "alpha", CLUSTER)] == [
        "kpo-host-network", "kpo-privileged", "kpo-host-path", "kpo-host-path", "kpo-privileged",
        "kpo-pod-template"]


def test_kpo_rules_judge_only_the_arguments_given() -> None:
    assert kpo_problems({}, "alpha", CLUSTER) == []
    assert kpo_problems({"namespace": "etl-jobs", "on_finish_action": "delete_pod", "hostnetwork": False,
                         "volumes": [], "init_containers": [], "pod_template_file": None}, "alpha", CLUSTER) == []


def test_executor_pod_override_is_refused_and_other_executor_config_is_not() -> None:
    assert executor_problem({"pod_override": object()})
    assert executor_problem({"KubernetesExecutor": {"cpu": 1}}) is None
    assert executor_problem(None) is None


def test_the_allow_list_matches_exact_paths_or_author_side_bare_names() -> None:
    path = "airflow.providers.standard.operators.empty.EmptyOperator"
    assert operator_allowed(path, {path})
    assert operator_allowed(path, {"EmptyOperator"})
    assert not operator_allowed("my_dags.EmptyOperator", {path})
    assert not operator_allowed(f"{path} (not the class of that name in its module)", {path})


def test_cluster_data_round_trips_as_the_generated_file_carries_it() -> None:
    assert Cluster.from_dict(CLUSTER.to_dict()) == CLUSTER
    assert Cluster.from_dict(Cluster().to_dict()) == Cluster()
    assert CLUSTER.service_account_of("gamma_etl") == "gamma-etl"
    assert CLUSTER.owner_of("beta-jobs") == "beta" and CLUSTER.owner_of("nobody") is None


def static_rules(source: str, cluster: Cluster = CLUSTER) -> list[str]:
    ctx = StaticContext("alpha", frozenset(), frozenset(), cluster)
    return sorted(f.rule for f in check_source("f.py", source.encode(), ctx).findings)


def test_the_static_layer_calls_the_policy_rules_on_literal_arguments() -> None:
    assert static_rules("KubernetesPodOperator(task_id='t', service_account_name='beta-jobs', hostnetwork=True, "
                        "pod_template_file='/p.yaml', image='busybox:1', namespace=NS)\n") == [
        "kpo-host-network", "kpo-pod-template", "kpo-registry", "kpo-service-account"]
    assert static_rules("KubernetesPodOperator(task_id='t', service_account_name='alpha', "
                        "image='registry.example.com/a:1', namespace='etl-jobs')\n") == []
    assert static_rules("with DAG('beta_daily'):\n    pass\n") == ["dag-id-prefix"]
