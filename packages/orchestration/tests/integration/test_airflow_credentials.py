"""Issue 26, attack 7: Airflow's API credentials (`publish --wait`, AIRFLOW_API_TOKEN or a username and
password) never travel in clear text to another machine, and never follow a redirect to another origin.
The real `airflow-dag-publisher` process publishes to SeaweedFS and waits on a stand-in of Airflow's
API on loopback, which redirects its reads to a second loopback port that records what it receives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from airflow_dag_publisher.airflow_api import AirflowApi, Credentials
from airflow_dag_publisher.errors import UsageError
from airflow_dag_publisher.storage import Storage, manifest_key

from .helpers import write_dag

pytestmark = pytest.mark.usefixtures("s3_env")
PUBLISHER = str(Path(sys.executable).parent / "airflow-dag-publisher")
TOKEN = "token-that-must-stay-home"


class Recorder(ThreadingHTTPServer):
    """An HTTP server on loopback that records every request's path and Authorization header."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.seen: list[tuple[str, str, str | None]] = []
        self.daemon_threads = True
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def handler(redirect_to: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]

        def do_POST(self) -> None:
            self._record()
            self._json(200, {"access_token": TOKEN})

        def do_GET(self) -> None:
            self._record()
            if redirect_to:
                self.send_response(302)
                self.send_header("Location", redirect_to[0] + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._json(404, {"detail": "not found"})

        def _json(self, status: int, doc: Any) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@pytest.fixture
def servers() -> Iterator[tuple[Recorder, Recorder]]:
    """(Airflow's API, which redirects every GET to the other origin; the other origin)."""
    target: list[str] = []
    api, other = Recorder(handler(target)), Recorder(handler([]))
    target.append(other.origin)
    for server in (api, other):
        server.thread.start()
    try:
        yield api, other
    finally:
        for server in (api, other):
            server.shutdown()
            server.server_close()


def publish_and_wait(bucket: str, source: Path, url: str, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PUBLISHER, "publish", "--env", "dev", "--bucket", bucket, "--package", "alpha", "--source", str(source),
         "--skip-dynamic-validation", "--json", "--wait", "5", "--airflow-url", url, *extra],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False)


def test_a_redirect_to_another_origin_gets_no_credentials(tmp_path: Path, bucket: str,
                                                          servers: tuple[Recorder, Recorder]) -> None:
    api, other = servers
    write_dag(tmp_path / "src", "alpha", "daily", 1)
    done = publish_and_wait(bucket, tmp_path / "src", api.origin, AIRFLOW_API_USERNAME="ci",
                            AIRFLOW_API_PASSWORD="pw")
    assert [auth for _, _, auth in other.seen if auth] == [], other.seen  # the token never left Airflow's origin
    assert other.seen == []  # the redirect was not followed at all
    assert api.seen[0][:2] == ("POST", "/auth/token") and any(auth == f"Bearer {TOKEN}" for *_, auth in api.seen)
    assert done.returncode == 2, done.stdout + done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "airflow_redirect" and other.origin in error["message"], error
    assert "credentials" in error["message"]


def test_the_token_of_the_environment_is_not_forwarded_either(tmp_path: Path, bucket: str,
                                                             servers: tuple[Recorder, Recorder]) -> None:
    api, other = servers
    write_dag(tmp_path / "src", "alpha", "daily", 1)
    done = publish_and_wait(bucket, tmp_path / "src", api.origin + "/", AIRFLOW_API_TOKEN="env-token")
    assert other.seen == [] and done.returncode == 2, (other.seen, done.stdout, done.stderr)
    assert api.seen and all(auth == "Bearer env-token" for *_, auth in api.seen)


# Reserved names and documentation addresses; the proxy variables send anything that would still try to
# reach them to a closed loopback port, so this test never leaves the machine whatever the code does.
NOWHERE = {"http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}


@pytest.mark.parametrize("url", ["http://airflow.invalid:8080", "http://192.0.2.7", "http://[2001:db8::1]/"])
def test_plain_http_to_another_machine_is_refused_before_anything_is_written(tmp_path: Path, bucket: str,
                                                                               url: str) -> None:
    write_dag(tmp_path / "src", "alpha", "daily", 1)
    done = publish_and_wait(bucket, tmp_path / "src", url, AIRFLOW_API_TOKEN="env-token", **NOWHERE)
    assert done.returncode == 2, done.stdout + done.stderr
    error = json.loads(done.stdout)["error"]
    assert "--airflow-url" in error["message"] and "--airflow-allow-http" in error["message"], error
    assert Storage(bucket).get(manifest_key("dev", "alpha")).missing  # nothing was published


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:8080/", "http://[::1]:8080",
                                 "http://127.10.0.1", "https://airflow.invalid"])
def test_loopback_http_and_https_anywhere_are_accepted(url: str) -> None:
    assert AirflowApi(url, Credentials(token="t")).url == url.rstrip("/")


def test_plain_http_elsewhere_needs_the_explicit_flag() -> None:
    with pytest.raises(UsageError, match="--airflow-allow-http"):
        AirflowApi("http://airflow.invalid:8080", Credentials(token="t"))
    assert AirflowApi("http://airflow.invalid:8080", Credentials(token="t"), allow_http=True).url
