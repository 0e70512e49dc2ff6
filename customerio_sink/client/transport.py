"""HTTP for both clients: a swappable transport, and the one retry loop that drives it.

:class:`Transport` is the network edge — one method, ``send``, that turns a request into a
:class:`HttpResponse` or raises :class:`TransientError` (``status=None``) when no answer came.
:class:`RequestsTransport` is the real one: one ``requests.Session`` whose connection pool is
sized for parallel senders (:mod:`customerio_sink.client.transport_pool`). Tests of host and auth
selection inject a transport that records the request instead of sending it. The protocol, the
response and the reading of an error body's reasons are in
:mod:`customerio_sink.client.transport_wire`.

:class:`Sender` owns the loop every request goes through::

    for each attempt:
        breaker.before_request()     # CircuitOpenError when open
        rate_limiter.acquire()       # every attempt, retries included
        transport.send(...)          # timed
        classify(status)             # OK / AUTH / REJECT / RETRY (see client/retry.py)
        on RETRY: wait policy.delay(attempt, Retry-After); a Retry-After also pauses the limiter

and then calls the ``on_request`` hook once with the :class:`RequestMetrics` of the whole
logical request (see client/metrics.py). Nothing here logs or raises a body, a header or a key.
"""

from __future__ import annotations

import gzip as gzip_module
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from customerio_sink.__version__ import __version__
from customerio_sink.client.breaker import CircuitBreaker
from customerio_sink.client.metrics import OnRequest, RequestMetrics, call_hook
from customerio_sink.client.rate_limit import Limiter
from customerio_sink.client.retry import Outcome, RetryPolicy, classify, parse_retry_after
from customerio_sink.client.secrets import SecretKey
from customerio_sink.client.transport_pool import RequestsTransport as RequestsTransport
from customerio_sink.client.transport_wire import HttpResponse, Timeout, Transport, parse_reasons
from customerio_sink.errors import (
    AuthenticationError,
    CustomerIOSinkError,
    RateLimitedError,
    RejectedError,
    TransientError,
)

__all__ = [
    "DEFAULT_USER_AGENT",
    "HttpResponse",
    "RequestsTransport",
    "Sender",
    "Transport",
    "parse_reasons",
]

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = f"customerio-sink/{__version__}"


