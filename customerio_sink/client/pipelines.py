"""``CustomerIOClient``: the Data Pipelines API over pooled HTTP, with every guard on.

Two ways in:

- **Per call** (notebooks, small jobs): :meth:`~CustomerIOClient.identify`, ``track``, ``page``,
  ``screen``, ``group``, ``alias`` and the semantic helpers (``delete_user`` …) build a validated
  message, give it a ``messageId`` (uuid4 unless given), a ``timestamp`` (now unless given) and
  ``context.library``, and POST it to its own endpoint (``/v1/identify`` …).
  :meth:`~CustomerIOClient.batch` does the same for many messages through ``/v1/batch``. (The
  per-call methods live in :mod:`customerio_sink.client.calls`.)
- **Bulk** (the Spark sink): :meth:`~CustomerIOClient.send_encoded` POSTs already-encoded,
  already-validated items as one ``/v1/batch`` body — no parsing, no re-encoding.

Every request goes through one :class:`~customerio_sink.client.transport.Sender`: circuit breaker,
rate limiter (before every attempt), retries with full-jitter backoff and ``Retry-After``, and
the ``on_request`` hook once per logical request. ``strict=True`` (the default) sends
``X-Strict-Mode: 1`` so Customer.io answers 400/401 instead of a silent 200.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any, Literal

from customerio_sink.__version__ import __version__
from customerio_sink.client.breaker import CircuitBreaker
from customerio_sink.client.calls import MessageCalls
from customerio_sink.client.metrics import OnRequest, RequestMetrics
from customerio_sink.client.rate_limit import Limiter, RateLimiter
from customerio_sink.client.regions import (
    key_region,
    pipelines_auth_header,
    pipelines_base_url,
    rate_budget,
)
from customerio_sink.client.retry import RetryPolicy
from customerio_sink.client.secrets import SecretKey
from customerio_sink.client.transport import RequestsTransport, Sender, Timeout, Transport
from customerio_sink.errors import ConfigError, PayloadTooLargeError, ValidationError, Violation
from customerio_sink.messages.encoding import encode, format_timestamp, utcnow
from customerio_sink.messages.limits import DEFAULT_MAX_BODY_BYTES, MAX_MESSAGE_BYTES
from customerio_sink.messages.models import Message
from customerio_sink.messages.packing import batch_body, pack_ranges
from customerio_sink.messages.validators import check_message

__all__ = ["LIBRARY", "CustomerIOClient"]

LIBRARY = {"name": "customerio-sink", "version": __version__}
"""The ``context.library`` this package puts on every message: its name and version."""
Invalidate = Callable[[str], None]

# Calls that change what the App API returns for a person: evict them from lookup caches.
_PERSON_EVENTS = frozenset(
    {
        "User Deleted",
        "User Suppressed",
        "User Unsuppressed",
        "Device Created or Updated",
        "Device Deleted",
        "Relationship Deleted",
    }
)


def _written_identifiers(wire: Mapping[str, Any]) -> list[str]:
    kind = wire.get("type")
    if kind == "track" and wire.get("event") not in _PERSON_EVENTS:
        return []
    if kind not in ("identify", "track", "group", "alias"):
        return []
    found = [wire.get("userId"), wire.get("previousId")]
    traits = wire.get("traits")
    if kind == "identify" and isinstance(traits, Mapping):
        found.append(traits.get("email"))
    return [value for value in found if isinstance(value, str) and value]


class CustomerIOClient(MessageCalls):
    """A Data Pipelines client for one workspace key.

    ``api_key`` may be a ``str`` or :class:`SecretKey` (stripped; never printed). ``region`` is
    "us" or "eu" (default: the region of a ``pk_``/``sk_`` key, else US); ``endpoint`` is a base
    URL that wins over both (the emulator, a proxy). A ``pk_``/``sk_`` key of one region bound
    for the other region's host raises :class:`ConfigError` unless ``allow_cross_region`` is
    true (see :func:`~customerio_sink.client.regions.pipelines_base_url`). ``retry``,
    ``rate_limiter``
    and ``breaker`` default to ``RetryPolicy()``, the region's budget
    (:func:`~customerio_sink.client.regions.rate_budget`: 3000 per 3 s) and ``CircuitBreaker()`` on
    the
    given clock and sleep; ``rate_limiter=False`` means no client-side limit at all.
    ``invalidate`` is called with every userId (and identify email)
    this client writes, e.g. ``AppAPIClient.invalidate_customer`` to keep its lookup cache
    fresh. ``utcnow`` is the wall clock for default timestamps and ``sentAt``.

    Use it as a context manager (or call :meth:`close`) to release the connection pool.
    """

    def __init__(
        self,
        api_key: str | SecretKey,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        timeout: Timeout = 10.0,
        strict: bool = True,
        gzip: bool = False,
        retry: RetryPolicy | None = None,
        rate_limiter: Limiter | Literal[False] | None = None,
        breaker: CircuitBreaker | None = None,
        on_request: OnRequest | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        transport: Transport | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        pool_size: int = 8,
        user_agent: str | None = None,
        invalidate: Invalidate | None = None,
        utcnow: Callable[[], datetime] = utcnow,
        allow_cross_region: bool | None = None,
    ) -> None:
        previous = getattr(api_key, "previous", None)  # a RotatingKey in its rotation window
        self.api_key = SecretKey(api_key)
        self.base_url = pipelines_base_url(
            self.api_key, region, endpoint, allow_cross_region=allow_cross_region
        )
        self.region = (region or key_region(self.api_key) or "us").lower()
        pack_ranges([], max_body_bytes)  # ConfigError if no message could ever fit
        self.max_body_bytes = max_body_bytes
        self.strict = strict
        self.gzip = gzip
        self.invalidate = invalidate
        self._utcnow = utcnow
        self._owns_transport = transport is None
        self.sender = Sender(
            self.base_url,
            pipelines_auth_header(self.api_key),
            transport=transport if transport is not None else RequestsTransport(pool_size),
            retry=retry if retry is not None else RetryPolicy(),
            rate_limiter=(rate_limiter or None)
            if rate_limiter is not None
            else RateLimiter(*rate_budget(self.region), clock=clock, sleep=sleep),
            breaker=breaker if breaker is not None else CircuitBreaker(clock=clock),
            on_request=on_request,
            clock=clock,
            sleep=sleep,
            timeout=timeout,
            user_agent=user_agent,
            headers={"X-Strict-Mode": "1"} if strict else None,
            fallback_auth_header=pipelines_auth_header(previous) if previous else None,
        )

    def __repr__(self) -> str:
        return (
            f"CustomerIOClient(base_url={self.base_url!r}, region={self.region!r}, "
            f"strict={self.strict}, key={self.api_key!r})"
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Release the connection pool (only a transport this client created)."""
        if self._owns_transport:
            self.sender.transport.close()

    def __enter__(self) -> CustomerIOClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- bulk path ---------------------------------------------------------------------------

    def send_encoded(self, items: Sequence[bytes], message_ids: Sequence[str]) -> RequestMetrics:
        """POST ``batch_body(items)`` to ``/v1/batch`` and return the request's metrics.

        ``items`` are encoded messages (each ≤ 32 KB, with their own ``type``); ``message_ids``
        their ids, in the same order (or empty), used for errors and metrics only. The body
        must fit ``max_body_bytes`` — pack with
        :func:`~customerio_sink.messages.packing.pack_ranges`.

        Raises :class:`PayloadTooLargeError` before sending, then :class:`RejectedError`,
        :class:`AuthenticationError`, :class:`TransientError` (``RateLimitedError``) or
        :class:`CircuitOpenError` as described in :mod:`customerio_sink.client.transport`.
        """
        if not items:
            raise ConfigError("send_encoded needs at least one item")
        if message_ids and len(message_ids) != len(items):
            raise ConfigError("message_ids must be empty or match items one to one")
        ids = tuple(message_ids)
        for index, item in enumerate(items):
            if len(item) > MAX_MESSAGE_BYTES:
                raise PayloadTooLargeError(
                    len(item), MAX_MESSAGE_BYTES, index=index, message_ids=ids[index : index + 1]
                )
        body = batch_body(items, format_timestamp(self._utcnow()))
        if len(body) > self.max_body_bytes:
            raise PayloadTooLargeError(len(body), self.max_body_bytes, message_ids=ids)
        _, metrics = self.sender.request(
            "POST",
            "/v1/batch",
            body=body,
            message_ids=ids,
            message_count=len(items),
            gzip=self.gzip,
        )
        return metrics

    # -- messages ----------------------------------------------------------------------------

    def _complete(self, wire: dict[str, Any]) -> dict[str, Any]:
        """Fill ``messageId``, ``timestamp`` and ``context.library`` (a new dict)."""
        wire = dict(wire)
        if wire.get("messageId") is None:
            wire["messageId"] = str(uuid.uuid4())
        if wire.get("timestamp") is None:
            wire["timestamp"] = format_timestamp(self._utcnow())
        elif isinstance(wire["timestamp"], date):
            wire["timestamp"] = format_timestamp(wire["timestamp"])
        context = wire.get("context")
        if context is None or isinstance(context, Mapping):
            # As the official client does, the library entry names the sender, overriding any.
            wire["context"] = {**(context or {}), "library": LIBRARY}
        return wire

    def prepare(self, message: Message | Mapping[str, Any]) -> dict[str, Any]:
        """The wire dict this client would send for ``message``: completed and validated.

        Raises :class:`ValidationError` listing every violation.
        """
        raw = message.to_wire() if isinstance(message, Message) else message
        if not isinstance(raw, Mapping):
            raise ValidationError("message", "type_object", "a message is a JSON object")
        wire = self._complete(dict(raw))
        violations = check_message(wire)
        if violations:
            raise ValidationError.from_violations(violations, message_ids=(wire["messageId"],))
        return wire

    def send(self, message: Message | Mapping[str, Any]) -> RequestMetrics:
        """Send one message to its own endpoint (``/v1/<type>``)."""
        wire = self.prepare(message)
        body = encode({**wire, "sentAt": format_timestamp(self._utcnow())})
        if len(body) > MAX_MESSAGE_BYTES:  # the 32 KB limit counts the sentAt we just added
            raise PayloadTooLargeError(
                len(body), MAX_MESSAGE_BYTES, message_ids=[wire["messageId"]]
            )
        try:
            _, metrics = self.sender.request(
                "POST",
                f"/v1/{wire['type']}",
                body=body,
                message_ids=(wire["messageId"],),
                message_count=1,
                gzip=self.gzip,
            )
        finally:
            self._invalidate([wire])
        return metrics

    def batch(self, messages: Iterable[Message | Mapping[str, Any]]) -> list[RequestMetrics]:
        """Send many messages through ``/v1/batch``, packed into as few bodies as fit, in order.

        Every message is validated before anything is sent: one :class:`ValidationError` names
        the first bad one (``batch[<i>].<field>``) and carries all violations. If a later body
        fails, the earlier bodies have already been accepted (their metrics went to the hook).
        """
        wires: list[dict[str, Any]] = []
        problems: list[Violation] = []
        for index, message in enumerate(messages):
            try:
                wires.append(self.prepare(message))
            except ValidationError as exc:
                problems.extend(
                    Violation(f"batch[{index}].{v.field}", v.rule, v.detail) for v in exc.violations
                )
        if problems:
            raise ValidationError.from_violations(problems)
        items = [encode(wire) for wire in wires]
        results = []
        try:
            for start, end in pack_ranges([len(item) for item in items], self.max_body_bytes):
                ids = [wire["messageId"] for wire in wires[start:end]]
                results.append(self.send_encoded(items[start:end], ids))
        finally:
            self._invalidate(wires)
        return results

    def _invalidate(self, wires: Iterable[Mapping[str, Any]]) -> None:
        if self.invalidate is None:
            return
        for wire in wires:
            for identifier in _written_identifiers(wire):
                self.invalidate(identifier)
