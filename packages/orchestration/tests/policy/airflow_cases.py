"""Run in a subprocess by test_built_objects.py (its own AIRFLOW_HOME): build real Airflow DAGs and
tasks, one case each, and report what the cluster policy says of them.

    python airflow_cases.py OUT.json DAGS_ROOT

Writes {case: {"violations": [[rule, text], ...], "raised": [exception class, text] | null}}: the
violations of `dag_violations`/`task_violations` over the case's DAG and tasks, and what Airflow's
hooks `dag_policy`/`task_policy` raised (with the module's CLUSTER set to the test package list).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, BaseOperator
from airflow_dag_publisher.policy import cluster_policy as policy
from kubernetes.client import models as k8s

CLUSTER = policy.Cluster(service_accounts={"alpha": "alpha", "beta": "beta-jobs"},
                         allowed_registries=("registry.example.com", "registry.example.com:5000/team"))
GOOD = {"namespace": "etl-jobs", "image": "registry.example.com/alpha/jobs:1.0.0", "on_finish_action": "delete_pod"}


class SubclassedKPO(KubernetesPodOperator):
    pass


class ForgedEmptyOperator(BaseOperator):
    def execute(self, context: Any) -> None:
        return None


ForgedEmptyOperator.__module__ = "airflow.providers.standard.operators.empty"
ForgedEmptyOperator.__qualname__ = "EmptyOperator"


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
    return {"violations": [list(v) for v in violations], "raised": raised}


def main(out: str, root: str) -> int:
    dags_root = Path(root)
    # an unlisted package present in the DAGs folder claims its longer prefix too
    (dags_root / "alpha_ext").mkdir(parents=True, exist_ok=True)
    results = {name: judge(dag, CLUSTER) for name, dag in dag_cases(dags_root).items()}
    Path(out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