class Sender:
    """Sends requests to one base URL with retries, rate limit, breaker and metrics."""

    def __init__(
        self,
        base_url: str,
        auth_header: SecretKey,
        *,
        transport: Transport,
        retry: RetryPolicy,
        rate_limiter: Limiter | None,
        breaker: CircuitBreaker | None,
        on_request: OnRequest | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        timeout: Timeout = 10.0,
        user_agent: str | None = None,
        headers: Mapping[str, str] | None = None,
        fallback_auth_header: SecretKey | None = None,
    ) -> None:
        self.base_url = base_url
        self._auth_header = auth_header
        # A key rotation window: the replaced key's header, tried once after a 401.
        self._fallback_auth_header = fallback_auth_header
        self.transport = transport
        self.retry = retry
        self.rate_limiter = rate_limiter
        self.breaker = breaker
        self.on_request = on_request
        self._clock = clock
        self._sleep = sleep
        self.timeout = timeout
        self._headers = {
            "Accept": "application/json",
            "User-Agent": user_agent or DEFAULT_USER_AGENT,
            **(headers or {}),
        }

    def __repr__(self) -> str:
        return f"Sender(base_url={self.base_url!r})"

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """``base_url + path`` with ``params`` query-encoded (``+`` and ``@`` escaped)."""
        url = self.base_url + path
        pairs = [(k, v) for k, v in (params or {}).items() if v is not None]
        if pairs:
            url += "?" + urlencode(pairs, quote_via=quote, safe="")
        return url

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        message_ids: Sequence[str] = (),
        message_count: int = 0,
        gzip: bool = False,
    ) -> tuple[HttpResponse, RequestMetrics]:
        """Send until accepted, rejected or out of attempts; returns the answer and metrics.

        Raises :class:`AuthenticationError`, :class:`RejectedError`, :class:`TransientError`
        (or its :class:`RateLimitedError`) and :class:`CircuitOpenError` — each carrying
        ``message_ids`` and ``attempts``; the hook sees the metrics first.
        """
        url = self.url(path, params)
        headers = dict(self._headers)
        headers["Authorization"] = self._auth_header.reveal()
        payload = body
        if body is not None:
            headers["Content-Type"] = "application/json"
            if gzip:
                payload = gzip_module.compress(body, compresslevel=6)
                headers["Content-Encoding"] = "gzip"
        ids = tuple(message_ids)
        state = _Attempts()
        started = self._clock()
        while True:
            try:
                response = self._attempt(method, url, headers, payload, state)
            except CustomerIOSinkError as exc:
                if self._use_fallback(exc):
                    headers["Authorization"] = self._auth_header.reveal()
                    continue
                exc.message_ids = ids
                exc.attempts = state.count
                exc.args = (exc._text(),)
                metrics = self._metrics(
                    method, path, body, payload, state, started, ids, message_count, exc
                )
                call_hook(self.on_request, metrics)
                raise
            if response is not None:
                metrics = self._metrics(
                    method, path, body, payload, state, started, ids, message_count, None
                )
                call_hook(self.on_request, metrics)
                return response, metrics

    def _use_fallback(self, exc: CustomerIOSinkError) -> bool:
        """After a 401, switch to the rotation window's previous key (once per sender)."""
        if self._fallback_auth_header is None or exc.status != 401:
            return False
        if not isinstance(exc, AuthenticationError):
            return False
        self._auth_header, self._fallback_auth_header = self._fallback_auth_header, None
        log.warning(
            "Customer.io answered 401 to the current API key: falling back to the previous key "
            "once (key rotation window); this sender keeps the previous key from now on"
        )
        return True

    def _attempt(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        payload: bytes | None,
        state: _Attempts,
    ) -> HttpResponse | None:
        """One attempt: the answer on success, ``None`` to go again, or an error."""
        if self.breaker is not None:
            self.breaker.before_request()
        if self.rate_limiter is not None:
            state.rate_wait += self.rate_limiter.acquire()
        state.count += 1
        sent = self._clock()
        response: HttpResponse | None = None
        failure: TransientError | None = None
        try:
            response = self.transport.send(
                method, url, headers=headers, body=payload, timeout=self.timeout
            )
        except TransientError as exc:
            failure = exc
        finally:
            state.network += self._clock() - sent
        status = response.status if response is not None else None
        state.statuses.append(status)
        if response is not None:
            state.response_bytes = len(response.body)
        outcome = classify(status)
        log.debug(
            "%s %s -> %s (attempt %d, %s)",
            method,
            url.split("?", 1)[0],
            status,
            state.count,
            outcome.value,
        )
        if outcome is Outcome.OK:
            self._breaker_ok()
            return response
        if outcome is Outcome.AUTH:
            self._breaker_ok()
            code = "unauthorized" if status == 401 else "forbidden"
            raise AuthenticationError(
                "Customer.io refused the credentials", status=status, code=code
            )
        if outcome is Outcome.REJECT and response is not None:
            self._breaker_ok()
            raise RejectedError(
                status=status, code=f"http_{status}", reasons=parse_reasons(response)
            )
        self._after_retryable(response, failure, state)
        return None

    def _after_retryable(
        self, response: HttpResponse | None, failure: TransientError | None, state: _Attempts
    ) -> None:
        """Count a retryable failure, then raise if out of attempts or wait for the next one."""
        status = response.status if response is not None else None
        retry_after = None
        if response is not None:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status == 429:
            self._breaker_ok()  # the service is up and answering; the limiter slows us down
        elif self.breaker is not None:
            self.breaker.record_failure()
        if not self.retry.should_retry(state.count):
            if status == 429:
                raise RateLimitedError(retry_after=retry_after, status=status)
            if failure is not None:
                raise TransientError(failure.message, code=failure.code)
            raise TransientError(f"server error {status}", status=status, code=f"http_{status}")
        delay = self.retry.delay(state.count, retry_after)
        if (status == 429 or retry_after is not None) and self.rate_limiter is not None:
            # Slow every later request of this limiter, not only this retry.
            self.rate_limiter.pause_until(self._clock() + delay)
        if delay > 0:
            self._sleep(delay)
        state.backoff += delay

    def _breaker_ok(self) -> None:
        if self.breaker is not None:
            self.breaker.record_success()

    def _metrics(
        self,
        method: str,
        path: str,
        body: bytes | None,
        payload: bytes | None,
        state: _Attempts,
        started: float,
        ids: tuple[str, ...],
        message_count: int,
        error: CustomerIOSinkError | None,
    ) -> RequestMetrics:
        return RequestMetrics(
            endpoint=path,
            method=method,
            status=state.statuses[-1] if state.statuses else None,
            attempts=state.count,
            latency_ms=state.network * 1000.0,
            elapsed_ms=(self._clock() - started) * 1000.0,
            request_bytes=len(payload or b""),
            body_bytes=len(body or b""),
            response_bytes=state.response_bytes,
            message_count=message_count,
            message_ids=ids,
            statuses=tuple(state.statuses),
            error_class=type(error).__name__ if error is not None else None,
            error_code=error.code if error is not None else None,
            rate_wait_s=state.rate_wait,
            backoff_s=state.backoff,
        )


class _Attempts:
    """Running totals of one logical request."""

    __slots__ = ("backoff", "count", "network", "rate_wait", "response_bytes", "statuses")

    def __init__(self) -> None:
        self.count = 0
        self.statuses: list[int | None] = []
        self.network = 0.0
        self.rate_wait = 0.0
        self.backoff = 0.0
        self.response_bytes = 0
