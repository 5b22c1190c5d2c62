"""Helpers of the reliability suite: self-describing releases (every file carries the release's
token, and the token names the release's file set), a continuous DAGs-folder sampler, the real
`airflow-dag-sync` and `airflow-dag-publisher` binaries as subprocesses, and bucket checks."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_dag_publisher.manifest import ReleaseManifest, parse_manifest
from airflow_dag_publisher.release_reader import read_history
from airflow_dag_publisher.storage import Storage, dag_key, manifest_key
from airflow_dag_publisher.sync.releases import TEMP_LINK_MARK

from devstack.dagfiles import kpo_dag
from devstack.seaweedfs import free_port

BIN = Path(sys.executable).parent
EXTRAS = 4  # optional files a release may hold: sql/extra_<k>.sql, chosen by the token's mask
_TOKEN = re.compile(rb"RELEASE_TOKEN = \"([0-9a-z]+)-([0-9]+)\"")



# -- releases that describe themselves ----------------------------------------------------------
def token(serial: int, mask: int) -> str:
    return f"{serial:x}-{mask}"


def expected_paths(package: str, mask: int) -> set[str]:
    return {f"{package}_daily.py", "helper.py"} | {f"sql/extra_{k}.sql" for k in range(EXTRAS) if mask >> k & 1}


def release_files(package: str, serial: int, mask: int, *, pad: int = 20_000) -> dict[str, bytes]:
    """A release of `package` whose every file carries RELEASE_TOKEN = "<serial>-<mask>"."""
    tok = token(serial, mask)
    files = {
        f"{package}_daily.py": kpo_dag(package, "daily", preamble=f'from {package}.helper import TOKEN\n\n'
                                       f'RELEASE_TOKEN = "{tok}"\n', tags=f'["{package}", TOKEN]').encode(),
        "helper.py": f'TOKEN = "{tok}"\nRELEASE_TOKEN = "{tok}"\n'.encode(),
    }
    for k in range(EXTRAS):
        if mask >> k & 1:
            body = f'-- RELEASE_TOKEN = "{tok}"\n'.encode()
            files[f"sql/extra_{k}.sql"] = body + b"-- padding\n" * (pad // 11)
    return files


def write_source(folder: Path, files: dict[str, bytes]) -> Path:
    if folder.exists():
        for old in sorted(folder.rglob("*"), reverse=True):
            old.rmdir() if old.is_dir() else old.unlink()
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    return folder


def release_problem(package: str, files: dict[str, bytes]) -> str | None:
    """Why a set of files is not exactly one release of `package` (None when it is)."""
    tokens = set()
    for path, data in files.items():
        m = _TOKEN.search(data)
        if m is None:
            return f"{path} carries no release token"
        tokens.add((m.group(1).decode(), int(m.group(2))))
    if len(tokens) != 1:
        return f"files of {len(tokens)} releases mixed: {sorted(tokens)}"
    (_, mask), = tokens
    if set(files) != expected_paths(package, mask):
        return f"file set {sorted(files)} is not release mask {mask}'s {sorted(expected_paths(package, mask))}"
    return None


def release_token(files: dict[str, bytes]) -> str:
    m = _TOKEN.search(files["helper.py"])
    assert m is not None
    return f"{m.group(1).decode()}-{m.group(2).decode()}"


# -- the DAGs folder, sampled as Airflow would read it -----------------------------------------
def read_tree(root: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for dirpath, _dirs, names in os.walk(root, followlinks=True):
        for name in names:
            full = Path(dirpath) / name
            out[full.relative_to(root).as_posix()] = full.read_bytes()
    return out


@dataclass
class FolderSampler:
    """Reads the DAGs folder continuously in a thread. Each package link is resolved once per
    sample (a release directory is immutable), then every file is read: one sample is "torn" when
    its files are not exactly one release. Anything in the folder but package links (and the agent's
    `.airflowignore` with the temporary links it hides) is a stray."""

    dags: Path
    packages: tuple[str, ...]
    period: float = 0.002
    max_seconds: float = 900.0
    samples: int = 0
    torn: list[str] = field(default_factory=list)
    strays: set[str] = field(default_factory=set)
    seen: dict[str, Counter[str]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> FolderSampler:
        self.seen = {p: Counter() for p in self.packages}
        self._thread = threading.Thread(target=self._run, name="folder-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def __enter__(self) -> FolderSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sample_once(self) -> None:
        try:
            entries = sorted(os.listdir(self.dags))
        except FileNotFoundError:
            return
        for name in entries:
            link = self.dags / name
            if name == ".airflowignore" or (name.startswith(".") and TEMP_LINK_MARK in name):
                continue  # the agent's ignore file, and a swap's temporary link that the file hides from Airflow
            if name not in self.packages or not link.is_symlink():
                self.strays.add(name)
                continue
            try:
                real = Path(os.path.realpath(link))
                files = read_tree(real)
            except FileNotFoundError as exc:  # the link moved on and the old release was cleaned
                self.torn.append(f"{name}: release vanished while being read ({exc})")
                continue
            problem = release_problem(name, files)
            if problem:
                self.torn.append(f"{name} -> {real.name}: {problem}")
            else:
                self.seen[name][release_token(files)] += 1
        self.samples += 1

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < end:
            self.sample_once()
            self._stop.wait(self.period)


# -- the real binaries ---------------------------------------------------------------------------
def publish_cmd(bucket: str, env: str, package: str, source: Path) -> list[str]:
    return [str(BIN / "airflow-dag-publisher"), "publish", "--env", env, "--bucket", bucket, "--package", package,
            "--source", str(source), "--skip-dynamic-validation", "--json"]


def run_publish(bucket: str, env: str, package: str, source: Path, *, timeout: float = 120
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(publish_cmd(bucket, env, package, source), capture_output=True, text=True,
                          env=dict(os.environ), timeout=timeout, check=False, stdin=subprocess.DEVNULL)


class Agent:
    """`airflow-dag-sync` as its own process, with its metrics server on a loopback port."""

    def __init__(self, bucket: str, env: str, dags: Path, log: Path, *, interval: float = 0.2,
                 extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.log = log
        self.dags = dags
        cmd = [str(BIN / "airflow-dag-sync"), "--bucket", bucket, "--env", env, "--dags-dir", str(dags),
               "--interval", str(interval), "--metrics-port", str(self.port), "--metrics-address", "127.0.0.1",
               "--s3-timeout", "2", *extra]
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=dict(os.environ), start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        """(status, body) of a metrics-server path; (0, reason) when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (urllib.error.URLError, OSError) as exc:
            return 0, str(exc)

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels` (0 when absent)."""
        status, text = self.get("/metrics")
        if status != 200:
            return float("nan")
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            if head.split("{")[0] != name:
                continue
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
            except ProcessLookupError:
                pass
        return self.proc.returncode

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(predicate: Any, *, timeout: float, period: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(period)
    return bool(predicate())


# -- the bucket ------------------------------------------------------------------------------------
def current_release(storage: Storage, env: str, package: str) -> ReleaseManifest | None:
    obj = storage.get(manifest_key(env, package)).obj
    if obj is None:
        return None
    return parse_manifest(obj.body, source=obj.key, env=env, package=package)


def verified_files(storage: Storage, manifest: ReleaseManifest) -> dict[str, bytes]:
    """Every pinned version of the release, each checked against its sha256 and size."""
    out = {}
    for f in manifest.files:
        assert f.version_id is not None
        obj = storage.get(dag_key(manifest.env, manifest.package, f.path), version_id=f.version_id).obj
        assert obj is not None, f"{f.path}@{f.version_id} missing"
        assert hashlib.sha256(obj.body).hexdigest() == f.sha256 and len(obj.body) == f.size, f.path
        out[f.path] = obj.body
    return out


def chain_problems(storage: Storage, env: str, package: str) -> tuple[int, list[str]]:
    """The package's history must be one chain: newest first, each release's parent the next one."""
    history, warnings = read_history(storage, env, package)
    problems = [f"history warning: {w}" for w in warnings]
    parents = Counter(m.previous_release_id for m in history)
    problems += [f"{n} releases share the parent {p}" for p, n in parents.items() if n > 1]
    for newer, older in itertools.pairwise(history):
        if newer.previous_release_id != older.release_id:
            problems.append(f"{newer.release_id}'s parent is {newer.previous_release_id}, not {older.release_id}")
    if history and history[-1].previous_release_id is not None:
        problems.append(f"the first release {history[-1].release_id} has a parent")
    return len(history), problems


def iter_outside(root: Path, inside: tuple[Path, ...]) -> Iterator[str]:
    """Every path under root that is not under one of `inside` (escapes land there)."""
    for dirpath, dirs, names in os.walk(root):
        here = Path(dirpath)
        dirs[:] = [d for d in dirs if not any((here / d) == p for p in inside)]
        for name in names + dirs:
            if not any((here / name) in p.parents for p in inside):  # an ancestor of an allowed folder
                yield (here / name).relative_to(root).as_posix()


def dump(obj: Any) -> bytes:
    return json.dumps(obj).encode()


# -- writing straight into the bucket (what a tampered bucket or a rogue CI could do) -----------
class BucketWriter:
    """Writes files, manifests and journal entries directly, bypassing the publisher's checks."""

    def __init__(self, storage: Storage, env: str) -> None:
        self.storage = storage
        self.env = env
        self._ms = 0

    def put_file(self, package: str, path: str, data: bytes) -> dict[str, Any]:
        stored = self.storage.put(dag_key(self.env, package, path), data)
        return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                "version_id": stored.version_id}

    def manifest(self, package: str, files: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "schema_version": 1, "env": self.env, "package": package, "release_id": f"r{time.time_ns():x}",
            "content_digest": digest_of(files), "created_at": "2026-11-27T10:15:00Z", "published_by": "tests",
            "git_sha": None, "image": None, "tool_version": "", "previous_release_id": None, "retired": False,
            "dag_ids": [], "files": files,
        }
        raw.update(overrides)
        return raw

    def release(self, package: str, files: dict[str, bytes]) -> dict[str, Any]:
        raw = self.manifest(package, [self.put_file(package, p, d) for p, d in sorted(files.items())])
        self.commit(package, dump(raw))
        return raw

    def commit(self, package: str, body: bytes) -> None:
        self.storage.put(manifest_key(self.env, package), body, content_type="application/json")
        self.journal(package)

    def journal(self, package: str) -> None:
        from airflow_dag_publisher.storage import journal_key

        self._ms = max(int(time.time() * 1000), self._ms + 1)
        self.storage.put(journal_key(self.env, package, self._ms), b"")


def digest_of(files: list[dict[str, Any]]) -> str:
    """The content digest of raw file entries (a zero digest when a path cannot be encoded)."""
    h = hashlib.sha256()
    try:
        for f in sorted(files, key=lambda f: str(f["path"])):
            h.update(f"{f['sha256']}  {f['path']}\n".encode())
    except (UnicodeEncodeError, KeyError, TypeError):
        return "sha256:" + "0" * 64
    return "sha256:" + h.hexdigest()


# -- an S3 endpoint that can be stopped and started: a loopback TCP proxy ------------------------
class SwitchableProxy:
    """A loopback TCP proxy in front of the S3 server. `stop()` closes the listening socket and
    resets every open connection (what clients see when the server process dies: refused and
    reset connections); `start()` listens again on the same port."""

    def __init__(self, upstream_port: int) -> None:
        import socket

        self.upstream = ("127.0.0.1", upstream_port)
        self.port = free_port()
        self._socket = socket
        self._listener: Any = None
        self._conns: set[Any] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SwitchableProxy:
        s = self._socket.socket(self._socket.AF_INET, self._socket.SOCK_STREAM)
        s.setsockopt(self._socket.SOL_SOCKET, self._socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self._listener = s
        self._thread = threading.Thread(target=self._accept, args=(s,), daemon=True, name="s3-proxy")
        self._thread.start()
        return self

    def stop(self) -> None:
        import struct

        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib_suppress():
                listener.shutdown(self._socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for c in conns:
            with contextlib_suppress():
                c.setsockopt(self._socket.SOL_SOCKET, self._socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
        if self._thread:
            self._thread.join(timeout=5)

    def _accept(self, listener: Any) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = self._socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._conns.update({client, upstream})
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: Any, dst: Any) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib_suppress():
                    s.close()
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)


def contextlib_suppress() -> Any:
    import contextlib

    return contextlib.suppress(OSError)
