"""Run in a subprocess by test_built_objects.py (its own AIRFLOW_HOME): build real Airflow DAGs and
tasks, one case each, and report what the cluster policy says of them.

    python airflow_cases.py OUT.json DAGS_ROOT

Writes {case: {"violations": [[rule, text], ...], "raised": [exception class, text] | null}}: the
violations of `dag_violations`/`task_violations` over the case's DAG and tasks, and what Airflow's
hooks `dag_policy`/`task_policy` raised (with the module's CLUSTER set to the test package list).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import platform_callbacks
from airflow.providers.cncf.kubernetes.callbacks import KubernetesPodOperatorCallback
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, BaseOperator
from airflow_dag_publisher.policy import cluster_policy as policy
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s

CLUSTER = policy.Cluster(service_accounts={"alpha": "alpha", "beta": "beta-jobs"},
                         allowed_registries=("registry.example.com", "registry.example.com:5000/team"),
                         allowed_callbacks=("platform_callbacks.notify",))
GOOD = {"namespace": "etl-jobs", "image": "registry.example.com/alpha/jobs:1.0.0", "on_finish_action": "delete_pod"}


class SubclassedKPO(KubernetesPodOperator):
    pass


class ForgedEmptyOperator(BaseOperator):
    def execute(self, context: Any) -> None:
        return None


ForgedEmptyOperator.__module__ = "airflow.providers.standard.operators.empty"
ForgedEmptyOperator.__qualname__ = "EmptyOperator"


class BashPosingAsKPO(BashOperator):
    """Issue 26, attack 4: a class attribute named like the one a mapped task carries."""

    operator_class = KubernetesPodOperator


class PythonPosingAsKPO(PythonOperator):
    operator_class = KubernetesPodOperator


def package_code(*args: Any, **kwargs: Any) -> None:
    """A function of the package's own file: Python that would run in Airflow's processes."""


class PackageCallback(KubernetesPodOperatorCallback):
    pass


def secret_env(name: str) -> k8s.V1EnvVar:
    return k8s.V1EnvVar(name="TOKEN", value_from=k8s.V1EnvVarSource(
        secret_key_ref=k8s.V1SecretKeySelector(name=name, key="token")))


def restricted(**fields: Any) -> k8s.V1SecurityContext:
    return k8s.V1SecurityContext(**fields)


class PackageUndefined(jinja2.StrictUndefined):
    pass


def kpo(**overrides: Any) -> Callable[[], None]:
    return lambda: KubernetesPodOperator(task_id="run", **{**GOOD, **overrides})


TASK_CASES: dict[str, Callable[[], Any]] = {
    "good": kpo(service_account_name="alpha"),
    "good_without_service_account": kpo(),
    "good_digest": kpo(image="registry.example.com/alpha/jobs@sha256:" + "a" * 64),
    "good_registry_with_port_and_path": kpo(image="registry.example.com:5000/team/jobs:2"),
    "good_unprivileged": kpo(container_security_context=k8s.V1SecurityContext(privileged=False, run_as_non_root=True)),
    "good_empty_dir_volume": kpo(volumes=[k8s.V1Volume(name="scratch", empty_dir=k8s.V1EmptyDirVolumeSource())]),
    "empty_operator": lambda: EmptyOperator(task_id="run"),
    "python_operator": lambda: PythonOperator(task_id="run", python_callable=print),
    "kpo_subclass": lambda: SubclassedKPO(task_id="run", **GOOD),
    "forged_empty_operator": lambda: ForgedEmptyOperator(task_id="run"),
    "namespace_default": kpo(namespace="default"),
    "namespace_unset": kpo(namespace=None),
    "image_latest": kpo(image="registry.example.com/alpha/jobs:latest"),
    "image_untagged": kpo(image="registry.example.com/alpha/jobs"),
    "image_template": kpo(image="registry.example.com/alpha/jobs:{{ params.tag }}"),
    "image_docker_hub": kpo(image="busybox:1.36"),
    "image_lookalike_host": kpo(image="registry.example.com.evil.io/alpha/jobs:1"),
    "image_port_not_allowed": kpo(image="registry.example.com:5000/other/jobs:1"),
    "service_account_of_beta": kpo(service_account_name="beta-jobs"),
    "service_account_unknown": kpo(service_account_name="cluster-admin"),
    "keep_pod": kpo(on_finish_action="keep_pod"),
    "privileged_model": kpo(container_security_context=k8s.V1SecurityContext(privileged=True)),
    "privileged_dict": kpo(container_security_context={"privileged": True}),
    "privileged_xcom_sidecar": kpo(do_xcom_push=True, xcom_sidecar_container_security_context={"privileged": True}),
    "host_path_model": kpo(volumes=[k8s.V1Volume(name="root", host_path=k8s.V1HostPathVolumeSource(path="/"))]),
    "host_path_dict": kpo(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
    "host_network": kpo(hostnetwork=True),
    "pod_template_file": kpo(pod_template_file="/tmp/pod.yaml"),
    "pod_template_dict": kpo(pod_template_dict={"spec": {"hostPID": True, "containers": [{"name": "base"}]}}),
    "full_pod_spec": kpo(full_pod_spec=k8s.V1Pod(spec=k8s.V1PodSpec(host_pid=True, containers=[]))),
    "init_container_privileged_latest": kpo(init_containers=[k8s.V1Container(
        name="setup", image="registry.example.com/alpha/setup:latest",
        security_context=k8s.V1SecurityContext(privileged=True))]),
    "executor_pod_override": lambda: EmptyOperator(task_id="run", executor_config={"pod_override": k8s.V1Pod()}),
    "mapped_namespace": lambda: KubernetesPodOperator.partial(task_id="run", image=GOOD["image"]).expand(
        namespace=["etl-jobs", "kube-system"]),
    "mapped_arguments_only": lambda: KubernetesPodOperator.partial(task_id="run", **GOOD).expand(
        arguments=[["a"], ["b"]]),
    "mapped_partial_namespace_default": lambda: KubernetesPodOperator.partial(
        task_id="run", **{**GOOD, "namespace": "default"}).expand(arguments=[["a"]]),
    "mapped_kwargs": lambda: KubernetesPodOperator.partial(task_id="run").expand_kwargs([{"image": "x:1"}]),
    # attack 4: the task's real type decides, not a class attribute
    "bash_posing_as_kpo": lambda: BashPosingAsKPO(task_id="run", bash_command="id"),
    "python_posing_as_kpo": lambda: PythonPosingAsKPO(task_id="run", python_callable=print),
    # attack 5: package code outside the pod
    "on_execute_callback": kpo(on_execute_callback=package_code),
    "on_failure_callback_partial": kpo(on_failure_callback=functools.partial(print, "x")),
    "on_success_callback_list": kpo(on_success_callback=[package_code]),
    "pre_execute": kpo(pre_execute=package_code),
    "post_execute": kpo(post_execute=package_code),
    "kpo_callbacks": kpo(callbacks=PackageCallback),
    "kpo_progress_callback": kpo(progress_callback=package_code),
    "mapped_with_callback": lambda: KubernetesPodOperator.partial(
        task_id="run", on_execute_callback=package_code, **GOOD).expand(arguments=[["a"]]),
    "good_platform_callback": kpo(on_failure_callback=platform_callbacks.notify),
    "secret_of_beta": kpo(secrets=[Secret("env", "TOKEN", "beta-db", "token")]),
    "secret_volume_of_beta": kpo(secrets=[Secret("volume", "/secrets", "beta-db")]),
    "env_from_secret_of_beta": kpo(env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name="beta"))]),
    "env_var_secret_of_beta": kpo(env_vars=[secret_env("beta-api")]),
    "volume_secret_of_beta": kpo(volumes=[k8s.V1Volume(name="s", secret=k8s.V1SecretVolumeSource(
        secret_name="beta-db"))]),
    "projected_secret_of_beta": kpo(volumes=[k8s.V1Volume(name="s", projected=k8s.V1ProjectedVolumeSource(
        sources=[k8s.V1VolumeProjection(secret=k8s.V1SecretProjection(name="beta-db"))]))]),
    "image_pull_secret_of_beta": kpo(image_pull_secrets=[k8s.V1LocalObjectReference(name="beta-pull")]),
    "init_container_secret_of_beta": kpo(init_containers=[k8s.V1Container(
        name="setup", image="registry.example.com/alpha/setup:1", env=[secret_env("beta-db")])]),
    "secret_of_nobody": kpo(secrets=[Secret("env", "TOKEN", "db-password", "token")]),
    "secret_of_a_longer_package": kpo(env_vars=[secret_env("alpha-ext-db")]),
    "good_own_secrets": kpo(secrets=[Secret("env", "TOKEN", "alpha-db", "token"), Secret("volume", "/s", "alpha")],
                            env_vars=[secret_env("alpha-api")]),
    "toleration_control_plane": kpo(tolerations=[k8s.V1Toleration(
        key="node-role.kubernetes.io/control-plane", operator="Exists", effect="NoSchedule")]),
    "toleration_of_every_taint": kpo(tolerations=[{"operator": "Exists"}]),
    "good_toleration": kpo(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "etl",
                                         "effect": "NoSchedule"}]),
    "automount_token": kpo(automount_service_account_token=True),
    "projected_token": kpo(volumes=[k8s.V1Volume(name="t", projected=k8s.V1ProjectedVolumeSource(sources=[
        k8s.V1VolumeProjection(service_account_token=k8s.V1ServiceAccountTokenProjection(path="token"))]))]),
    "privilege_escalation": kpo(container_security_context={"allowPrivilegeEscalation": True}),
    "run_as_root": kpo(container_security_context=restricted(run_as_user=0)),
    "run_as_root_pod": kpo(security_context=k8s.V1PodSecurityContext(run_as_user=0)),
    "run_as_non_root_false": kpo(security_context={"runAsNonRoot": False}),
    "seccomp_unconfined": kpo(container_security_context=restricted(
        seccomp_profile=k8s.V1SeccompProfile(type="Unconfined"))),
    "capability_added": kpo(container_security_context=restricted(
        capabilities=k8s.V1Capabilities(add=["SYS_ADMIN"]))),
    "proc_mount_unmasked": kpo(container_security_context=restricted(proc_mount="Unmasked")),
    "unsafe_sysctl": kpo(security_context=k8s.V1PodSecurityContext(sysctls=[k8s.V1Sysctl(name="kernel.msgmax",
                                                                                         value="1")])),
    "nfs_volume": kpo(volumes=[k8s.V1Volume(name="n", nfs=k8s.V1NFSVolumeSource(server="nfs", path="/"))]),
    "host_port": kpo(ports=[k8s.V1ContainerPort(container_port=8080, host_port=8080)]),
    "init_container_escalation": kpo(init_containers=[k8s.V1Container(
        name="setup", image="registry.example.com/alpha/setup:1",
        security_context=restricted(allow_privilege_escalation=True))]),
    "good_restricted": kpo(security_context=k8s.V1PodSecurityContext(run_as_non_root=True, run_as_user=10001),
                           container_security_context=restricted(
        allow_privilege_escalation=False, capabilities=k8s.V1Capabilities(drop=["ALL"], add=["NET_BIND_SERVICE"]),
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"))),
}


def task_case(name: str, build: Callable[[], Any], dags_root: Path) -> DAG:
    default_args = {"namespace": "default"} if name == "default_args_namespace" else {}
    with DAG(dag_id=f"alpha_{name}", schedule=None, default_args=default_args) as dag:
        build()
    return placed(dag, dags_root, f"alpha/{name}.py")


def placed(dag: DAG, dags_root: Path, relative: str) -> DAG:
    """As Airflow's DagBag records a DAG found at <dags>/<relative>."""
    dag.fileloc = str(dags_root / relative)
    dag.relative_fileloc = relative
    return dag


