"""The validated description of one generated DAG: a package's job run by KubernetesPodOperator."""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "etl-jobs"


@dataclass(frozen=True)
class Toleration:
    key: str | None
    operator: str  # "Equal" or "Exists"
    value: str | None
    effect: str | None  # NoSchedule, PreferNoSchedule, NoExecute, or None for every effect
    toleration_seconds: int | None


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


@dataclass(frozen=True)
class JobSpec:
    package: str
    name: str
    image: str
    schedule: str | None
    command: tuple[str, ...]
    arguments: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    resources: Resources
    retries: int
    retry_delay_seconds: int
    execution_timeout_seconds: int | None
    service_account: str | None
    node_selector: tuple[tuple[str, str], ...]
    tolerations: tuple[Toleration, ...]
    labels: tuple[tuple[str, str], ...]
    tags: tuple[str, ...]
    owner: str
    description: str | None
    paused: bool = False  # the DAG's is_paused_upon_creation: a new DAG starts active unless this says so

    @property
    def dag_id(self) -> str:
        return f"{self.package}_{self.name}"

    @property
    def file_name(self) -> str:
        return f"{self.dag_id}.py"

    @property
    def pod_name(self) -> str:
        """A DNS-1123 base name for the pod (KubernetesPodOperator appends a random suffix)."""
        return self.dag_id.replace("_", "-")[:50].rstrip("-")
