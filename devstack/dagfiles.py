"""Conforming DAG files for the tests and benchmarks: one KubernetesPodOperator task that follows
every convention of the validator (namespace etl-jobs, pinned image, delete_pod, logs, resources).
The one template the test helpers and bench/ share; `generate` is tested on its own output."""

from __future__ import annotations

from pathlib import Path

_TEMPLATE = '''\
from __future__ import annotations
{imports}
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG
from kubernetes.client import models as k8s
{preamble}
with DAG(dag_id="{dag_id}", schedule={schedule}, catchup=False, tags={tags}{start_date}{description}) as dag:
    KubernetesPodOperator(
        task_id="run",
        name="run",
        namespace="etl-jobs",
        image="{image}",
        cmds=["python", "-m", "{module}"],
        on_finish_action="delete_pod",
        get_logs=True,
        container_resources=k8s.V1ResourceRequirements(
            requests={{"cpu": "100m", "memory": "128Mi"}}, limits={{"cpu": "500m", "memory": "256Mi"}}
        ),
    )
'''


def kpo_dag(package: str, name: str, *, image: str | None = None, schedule: str | None = None,
            preamble: str = "", tags: str | None = None, start_date: bool = False,
            description: str | None = None) -> str:
    """The source of DAG `<package>_<name>`. `schedule` is written as given (a Python literal:
    '"@daily"'); `preamble` goes after the imports; `tags` is a Python expression."""
    return _TEMPLATE.format(
        imports="\nimport pendulum\n" if start_date else "",
        preamble=f"\n{preamble}\n" if preamble else "",
        dag_id=f"{package}_{name}", schedule=schedule or "None", tags=tags or f'["{package}"]',
        start_date=', start_date=pendulum.datetime(2026, 1, 1, tz="UTC")' if start_date else "",
        description=f", description={description!r}" if description else "",
        image=image or f"registry.example.com/{package}:1.0.0", module=f"{package}.jobs.{name}")


def write_kpo_dag(folder: Path, package: str, name: str, **options: object) -> Path:
    """Write `<folder>/<package>_<name>.py` (options as `kpo_dag`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{package}_{name}.py"
    path.write_text(kpo_dag(package, name, **options))  # type: ignore[arg-type]
    return path
