"""A small client of Airflow 3's REST API v2: the only module that talks to Airflow. It decides
nothing (airflow_wait.py does); it turns HTTP failures into the project's errors.

Authentication is the token flow of Airflow 3's auth managers: `POST /auth/token` with a username
and password returns a JWT (`access_token`) sent as `Authorization: Bearer …`; or the caller gives
a token. A rejected token is fetched again once (tokens expire) when a password is known.

Credentials never leave Airflow's origin in clear text or to anyone else: the URL must be https, or
http to a loopback address (or with `allow_http`, `--airflow-allow-http`); a redirect is followed only
within the same origin (scheme, host and port), and one to another origin is refused (a usage error,
kind `airflow_redirect`) without sending it anything.

Reads, each the endpoint the api-server of Airflow 3.3 serves:
    GET /api/v2/dags/{dag_id}          is_stale, last_parsed_time, relative_fileloc, has_import_errors
    GET /api/v2/dagSources/{dag_id}    the DAG file's text as the dag-processor stored it at its last parse
    GET /api/v2/importErrors           filename (relative to the DAGs folder), timestamp, stack_trace
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_dag_publisher.errors import ErrorKind, StorageError, UsageError

PAGE = 100          # Airflow's default [api] maximum_page_limit
MAX_PAGES = 100     # at most 10,000 import errors read per poll


class AirflowApiError(StorageError):
    """Airflow's API did not answer, or answered something this client cannot read (exit 3)."""

    kind = ErrorKind.AIRFLOW_API


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Credentials:
        """AIRFLOW_API_TOKEN, or AIRFLOW_API_USERNAME with AIRFLOW_API_PASSWORD (a usage error names
        what is missing)."""
        token = environ.get("AIRFLOW_API_TOKEN") or None
        user = environ.get("AIRFLOW_API_USERNAME") or None
        password = environ.get("AIRFLOW_API_PASSWORD") or None
        if token:
            return cls(token=token, username=user, password=password)
        if user and password:
            return cls(username=user, password=password)
        if user or password:
            missing = "AIRFLOW_API_PASSWORD" if user else "AIRFLOW_API_USERNAME"
            raise UsageError(f"{missing} is not set: Airflow's API needs AIRFLOW_API_TOKEN, or "
                             "AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD")
        raise UsageError("no Airflow API credentials: set AIRFLOW_API_TOKEN, or AIRFLOW_API_USERNAME and "
                         "AIRFLOW_API_PASSWORD")


@dataclass(frozen=True)
class DagInfo:
    """What Airflow's DAG table says of one dag_id."""

    dag_id: str
    is_stale: bool
    last_parsed: float | None       # epoch seconds
    relative_fileloc: str | None    # relative to the DAGs folder: `<package>/<path>`
    has_import_errors: bool


@dataclass(frozen=True)
class ImportErrorInfo:
    filename: str                   # relative to the DAGs folder
    timestamp: float                # epoch seconds
    stack_trace: str


