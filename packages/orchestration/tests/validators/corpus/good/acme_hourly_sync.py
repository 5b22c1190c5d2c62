from __future__ import annotations

import pendulum
from kubernetes.client import models as k8s

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import dag


@dag(schedule="@hourly", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False,
     is_paused_upon_creation=False)
def acme_hourly_sync():
    KubernetesPodOperator(
        task_id="sync",
        namespace="etl-jobs",
        image="registry.example.com/acme/jobs:1.4.2",
        cmds=["python", "-m", "acme.sync"],
        on_finish_action="delete_pod",
        get_logs=True,
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "50m", "memory": "64Mi"},
            limits={"cpu": "500m", "memory": "256Mi"},
        ),
    )


acme_hourly_sync()
