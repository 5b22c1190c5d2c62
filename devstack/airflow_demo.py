"""Airflow 3 as the demo runs it: api-server, scheduler, dag-processor and triggerer, each its own
process, in a local AIRFLOW_HOME with SQLite, configured from the Helm values (see demo_config),
and a small REST client (SimpleAuthManager login, /api/v2/dags) to see what Airflow shows."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.demo_procs import Supervisor

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN_USER = "admin"


def airflow_bin() -> str:
    here = Path(sys.executable).parent / "airflow"
    return str(here) if here.exists() else "airflow"


def airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


@dataclass
class AirflowStack:
    home: Path                  # AIRFLOW_HOME (airflow.db, logs, the password file)
    dags_dir: Path              # the DAGs folder Airflow walks
    port: int                   # api-server port on 127.0.0.1
    config_env: Mapping[str, str]   # AIRFLOW__* from the Helm values
    cache_dir: Path             # a migrated empty database, reused across runs
    password: str = ""
    _token: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def password_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        env = dict(base)
        env.update(self.config_env)
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_dir),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.password_file),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret"),
            "AIRFLOW__API__SECRET_KEY": self._secret("api_secret_key"),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "AIRFLOW__CORE__PARALLELISM": "4",
            # Production mounts the DAGs read-only: no __pycache__ inside the agent's releases.
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        return env

    def _secret(self, name: str) -> str:
        path = self.home / f".{name}"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def prepare(self, base_env: Mapping[str, str], password: str, timeout: float = 300) -> None:
        """Create AIRFLOW_HOME with the login and a migrated database (copied from the cache when
        this Airflow version was migrated before: `airflow db migrate` takes half a minute)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.dags_dir.mkdir(parents=True, exist_ok=True)
        self.password = password
        # SimpleAuthManager keeps the passwords of its users in this file and generates a password
        # only for a user it does not find there: writing it first fixes the demo's login.
        self.password_file.write_text(json.dumps({ADMIN_USER: password}) + "\n")
        cached = self.cache_dir / f"airflow-{airflow_version()}.db"
        database = self.home / "airflow.db"
        if not cached.exists():
            proc = subprocess.run([airflow_bin(), "db", "migrate"], env=self.env(base_env), capture_output=True,
                                  text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
                raise RuntimeError(f"`airflow db migrate` failed (exit {proc.returncode}):\n{tail}")
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(database, cached.with_suffix(".tmp"))
            cached.with_suffix(".tmp").replace(cached)
        else:
            shutil.copyfile(cached, database)

    def start(self, supervisor: Supervisor, base_env: Mapping[str, str]) -> None:
        env = self.env(base_env)
        for component in COMPONENTS:
            supervisor.start(f"airflow-{component}", [airflow_bin(), component], env, cwd=self.home)

    # --- the REST API -------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, *, auth: bool = True,
                 timeout: float = 10) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")

    def healthy(self) -> bool:
        try:
            self._request("GET", "/api/v2/monitor/health", auth=False, timeout=3)
        except (OSError, ValueError):
            return False
        return True

    def token(self) -> str:
        if not self._token:
            answer = self._request("POST", "/auth/token", {"username": ADMIN_USER, "password": self.password},
                                   auth=False)
            self._token = str(answer["access_token"])
        return self._token

    def dag_ids(self) -> list[str]:
        answer = self._request("GET", "/api/v2/dags?limit=1000&order_by=dag_id")
        return sorted(str(d["dag_id"]) for d in answer.get("dags", []))

    def dags(self) -> dict[str, dict[str, Any]]:
        answer = self._request("GET", "/api/v2/dags?limit=1000&order_by=dag_id")
        return {str(d["dag_id"]): d for d in answer.get("dags", [])}

    def import_errors(self) -> list[str]:
        answer = self._request("GET", "/api/v2/importErrors?limit=100")
        return [f"{e.get('filename')}: {str(e.get('stack_trace', '')).strip().splitlines()[-1:]}"
                for e in answer.get("import_errors", [])]

    def wait_healthy(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self.healthy():
                return True
            time.sleep(0.5)
        return False


def is_http_error(exc: BaseException) -> bool:
    return isinstance(exc, urllib.error.HTTPError)
