"""JSON encoding and timestamps for the wire.

``encode`` is orjson (compact, UTF-8) with a ``default`` that turns the Python values a Delta
row or a notebook produces into JSON the way Customer.io expects them:

- ``Decimal`` → a JSON number with every digit kept (``Decimal("12.50")`` → ``12.50``), not a
  string and not a rounded float; NaN and infinities are refused (JSON has no spelling for them).
- ``datetime`` / ``date`` / ``UUID`` / ``Enum`` → orjson's native ISO-8601 / string forms;
  naive datetimes are written without an offset, exactly as ``datetime.isoformat()`` does.
- ``set`` / ``frozenset`` → a list (sorted when the items allow it, so output is stable).
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

import orjson

from customerio_sink.errors import ValidationError

__all__ = ["encode", "format_timestamp", "parse_timestamp", "utcnow"]

_OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise ValidationError("<value>", "finite_number", "NaN and infinity are not JSON")
        return orjson.Fragment(str(value).encode("ascii"))
    if isinstance(value, set | frozenset):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot encode a {type(value).__name__} as JSON")


def encode(value: Any) -> bytes:
    """Compact UTF-8 JSON for ``value``.

    Raises :class:`ValidationError` (rule ``json_encodable`` or ``finite_number``) for values JSON
    cannot hold; the message names the type, never the value.
    """
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ValidationError):
            raise cause from None
        # orjson's own message may quote the value ("Integer exceeds 64-bit range"), so keep
        # only the kind of failure.
        if isinstance(cause, TypeError) and str(cause).startswith("cannot encode"):
            kind = str(cause)
        else:
            kind = type(cause).__name__ if cause else "unsupported value"
        raise ValidationError("<value>", "json_encodable", kind) from None


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the default wall clock of the clients)."""
    return datetime.now(timezone.utc)


def format_timestamp(value: datetime | date) -> str:
    """ISO-8601 with milliseconds and an offset: ``2024-05-01T12:00:00.000+00:00``.

    Naive datetimes are taken as UTC; a ``date`` is midnight UTC. This is the official client's
    format (``isoformat(timespec="milliseconds")``).
    """
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat(timespec="milliseconds")


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 date-time that carries an offset (``Z`` accepted).

    Raises ``ValueError`` if it is not one; the message does not quote the text.
    """
    if not isinstance(text, str) or "T" not in text.upper():
        raise ValueError("not an ISO-8601 date-time")
    candidate = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise ValueError("not an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        raise ValueError("ISO-8601 date-time without an offset")
    return parsed
