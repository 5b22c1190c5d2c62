"""A correct DAG: KubernetesPodOperator with every convention, arguments from a shared helper."""

from __future__ import annotations

import pendulum
from kubernetes.client import models as k8s

from acme.settings import IMAGE
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

RESOURCES = k8s.V1ResourceRequirements(
    requests={"cpu": "100m", "memory": "256Mi"},
    limits={"cpu": "1", "memory": "1Gi"},
)

with DAG(
    dag_id="acme_daily_load",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["acme"],
) as dag:
    start = EmptyOperator(task_id="start")
    for step in ("extract", "load"):
        start >> KubernetesPodOperator(
            task_id=step,
            namespace="etl-jobs",
            image=IMAGE,
            cmds=["python", "-m", f"acme.{step}"],
            on_finish_action="delete_pod",
            get_logs=True,
            container_resources=RESOURCES,
        )
