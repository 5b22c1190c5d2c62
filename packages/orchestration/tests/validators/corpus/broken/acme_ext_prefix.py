from __future__ import annotations

import pendulum
from kubernetes.client import models as k8s

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG

with DAG(dag_id="acme_ext_report", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
    KubernetesPodOperator(
        task_id="run",
        namespace="etl-jobs",
        image="registry.example.com/acme/jobs:1.0.0",
        on_finish_action="delete_pod",
        get_logs=True,
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "1", "memory": "512Mi"}
        ),
    )
