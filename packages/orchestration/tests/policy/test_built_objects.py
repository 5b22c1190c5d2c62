"""The cluster policy over DAGs and tasks as Airflow builds them (real KubernetesPodOperator, EmptyOperator,
mapped tasks, Kubernetes model objects), in a subprocess with its own AIRFLOW_HOME (airflow_cases.py):
every rule allowed and refused, the smuggling paths included, and Airflow's hooks raising
AirflowClusterPolicyViolation with exactly the violations' text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CASES_SCRIPT = Path(__file__).with_name("airflow_cases.py")

# case -> the rules refused, in order (empty: allowed)
EXPECTED: dict[str, list[str]] = {
    "good": [],
    "good_without_service_account": [],
    "good_digest": [],
    "good_registry_with_port_and_path": [],
    "good_unprivileged": [],
    "good_empty_dir_volume": [],
    "empty_operator": [],
    "mapped_arguments_only": [],
    "dag_good": [],
    "dag_in_subfolder": [],
    "python_operator": ["task-callable", "operator-not-allowed"],
    "kpo_subclass": ["operator-not-allowed"],
    "forged_empty_operator": ["operator-not-allowed"],
    "namespace_default": ["kpo-namespace"],
    "namespace_unset": ["kpo-namespace"],
    "default_args_namespace": ["kpo-namespace"],
    "image_latest": ["kpo-image"],
    "image_untagged": ["kpo-image"],
    "image_template": ["kpo-image-template"],
    "image_docker_hub": ["kpo-registry"],
    "image_lookalike_host": ["kpo-registry"],
    "image_port_not_allowed": ["kpo-registry"],
    "service_account_of_beta": ["kpo-service-account"],
    "service_account_unknown": ["kpo-service-account"],
    "keep_pod": ["kpo-on-finish-action"],
    "privileged_model": ["kpo-privileged"],
    "privileged_dict": ["kpo-privileged"],
    "privileged_xcom_sidecar": ["kpo-privileged"],
    "host_path_model": ["kpo-host-path"],
    "host_path_dict": ["kpo-host-path"],
    "host_network": ["kpo-host-network"],
    "pod_template_file": ["kpo-pod-template"],
    "pod_template_dict": ["kpo-pod-template"],
    "full_pod_spec": ["kpo-pod-template"],
    "init_container_privileged_latest": ["kpo-privileged", "kpo-image"],
    "executor_pod_override": ["executor-pod-override"],
    "mapped_namespace": ["kpo-mapped-argument"],
    "mapped_partial_namespace_default": ["kpo-namespace"],
    "mapped_kwargs": ["executor-pod-override", "kpo-mapped-argument"],
    "dag_of_beta_in_alpha": ["dag-id-prefix"],
    "dag_without_prefix": ["dag-id-prefix"],
    "dag_of_a_longer_package_in_the_folder": ["dag-id-prefix"],
    "dag_at_the_dags_root": ["dag-package-folder", "dag-package-folder"],
    "dag_in_a_folder_that_is_no_package": ["dag-package-folder", "dag-package-folder"],
    # issue 26, attack 4: the real type decides
    "bash_posing_as_kpo": ["task-callable", "operator-not-allowed"],  # BashOperator's output_processor lambda
    "python_posing_as_kpo": ["task-callable", "operator-not-allowed"],
    # issue 26, attack 5: package code in Airflow's processes, other packages' Secrets, Pod Security
    "on_execute_callback": ["task-callable"],
    "on_failure_callback_partial": ["task-callable"],
    "on_success_callback_list": ["task-callable"],
    "pre_execute": ["task-callable"],
    "post_execute": ["task-callable"],
    "kpo_callbacks": ["task-callable"],
    "kpo_progress_callback": ["task-callable"],
    "mapped_with_callback": ["task-callable"],
    "good_platform_callback": [],
    "secret_of_beta": ["kpo-secret"],
    "secret_volume_of_beta": ["kpo-secret"],
    "env_from_secret_of_beta": ["kpo-secret"],
    "env_var_secret_of_beta": ["kpo-secret"],
    "volume_secret_of_beta": ["kpo-secret"],
    "projected_secret_of_beta": ["kpo-secret"],
    "image_pull_secret_of_beta": ["kpo-secret"],
    "init_container_secret_of_beta": ["kpo-secret"],
    "secret_of_nobody": ["kpo-secret"],
    "secret_of_a_longer_package": ["kpo-secret"],
    "good_own_secrets": [],
    "toleration_control_plane": ["kpo-toleration"],
    "toleration_of_every_taint": ["kpo-toleration"],
    "good_toleration": [],
    "automount_token": ["kpo-service-account-token"],
    "projected_token": ["kpo-service-account-token"],
    "privilege_escalation": ["kpo-pod-security"],
    "run_as_root": ["kpo-pod-security"],
    "run_as_root_pod": ["kpo-pod-security"],
    "run_as_non_root_false": ["kpo-pod-security"],
    "seccomp_unconfined": ["kpo-pod-security"],
    "capability_added": ["kpo-pod-security"],
    "proc_mount_unmasked": ["kpo-pod-security"],
    "unsafe_sysctl": ["kpo-pod-security"],
    "nfs_volume": ["kpo-pod-security"],
    "host_port": ["kpo-pod-security"],
    "init_container_escalation": ["kpo-pod-security"],
    "good_restricted": [],
    "dag_on_failure_callback": ["dag-callable"],
    "dag_on_success_callback": ["dag-callable"],
    "dag_user_defined_macros": ["dag-callable"],
    "dag_user_defined_filters": ["dag-callable"],
    "dag_native_templates": ["dag-template-env"],
    "dag_jinja_environment": ["dag-template-env"],
    "dag_template_searchpath": ["dag-template-env"],
    "dag_template_undefined": ["dag-callable"],
    "dag_good_platform_callback": [],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("policy-cases")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"AIRFLOW_HOME": str(root / "airflow-home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"})
    out = root / "out.json"
    done = subprocess.run([sys.executable, str(CASES_SCRIPT), str(out), str(root / "dags")], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_every_case_is_expected(results: dict[str, Any]) -> None:
    assert set(results) == set(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_case_gets_exactly_its_rules(results: dict[str, Any], case: str) -> None:
    assert [rule for rule, _ in results[case]["violations"]] == EXPECTED[case]


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_airflows_hooks_raise_the_violations_text_and_nothing_for_a_good_case(results: dict[str, Any],
                                                                              case: str) -> None:
    violations, raised = results[case]["violations"], results[case]["raised"]
    if not violations:
        assert raised is None
        return
    # Airflow stops at the first refusal: the DAG's own, else the first refused task's (one task per case)
    dag_level = [text for rule, text in violations if rule.startswith("dag-")][:1]
    assert raised == ["AirflowClusterPolicyViolation", "\n".join(dag_level or [t for _, t in violations])]
    for rule, text in violations:
        assert text.startswith(f"cluster policy rule {rule}: ")


def test_refusals_name_the_dag_task_and_value_at_fault(results: dict[str, Any]) -> None:
    def text(case: str) -> str:
        return "\n".join(t for _, t in results[case]["violations"])

    assert text("service_account_of_beta") == (
        "cluster policy rule kpo-service-account: dag 'alpha_service_account_of_beta' task 'run': "
        "service account 'beta-jobs' belongs to package 'beta'; package 'alpha' runs as 'alpha'")
    assert "dag 'alpha_namespace_default' task 'run': namespace is 'default'" in text("namespace_default")
    assert "'registry.example.com.evil.io/alpha/jobs:1' is not from an allowed registry" in text("image_lookalike_host")
    assert "volume 'root' mounts a path of the node" in text("host_path_dict")
    assert "init container 'setup'" in text("init_container_privileged_latest")
    assert "not the class of that name in its module" in text("forged_empty_operator")
    assert "namespace is mapped at run time" in text("mapped_namespace")
    assert "alpha/steal.py: dag_id 'beta_daily' does not start with 'alpha_'" in text("dag_of_beta_in_alpha")
    assert "carries the prefix of package 'alpha_ext'" in text("dag_of_a_longer_package_in_the_folder")
    assert "daily.py is not inside a package folder" in text("dag_at_the_dags_root")


@pytest.mark.parametrize("case", sorted(c for c, rules in EXPECTED.items() if not rules))
def test_every_container_of_an_accepted_pod_meets_pod_security_restricted(results: dict[str, Any], case: str) -> None:
    """task_policy fills in what Pod Security "restricted" requires and the DAG left unset, so the pod the
    operator builds is admitted by a namespace that enforces it (etl-jobs does)."""
    containers = results[case]["containers"]
    if containers is None:
        return  # no KubernetesPodOperator in this case
    for container in containers:
        context = container.get("securityContext") or {}
        assert context.get("allowPrivilegeEscalation") is False, (case, container["name"], context)
        assert context.get("runAsNonRoot") is True and context.get("runAsUser") != 0, (case, context)
        assert "ALL" in context["capabilities"]["drop"], (case, context)
        assert set(context["capabilities"].get("add") or []) <= {"NET_BIND_SERVICE"}, (case, context)
        assert context["seccompProfile"]["type"] == "RuntimeDefault", (case, context)