def dag_cases(dags_root: Path) -> dict[str, DAG]:
    cases = {name: task_case(name, build, dags_root) for name, build in TASK_CASES.items()}
    cases["default_args_namespace"] = task_case("default_args_namespace", lambda: KubernetesPodOperator(
        task_id="run", image=GOOD["image"], on_finish_action="delete_pod"), dags_root)
    for name, dag_id, relative in [
        ("dag_good", "alpha_daily", "alpha/daily.py"),
        ("dag_in_subfolder", "alpha_nested", "alpha/sub/dir/nested.py"),
        ("dag_of_beta_in_alpha", "beta_daily", "alpha/steal.py"),
        ("dag_without_prefix", "daily", "alpha/daily.py"),
        ("dag_of_a_longer_package_in_the_folder", "alpha_ext_report", "alpha/report.py"),
        ("dag_at_the_dags_root", "alpha_daily", "daily.py"),
        ("dag_in_a_folder_that_is_no_package", "alpha_daily", "Not-A-Package/daily.py"),
    ]:
        with DAG(dag_id=dag_id, schedule=None) as dag:
            EmptyOperator(task_id="noop")
        cases[name] = placed(dag, dags_root, relative)
    # attack 5 at the DAG level: callbacks, macros and template settings run package code in Airflow
    for name, arguments in {
        "dag_on_failure_callback": {"on_failure_callback": package_code},
        "dag_on_success_callback": {"on_success_callback": [package_code]},
        "dag_user_defined_macros": {"user_defined_macros": {"run": package_code}},
        "dag_user_defined_filters": {"user_defined_filters": {"run": package_code}},
        "dag_native_templates": {"render_template_as_native_obj": True},
        "dag_jinja_environment": {"jinja_environment_kwargs": {"extensions": ["jinja2.ext.debug"]}},
        "dag_template_searchpath": {"template_searchpath": ["/opt/airflow/config"]},
        "dag_template_undefined": {"template_undefined": PackageUndefined},
        "dag_good_platform_callback": {"on_failure_callback": platform_callbacks.notify,
                                       "user_defined_macros": {"team": "etl"}},
    }.items():
        with DAG(dag_id=f"alpha_{name}", schedule=None, **arguments) as dag:
            EmptyOperator(task_id="noop")
        cases[name] = placed(dag, dags_root, f"alpha/{name}.py")
    return cases


