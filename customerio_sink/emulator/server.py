"""HTTP plumbing: a threaded loopback server that routes to the Pipelines, App API and control
handlers and writes their replies.

Measurement hygiene (the benchmark pushes ~200 requests/s of ~490 KB bodies through it):
HTTP/1.1 keep-alive with a ``Content-Length`` on every answer, Nagle's algorithm off (else each
answer waits ~40 ms for a delayed ACK on loopback), each answer written with one ``send``, and
no per-request logging.
"""

from __future__ import annotations

import contextlib
import http
import logging
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from customerio_sink.__version__ import __version__
from customerio_sink.emulator.app_api import AppApi, Query
from customerio_sink.emulator.pipelines import (
    PIPELINES_CALLS,
    PipelinesService,
    Reply,
    error_reply,
)

__all__ = ["EmulatorHTTPServer", "Routes"]

log = logging.getLogger("customerio_sink.emulator")

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
_MAX_CHUNK_LINE = 65537


class Routes(Protocol):
    """What the server routes to."""

    pipelines: PipelinesService
    app_api: AppApi

    def control(self, method: str, path: str, query: Query, body: bytes) -> Reply:
        """Answer ``/_emulator/...``."""
        ...


class EmulatorHTTPServer(ThreadingHTTPServer):
    """One daemon thread per connection; ``close_connections()`` unblocks them on stop."""

    daemon_threads = True
    block_on_close = False  # keep-alive connections must not hold up stop()
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], routes: Routes) -> None:
        self.routes = routes
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish (and the drop faults themselves) are normal here, not tracebacks.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = f"customerio-emulator/{__version__}"
    server: EmulatorHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return  # per-request stderr logging would dominate a benchmark's profile

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        now = time.monotonic()
        parts = urlsplit(self.path)
        path = parts.path
        headers = {name.lower(): value for name, value in self.headers.items()}
        routes = self.server.routes
        call = path[len("/v1/") :].rstrip("/") if path.startswith("/v1/") else ""
        try:
            if method == "POST" and call in PIPELINES_CALLS:
                if routes.pipelines.arrive(now):
                    self._drop()
                    return
                reply = routes.pipelines.handle(call, headers, self._read_body(headers), now)
            elif path.startswith("/v1/"):
                body = self._read_body(headers)
                query = parse_qs(parts.query)
                reply = routes.app_api.handle(method, path, query, headers, body, now)
            elif path.startswith("/_emulator/"):
                body = self._read_body(headers)
                reply = routes.control(method, path, parse_qs(parts.query), body)
            else:
                self._read_body(headers)
                reply = error_reply(404, "not_found", [f"no endpoint {method} {path}"])
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return
        except Exception as exc:  # a bug in the emulator: answer it rather than hang the client
            log.exception("emulator failed on %s %s", method, path)
            reply = error_reply(500, "emulator_error", [f"emulator error: {exc!r}"])
        if reply.delay_s > 0:
            time.sleep(reply.delay_s)
        if reply.drop:
            self._drop()
            return
        self._write(reply)

    def _read_body(self, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline(_MAX_CHUNK_LINE).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(_MAX_CHUNK_LINE) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(_MAX_CHUNK_LINE)

    def _drop(self) -> None:
        """Close the connection without an answer (a reset, as a crashed peer would)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)

    def _write(self, reply: Reply) -> None:
        try:
            phrase = http.HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = "Error"
        headers = {"Content-Type": "application/json", **reply.headers}
        lines = [f"HTTP/1.1 {reply.status} {phrase}", f"Server: {self.server_version}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(reply.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + reply.body)
