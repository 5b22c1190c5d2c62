"""Airflow 3 as the demo runs it, built on devstack.airflow: api-server, scheduler, dag-processor
and triggerer, each its own process group, in a local AIRFLOW_HOME with SQLite, configured from the
Helm values (see demo_config), and a small REST client (SimpleAuthManager login, /api/v2/dags) to
see what the UI shows."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_dag_publisher.airflow_api import AirflowApi, Credentials

from devstack.airflow import AirflowStack
from devstack.demo_procs import Supervisor

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN_USER = "admin"


def airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


class DemoAirflow(AirflowStack):
    """devstack.airflow's stack with all four components, the Helm values' configuration (exactly,
    in place of the test defaults), the api-server on a loopback port, a SimpleAuthManager login
    and a database copied from a cache of migrated ones."""

    dropped_prefixes = ("AIRFLOW__", "DAGSYNC_")

    def __init__(self, home: Path, dags_dir: Path, *, port: int, config_env: Mapping[str, str], cache_dir: Path,
                 start_timeout: float = 300.0) -> None:
        super().__init__(home, dags_dir, components=COMPONENTS, start_timeout=start_timeout)
        self.config = dict(config_env)
        self.dags_dir = self.dags_folder
        self.port = port
        self.cache_dir = cache_dir
        self.password = ""
        self._api: AirflowApi | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def password_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update({
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.password_file),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret"),
            "AIRFLOW__API__SECRET_KEY": self._secret("api_secret_key"),
            # Production mounts the DAGs read-only: no __pycache__ inside the agent's releases.
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        return env

    def _secret(self, name: str) -> str:
        path = self.home / f".{name}"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def prepare(self, password: str) -> None:
        """AIRFLOW_HOME with the login and a migrated database (copied from the cache when this
        Airflow version was migrated before: `airflow db migrate` takes half a minute)."""
        for folder in (self.home, self.dags_folder, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.password = password
        # SimpleAuthManager keeps its users' passwords in this file and generates one only for a
        # user it does not find there: writing it first fixes the demo's login.
        self.password_file.write_text(json.dumps({ADMIN_USER: password}) + "\n")
        cached = self.cache_dir / f"airflow-{airflow_version()}.db"
        if cached.exists():
            shutil.copyfile(cached, self.db_path)
            return
        self.migrate()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.db_path, cached.with_suffix(".tmp"))
        cached.with_suffix(".tmp").replace(cached)

    def start_recorded(self, supervisor: Supervisor) -> None:
        """Start the components and record their process groups (a killed demo's are found later)."""
        self.start()
        for name, proc in self.procs.items():
            supervisor.adopt(f"airflow-{name}", proc.pid)

    # --- the REST API -------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, *, auth: bool = True,
                 timeout: float = 10) -> Any:
        return self.api().send(method, path, body, auth=auth, timeout=timeout)

    def api(self) -> AirflowApi:
        """The publisher's Airflow API client, logged in as the demo's admin (it keeps the token)."""
        if self._api is None or self._api.credentials.password != self.password:
            self._api = AirflowApi(self.url, Credentials(username=ADMIN_USER, password=self.password))
        return self._api

    def token(self) -> str:
        return self.api().token()

    def dag_ids(self) -> list[str]:
        answer = self._request("GET", "/api/v2/dags?limit=1000&order_by=dag_id")
        return sorted(str(d["dag_id"]) for d in answer.get("dags", []))

    def dags(self) -> dict[str, dict[str, Any]]:
        answer = self._request("GET", "/api/v2/dags?limit=1000&order_by=dag_id")
        return {str(d["dag_id"]): d for d in answer.get("dags", [])}

    def api_import_errors(self) -> list[str]:
        answer = self._request("GET", "/api/v2/importErrors?limit=100")
        return [f"{e.get('filename')}: {str(e.get('stack_trace', '')).strip().splitlines()[-1:]}"
                for e in answer.get("import_errors", [])]