def judge(dag: DAG, cluster: policy.Cluster) -> dict[str, Any]:
    violations = policy.dag_violations(dag, cluster)
    for task in dag.tasks:
        violations += policy.task_violations(task, cluster)
    raised = None
    policy.CLUSTER = cluster
    try:
        policy.dag_policy(dag)
        for task in dag.tasks:
            policy.task_policy(task)
    except Exception as exc:
        raised = [type(exc).__name__, str(exc)]
    finally:
        policy.CLUSTER = policy.Cluster()
    return {"violations": [list(v) for v in violations], "raised": raised,
            "containers": None if raised else pod_containers(dag)}


def pod_containers(dag: DAG) -> list[dict[str, Any]] | None:
    """The containers of the pod the DAG's first KubernetesPodOperator would create, after the hooks ran."""
    for task in dag.tasks:
        if type(task) is KubernetesPodOperator:
            pod = ApiClient().sanitize_for_serialization(task.build_pod_request_obj(dry_run=True))
            return [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]
    return None


def main(out: str, root: str) -> int:
    dags_root = Path(root)
    # an unlisted package present in the DAGs folder claims its longer prefix too
    (dags_root / "alpha_ext").mkdir(parents=True, exist_ok=True)
    results = {name: judge(dag, CLUSTER) for name, dag in dag_cases(dags_root).items()}
    Path(out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
