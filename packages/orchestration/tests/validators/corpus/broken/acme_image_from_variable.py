from __future__ import annotations

import pendulum
from kubernetes.client import models as k8s

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG
IMAGE = "registry.example.com:5000/acme/jobs"  # untagged, behind a port
with DAG(dag_id="acme_image_from_variable", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
    KubernetesPodOperator(
        task_id="run",
        namespace="etl-jobs",
        image=IMAGE,
        on_finish_action="delete_pod",
        get_logs=True,
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "1", "memory": "512Mi"}
        ),
    )
