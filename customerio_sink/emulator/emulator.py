"""The :class:`Emulator`: a loopback Customer.io (Data Pipelines + a read-only App API) to point
a sink at, with what it received, what it did to the workspace, and switchable faults."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

import orjson

from customerio_sink.emulator.app_api import AppApi, Query
from customerio_sink.emulator.faults import FaultConfig, Faults
from customerio_sink.emulator.pipelines import (
    PipelinesConfig,
    PipelinesService,
    Reply,
    error_reply,
    json_reply,
)
from customerio_sink.emulator.ratelimit import SlidingWindowBudget
from customerio_sink.emulator.server import EmulatorHTTPServer
from customerio_sink.emulator.state import EmulatorStats, Recorder, Rejection, RequestRecord
from customerio_sink.emulator.validation import MessageValidator

__all__ = ["Emulator"]


class Emulator:
    """A Customer.io emulator on ``host:port`` (port 0 picks a free one); a context manager.

    Pipelines (``POST {url}/v1/identify|track|page|screen|group|alias|batch``): Basic auth with
    one of ``keys`` (Bearer for ``pk_``/``sk_`` region keys), strict mode per request
    (``X-Strict-Mode: 1``, or every request when ``strict_default``), ``max_message_bytes`` per
    call and ``max_request_bytes`` per decoded body, a sliding budget of ``rate_limit`` requests
    per ``rate_window_s`` per key (429 + ``Retry-After``), validation against the OpenAPI file
    (``openapi_path``, ``$CUSTOMERIO_OPENAPI_PATH``, else the copy shipped in the package; with
    ``builtin_rules_only``, built-in rules only — see ``validation_source``). ``fast=True``
    skips schema validation and message recording (see
    :mod:`customerio_sink.emulator.fastscan` for what it still checks).

    App API (``GET {url}/v1/...``): Bearer with one of ``app_api_keys``, ``app_rate_limit``
    requests per ``app_rate_window_s`` per key; see :mod:`customerio_sink.emulator.app_api`.

    Control: ``GET /_emulator/stats|messages|rejections|state|faults``, ``POST
    /_emulator/reset``, ``POST /_emulator/faults`` (JSON body = :meth:`set_faults` arguments).

    Raises ``FileNotFoundError`` when ``openapi_path`` is given and missing.
    """

    def __init__(
        self,
        keys: Sequence[str] = ("test-key",),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fast: bool = False,
        strict_default: bool = False,
        rate_limit: int = 3000,
        rate_window_s: float = 3.0,
        max_message_bytes: int = 32768,
        max_request_bytes: int = 500_000,
        openapi_path: str | os.PathLike[str] | None = None,
        builtin_rules_only: bool = False,
        app_api_keys: Sequence[str] = ("app-key",),
        app_rate_limit: int = 10,
        app_rate_window_s: float = 1.0,
    ) -> None:
        if isinstance(keys, str) or isinstance(app_api_keys, str):
            raise TypeError("keys and app_api_keys are sequences of keys, not one string")
        if not keys:
            raise ValueError("the emulator needs at least one Pipelines key")
        self.host = host
        self._requested_port = port
        self.fast = fast
        self.strict_default = strict_default
        self.validator = MessageValidator(openapi_path, builtin_only=builtin_rules_only)
        self.faults = Faults()
        self.recorder = Recorder(rate_window_s)
        self.budget = SlidingWindowBudget(rate_limit, rate_window_s)
        config = PipelinesConfig(
            keys=tuple(keys),
            fast=fast,
            strict_default=strict_default,
            max_message_bytes=max_message_bytes,
            max_request_bytes=max_request_bytes,
        )
        self.pipelines = PipelinesService(
            config, self.recorder, self.faults, self.budget, self.validator
        )
        self.app_api = AppApi(
            app_api_keys, self.recorder, lambda: self.url, app_rate_limit, app_rate_window_s
        )
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind and serve in a daemon thread (no-op when already running)."""
        with self._lock:
            if self._server is None:
                server = EmulatorHTTPServer((self.host, self._requested_port), self)
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.01},  # stop() waits up to one poll
                    name=f"customerio-emulator:{server.server_address[1]}",
                    daemon=True,
                )
                thread.start()
                self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving and close open connections (no-op when stopped)."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port. Raises ``RuntimeError`` before :meth:`start`."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://<host>:<port>`` — clients post to ``f"{url}/v1/batch"``."""
        return f"http://{self.host}:{self.port}"

    @property
    def validation_source(self) -> str:
        """``"openapi:<path>"`` or ``"builtin"``."""
        return self.validator.source

    # -- what was received ---------------------------------------------------------------

    def stats(self) -> EmulatorStats:
        """A snapshot of the Pipelines traffic so far: counts of requests, messages, duplicates,
        statuses and body sizes (see :class:`EmulatorStats`)."""
        return self.recorder.stats()

    def messages(self, type: str | None = None) -> list[dict[str, Any]]:
        """Accepted calls (batch items expanded, each with ``type``) in arrival order, optionally
        of one type; empty in fast mode. Treat them as read-only."""
        return self.recorder.messages(type)

    def request_log(self) -> list[RequestRecord]:
        """Every answered Pipelines request in arrival order: ``(at, status, retry_after)``, with
        ``at`` from ``time.monotonic()`` (comparable across processes on this machine)."""
        return self.recorder.request_log()

    def message_id_counts(self) -> Counter[str]:
        """How many times each ``messageId`` was accepted."""
        return self.recorder.message_id_counts()

    def rejections(self) -> list[Rejection]:
        """Every rejected message in arrival order, each with its reasons and the HTTP status its
        request got (see :class:`Rejection`); copies, safe to keep."""
        return self.recorder.rejections()

    @property
    def people(self) -> dict[str, dict[str, Any]]:
        """userId -> ``{"traits": {...}, "suppressed": bool}`` (see ``workspace`` for the rules)."""
        return self.recorder.workspace.people

    @property
    def objects(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(objectTypeId as str, groupId) -> traits."""
        return self.recorder.workspace.objects

    @property
    def relationships(self) -> set[tuple[str, str, str]]:
        """{(userId, objectTypeId as str, groupId)}."""
        return self.recorder.workspace.relationships

    @property
    def devices(self) -> dict[str, dict[str, dict[str, Any]]]:
        """userId -> {device token -> attributes}."""
        return self.recorder.workspace.devices

    def reset(self) -> None:
        """Forget everything received (stats, messages, state, exports, rate windows) and clear
        the faults; the configuration stays."""
        self.recorder.reset()
        self.faults.clear()
        self.budget.reset()
        self.app_api.reset()

    # -- faults --------------------------------------------------------------------------

    def set_faults(
        self,
        error_rate: float = 0.0,
        error_status: int = 503,
        latency_ms: float = 0.0,
        drop_before_read: float = 0.0,
        drop_after_accept: float = 0.0,
        storm_seconds: float = 0.0,
        storm_retry_after: int = 1,
        reject_message_ids: Iterable[str] = (),
        seed: int | None = None,
    ) -> FaultConfig:
        """Replace the fault configuration (see :class:`FaultConfig`); takes effect for the next
        request. Raises ``ValueError`` for out-of-range values."""
        return self.faults.set(
            error_rate=error_rate,
            error_status=error_status,
            latency_ms=latency_ms,
            drop_before_read=drop_before_read,
            drop_after_accept=drop_after_accept,
            storm_seconds=storm_seconds,
            storm_retry_after=storm_retry_after,
            reject_message_ids=reject_message_ids,
            seed=seed,
        )

    def clear_faults(self) -> None:
        """Turn every fault off (back to the default :class:`FaultConfig`)."""
        self.faults.clear()

    # -- control endpoints ---------------------------------------------------------------

    def state_snapshot(self) -> dict[str, Any]:
        """People, objects, relationships and devices as JSON-ready values."""
        return {
            "people": self.people,
            "objects": [
                {"objectTypeId": t, "groupId": g, "traits": traits}
                for (t, g), traits in self.objects.items()
            ],
            "relationships": [list(r) for r in sorted(self.relationships)],
            "devices": self.devices,
        }

    def control(self, method: str, path: str, query: Query, body: bytes) -> Reply:
        """Answer ``/_emulator/...`` (no auth: the emulator only listens on loopback)."""
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_emulator/stats"):
            return json_reply(200, self.stats().as_dict())
        if route == ("POST", "/_emulator/reset"):
            self.reset()
            return json_reply(200, {})
        if route == ("GET", "/_emulator/faults"):
            return json_reply(200, {"faults": self.faults.config.as_dict()})
        if route == ("POST", "/_emulator/faults"):
            try:
                arguments = orjson.loads(body or b"{}")
                config = self.set_faults(**arguments)
            except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
                return error_reply(400, "invalid_request", [f"bad fault settings: {exc}"])
            return json_reply(200, {"faults": config.as_dict()})
        if route == ("GET", "/_emulator/messages"):
            kind = query.get("type", [None])[0]
            return json_reply(200, {"messages": self.messages(kind)})
        if route == ("GET", "/_emulator/rejections"):
            return json_reply(200, {"rejections": self.rejections()})
        if route == ("GET", "/_emulator/state"):
            return json_reply(200, self.state_snapshot())
        if method == "GET" and path.startswith("/_emulator/exports/") and path.endswith(".csv"):
            return self.app_api.export_csv(path[len("/_emulator/exports/") : -len(".csv")])
        return error_reply(404, "not_found", [f"no control endpoint {method} {path}"])
