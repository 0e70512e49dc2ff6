"""What one logical request did, for the caller's ``on_request`` hook and the requests ledger.

A *logical request* is one body sent until it is accepted, rejected or given up — all its HTTP
attempts together. The hook is called once per logical request, after the outcome is known and
before :meth:`CustomerIOClient.send_encoded` returns or raises; ``attempts`` and ``statuses``
tell how many HTTP attempts it took. A request the circuit breaker refused outright is reported
too, with ``attempts=0`` and ``error_class="CircuitOpenError"``; a message that failed
validation never became a request and is not. A hook that raises is logged and ignored, so
bookkeeping can never turn a delivered batch into a failed one (and cause a duplicate re-send).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["OnRequest", "RequestMetrics", "call_hook"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RequestMetrics:
    """One logical request. Sizes in bytes, times in seconds unless the name says ``_ms``.

    ``latency_ms`` is the time spent in HTTP attempts; ``elapsed_ms`` the whole logical request
    (rate-limit waits and backoff included).

    ``status`` is the last HTTP status (``None`` if no answer ever arrived); ``error_class`` the
    name of the error raised (``None`` on success). ``request_bytes`` is what went on the wire
    (after gzip); ``body_bytes`` the JSON before compression.
    """

    endpoint: str
    method: str
    status: int | None
    attempts: int
    latency_ms: float
    elapsed_ms: float
    request_bytes: int
    body_bytes: int
    response_bytes: int
    message_count: int
    message_ids: tuple[str, ...] = ()
    statuses: tuple[int | None, ...] = ()
    error_class: str | None = None
    error_code: str | None = None
    rate_wait_s: float = 0.0
    backoff_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the request was accepted (a 2xx answer and no error)."""
        return self.error_class is None and self.status is not None and 200 <= self.status < 300

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (for a ledger row or a DataFrame)."""
        return asdict(self)


OnRequest = Callable[[RequestMetrics], None]


def call_hook(hook: OnRequest | None, metrics: RequestMetrics) -> None:
    """Hand ``metrics`` to ``hook``; a failing hook is logged (class name only) and ignored."""
    if hook is None:
        return
    try:
        hook(metrics)
    except Exception as exc:
        log.warning(
            "on_request hook raised %s for %s (ignored)", type(exc).__name__, metrics.endpoint
        )
