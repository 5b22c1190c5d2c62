from __future__ import annotations

import pendulum

from airflow.sdk import dag, task


@dag(dag_id="acme_python_task", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
def build():
    @task
    def transform():
        return 1  # runs in the Airflow worker, not in the package's image

    transform()


build()
