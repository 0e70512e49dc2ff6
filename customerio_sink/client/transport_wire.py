"""What crosses the network edge: the :class:`Transport` protocol, the :class:`HttpResponse` it
returns, and the reading of a rejected request's reasons from an error body
(:func:`parse_reasons`).

All re-exported by :mod:`customerio_sink.client.transport`, where callers import them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

__all__ = ["HttpResponse", "Timeout", "Transport", "parse_reasons"]

Timeout = float | tuple[float, float]

_MAX_REASONS = 1000
_MAX_REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An HTTP answer: status, headers (lower-case names) and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON (``orjson.JSONDecodeError`` if it is not)."""
        return orjson.loads(self.body)


class Transport(Protocol):
    """Sends one HTTP request. Raises :class:`TransientError` (``status=None``) on no answer."""

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: Timeout,
    ) -> HttpResponse: ...

    def close(self) -> None: ...


def parse_reasons(response: HttpResponse) -> list[str]:
    """The server's reasons from an error body, each truncated, at most 1000 of them.

    Understands ``{"meta": {"errors": [...]}}`` (Customer.io), ``{"errors": [{reason, field,
    message}]}``, ``{"code", "message"}`` (Segment style) and plain text.
    """
    try:
        data = response.json()
    except orjson.JSONDecodeError:
        text = response.body[: _MAX_REASON_CHARS * 2].decode("utf-8", "replace").strip()
        return [text[:_MAX_REASON_CHARS]] if text else []
    raw: list[Any] = []
    if isinstance(data, dict):
        meta = data.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("errors"), list):
            raw = meta["errors"]
        elif isinstance(data.get("errors"), list):
            raw = data["errors"]
        elif "message" in data or "code" in data:
            raw = [": ".join(str(data[k]) for k in ("code", "message") if data.get(k) is not None)]
        elif isinstance(data.get("error"), str):
            raw = [data["error"]]
        elif data:
            raw = [orjson.dumps(data).decode()]
    elif isinstance(data, list):
        raw = data
    elif data is not None:
        raw = [str(data)]
    reasons = []
    for item in raw[:_MAX_REASONS]:
        if isinstance(item, dict):
            text = " ".join(f"{k}={item[k]}" for k in ("field", "reason", "message") if k in item)
            text = text or orjson.dumps(item).decode()
        else:
            text = str(item)
        reasons.append(text[:_MAX_REASON_CHARS])
    return reasons
