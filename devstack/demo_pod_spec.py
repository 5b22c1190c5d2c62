"""The pod a task would start: KubernetesPodOperator's own `build_pod_request_obj()` rendered as
YAML, after what Airflow's task_policy fills in for Pod Security "restricted" (the shipped cluster
policy's `secure_pod`). No cluster is needed, only a kubeconfig file (pointing nowhere) so that the operator's hook
can load a configuration; nothing is sent anywhere.

    python -m devstack.demo --pod-spec [DAG_FILE]
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DAG_FILE = ROOT / "packages" / "pipeline_processing" / "airflow_dags" / "pipeline_processing_example_job.py"

# A cluster on a loopback port nothing listens on: enough for the hook to load a configuration.
KUBECONFIG_NOWHERE = """\
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:9"}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody, namespace: etl-jobs}
current-context: nowhere
users:
- name: nobody
  user: {token: not-a-token}
"""


def _load_dags(dag_file: Path) -> list[Any]:
    from airflow.sdk import DAG

    spec = importlib.util.spec_from_file_location(f"_demo_pod_spec_{dag_file.stem}", dag_file)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(dag_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dags = [v for v in vars(module).values() if isinstance(v, DAG)]
    if not dags:  # `with DAG(...)` blocks bind no name: the DAG is found through its tasks
        seen: dict[str, Any] = {}
        for value in vars(module).values():
            dag = getattr(value, "dag", None) if hasattr(value, "task_id") else None
            if isinstance(dag, DAG):
                seen[dag.dag_id] = dag
        dags = list(seen.values())
    return dags


def _prune(value: Any) -> Any:
    """Drop empty lists and mappings (`ports: []`, `annotations: {}`): only what the pod sets."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def render_pod_specs(dag_file: Path = DEFAULT_DAG_FILE) -> str:
    """YAML documents, one per KubernetesPodOperator task of the DAG file."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow_dag_publisher.policy.cluster_policy import secure_pod
    from kubernetes.client import ApiClient

    with tempfile.TemporaryDirectory(prefix="demo-kubeconfig-") as tmp:
        kubeconfig = Path(tmp) / "config"
        kubeconfig.write_text(KUBECONFIG_NOWHERE)
        documents = []
        with contextlib.redirect_stdout(io.StringIO()):  # the operator logs what it builds
            for dag in _load_dags(dag_file):
                for task in dag.tasks:
                    if isinstance(task, KubernetesPodOperator):
                        task.config_file = str(kubeconfig)
                        secure_pod(task)
                        pod = task.build_pod_request_obj()
                        body = _prune(ApiClient().sanitize_for_serialization(pod))
                        header = f"# DAG {dag.dag_id}, task {task.task_id}: the pod KubernetesPodOperator would create"
                        documents.append(header + "\n" + yaml.safe_dump(body, sort_keys=False))
    if not documents:
        raise ValueError(f"{dag_file}: no KubernetesPodOperator task found")
    return "---\n".join(documents)


def main(argv: list[str]) -> int:
    dag_file = Path(argv[0]) if argv else DEFAULT_DAG_FILE
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    # Importing Airflow writes a default airflow.cfg into AIRFLOW_HOME: keep it out of ~/airflow.
    if "AIRFLOW_HOME" not in os.environ:
        home = ROOT / ".local" / "demo-cache" / "pod-spec-airflow-home"
        home.mkdir(parents=True, exist_ok=True)
        os.environ["AIRFLOW_HOME"] = str(home)
    try:
        print(render_pod_specs(dag_file), end="")
    except (OSError, ValueError, ImportError) as exc:
        print(f"demo --pod-spec: {exc}", file=sys.stderr)
        return 1
    return 0
