"""The agent's HTTP server: /metrics (Prometheus text), /healthz (the loop is turning), /readyz (first
sync done, last success recent). It faces the pod's network, so it is built for clients that are slow,
half-open or gone:

- one asyncio loop in one daemon thread serves every connection: a connection costs a socket and a
  coroutine, never a thread;
- a client has REQUEST_TIMEOUT seconds to send its request (at most MAX_REQUEST_BYTES) and as long to
  read the answer, then its connection is closed;
- at most MAX_CONNECTIONS are open at once: one more closes the oldest, so a flood of idle connections
  cannot keep a probe or a scraper out;
- a client that drops, times out or sends garbage is logged at debug level, never with a traceback.

What /metrics exposes: package names, their release ids, per-package refusal counts, cycle, request
and download counters; no bucket, key, credential or file content. The shipped NetworkPolicy
(infra/airflow/k8s/network-policies.yaml) lets only Prometheus reach the port.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable

from airflow_dag_publisher.sync.metrics import CONTENT_TYPE, Metrics

REQUEST_TIMEOUT = 5.0
MAX_REQUEST_BYTES = 8192
MAX_CONNECTIONS = 256
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}

log = logging.getLogger("airflow_dag_publisher.sync.health_server")


class MetricsServer:
    """Binds at construction (an address in use fails here); `start()` serves from a daemon thread."""

    def __init__(self, metrics: Metrics, address: str, port: int, *, ready: Callable[[], bool],
                 alive: Callable[[], bool]) -> None:
        self.metrics, self.ready, self.alive = metrics, ready, alive
        self._open: collections.OrderedDict[int, asyncio.StreamWriter] = collections.OrderedDict()
        self._loop = asyncio.new_event_loop()
        try:
            self._server = self._loop.run_until_complete(asyncio.start_server(
                self._serve, address, port, limit=MAX_REQUEST_BYTES, backlog=128))
        except BaseException:
            self._loop.close()
            raise
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._thread = threading.Thread(target=self._loop.run_forever, name="dagsync-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            for writer in list(self._open.values()):
                writer.close()
            await self._server.wait_closed()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()

    # -- one connection ----------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        key = id(writer)
        self._open[key] = writer
        if len(self._open) > MAX_CONNECTIONS:
            _, oldest = self._open.popitem(last=False)
            log.debug("metrics server: %d connections open; closing the oldest", MAX_CONNECTIONS)
            oldest.close()
        peer = writer.get_extra_info("peername")
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            status, body, ctype, head_only = self._answer(head)
            writer.write(_response(status, body, ctype, head_only))
            await asyncio.wait_for(writer.drain(), REQUEST_TIMEOUT)
        except (TimeoutError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError, OSError) as exc:
            log.debug("metrics server: client %s dropped: %s", peer, type(exc).__name__)
        except Exception as exc:  # a bug of this server: one line, no traceback
            log.warning("metrics server: request from %s failed: %s: %s", peer, type(exc).__name__, exc)
        finally:
            self._open.pop(key, None)
            writer.close()

    def _answer(self, head: bytes) -> tuple[int, str, str, bool]:
        """(status, body, content type, HEAD) for a request's head."""
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return 400, "bad request\n", "text/plain; charset=utf-8", False
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "method not allowed\n", "text/plain; charset=utf-8", False
        head_only = method == "HEAD"
        text = "text/plain; charset=utf-8"
        if target == "/metrics":
            return 200, self.metrics.render(), CONTENT_TYPE, head_only
        if target == "/healthz":
            ok = self.alive()
            return (200 if ok else 503), ("ok\n" if ok else "stuck: no sync cycle started recently\n"), text, head_only
        if target == "/readyz":
            ok = self.ready()
            return (200 if ok else 503), ("ready\n" if ok else "not ready\n"), text, head_only
        return 404, "not found\n", text, head_only


def _response(status: int, body: str, ctype: str, head_only: bool) -> bytes:
    data = body.encode()
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode("latin-1")
    return head if head_only else head + data


__all__ = ["MAX_CONNECTIONS", "REQUEST_TIMEOUT", "MetricsServer"]