def parse_time(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the port made explicit."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only within the API's origin: urllib would otherwise send the request's
    Authorization header to wherever the answer points."""

    def __init__(self, home: tuple[str, str, int | None]) -> None:
        self.home = home

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        target = urllib.parse.urljoin(req.full_url, newurl)
        if origin(target) != self.home:
            raise UsageError(f"Airflow's API at {req.full_url} redirected to {target}, another origin: credentials "
                             "are never sent there; give --airflow-url (env AIRFLOW_API_URL) the address that "
                             "answers itself", kind=ErrorKind.AIRFLOW_REDIRECT)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class AirflowApi:
    def __init__(self, url: str, credentials: Credentials, *, timeout: float = 10.0, allow_http: bool = False) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise UsageError(f"--airflow-url {url!r}: expected http(s)://host[:port][/path] (env AIRFLOW_API_URL)")
        home = origin(url)
        if home[0] == "http" and not allow_http and not is_loopback(home[1]):
            raise UsageError(f"--airflow-url {url!r} (env AIRFLOW_API_URL) is plain http to another machine: the "
                             "API password or token would cross the network in clear text; use https, or pass "
                             "--airflow-allow-http (env AIRFLOW_API_ALLOW_HTTP=true) for a network you trust")
        self.url = url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self._token = credentials.token
        self._opener = urllib.request.build_opener(_SameOriginRedirects(home))
        self.requests = 0

    # -- HTTP ----------------------------------------------------------------------------------
    def send(self, method: str, path: str, body: dict[str, Any] | None = None, *, auth: bool = True,
             timeout: float | None = None) -> Any:
        """One request, its JSON answer. An HTTP error status raises _HttpStatus; an unreachable API
        or a body that is not JSON raises AirflowApiError. `timeout` defaults to the client's."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        self.requests += 1
        try:
            with self._opener.open(request, timeout=self.timeout if timeout is None else timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _HttpStatus(exc.code, exc.read()[:2000].decode("utf-8", "replace")) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AirflowApiError(f"cannot reach Airflow's API at {self.url}{path}: {reason}",
                                  kind=ErrorKind.AIRFLOW_UNREACHABLE) from None
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise AirflowApiError(f"{self.url}{path} did not answer JSON: {raw[:200]!r}") from None

    def _get(self, path: str, *, missing_ok: bool = False) -> Any:
        """GET with the bearer token; a 401 fetches a new token once (when a password is known).
        With `missing_ok`, a 404 is None."""
        for attempt in range(2):
            try:
                return self.send("GET", path)
            except _HttpStatus as exc:
                if exc.status == 404 and missing_ok:
                    return None
                if exc.status == 401 and attempt == 0 and self.credentials.password:
                    self._token = None
                    continue
                raise self._translate(exc, path) from None
        return None  # not reached: the second attempt returns or raises

    def _translate(self, exc: _HttpStatus, path: str) -> Exception:
        if exc.status in (401, 403):
            return UsageError(f"Airflow's API refused {self.url}{path} ({exc.status}): check AIRFLOW_API_TOKEN or "
                              "AIRFLOW_API_USERNAME/AIRFLOW_API_PASSWORD and that user's permissions (it needs to "
                              "read DAGs, DAG code and import errors)", kind=ErrorKind.AIRFLOW_AUTH)
        return AirflowApiError(f"Airflow's API answered {exc.status} for {self.url}{path}: {exc.text[:300]}")

    def token(self) -> str:
        if self._token:
            return self._token
        c = self.credentials
        if not (c.username and c.password):
            raise UsageError("no Airflow API credentials: set AIRFLOW_API_TOKEN, or AIRFLOW_API_USERNAME and "
                             "AIRFLOW_API_PASSWORD")
        try:
            answer = self.send("POST", "/auth/token", {"username": c.username, "password": c.password}, auth=False)
        except _HttpStatus as exc:
            if exc.status in (400, 401, 403):
                raise UsageError(f"Airflow refused the login of {c.username!r} at {self.url}/auth/token "
                                 f"({exc.status}): check AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD",
                                 kind=ErrorKind.AIRFLOW_AUTH) from None
            raise AirflowApiError(f"Airflow's API answered {exc.status} for {self.url}/auth/token: "
                                  f"{exc.text[:300]}") from None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise AirflowApiError(f"{self.url}/auth/token answered no access_token")
        self._token = token
        return token

    # -- reads ---------------------------------------------------------------------------------
    def dag(self, dag_id: str) -> DagInfo | None:
        """The DAG as Airflow's DAG table has it, or None when Airflow does not know it."""
        path = f"/api/v2/dags/{urllib.parse.quote(dag_id, safe='')}"
        raw = self._get(path, missing_ok=True)
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise AirflowApiError(f"{self.url}{path}: unexpected answer {str(raw)[:200]}")
        fileloc = raw.get("relative_fileloc")
        return DagInfo(dag_id=dag_id, is_stale=bool(raw.get("is_stale")),
                       last_parsed=parse_time(raw.get("last_parsed_time")),
                       relative_fileloc=fileloc if isinstance(fileloc, str) else None,
                       has_import_errors=bool(raw.get("has_import_errors")))

    def dag_source(self, dag_id: str) -> str | None:
        """The text of the DAG's file as the dag-processor stored it at its last parse (DagCode), or None."""
        raw = self._get(f"/api/v2/dagSources/{urllib.parse.quote(dag_id, safe='')}", missing_ok=True)
        content = raw.get("content") if isinstance(raw, dict) else None
        return content if isinstance(content, str) else None

    def import_errors(self, prefix: str = "") -> list[ImportErrorInfo]:
        """Every import error whose file is under `prefix` (relative to the DAGs folder)."""
        found: list[ImportErrorInfo] = []
        query = {"limit": str(PAGE), "order_by": "import_error_id"}
        if prefix:
            query["filename_prefix_pattern"] = prefix
        for page in range(MAX_PAGES):
            query["offset"] = str(page * PAGE)
            raw = self._get("/api/v2/importErrors?" + urllib.parse.urlencode(query))
            rows = raw.get("import_errors", []) if isinstance(raw, dict) else []
            for row in rows:
                filename = row.get("filename")
                if not isinstance(filename, str) or not filename.startswith(prefix):
                    continue
                found.append(ImportErrorInfo(filename, parse_time(row.get("timestamp")) or 0.0,
                                             str(row.get("stack_trace") or "")))
            if len(rows) < PAGE:
                break
        return found


class _HttpStatus(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.text = text
