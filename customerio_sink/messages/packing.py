"""Pack encoded messages into ``/v1/batch`` bodies.

The packer works on sizes only, so the bulk path can pack bytes built anywhere (orjson here, or
``to_json`` on the JVM). A body is::

    {"batch":[<item>,<item>,...],"sentAt":"<sent_at>"}

and :func:`pack_ranges` guarantees that :func:`batch_body` of every range it returns is at most
``max_body_bytes`` long, for any ``sent_at`` of up to ``MAX_SENT_AT_CHARS`` characters. Ranges are
consecutive, in order, cover every item exactly once, and are greedy: a body closes only when
the next item would not fit, so every body but the last is full to within one item.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from customerio_sink.errors import ConfigError, PayloadTooLargeError
from customerio_sink.messages.encoding import format_timestamp, utcnow
from customerio_sink.messages.limits import (
    BATCH_ENVELOPE_BYTES,
    DEFAULT_MAX_BODY_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_SENT_AT_CHARS,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "MAX_MESSAGE_BYTES",
    "batch_body",
    "body_size",
    "pack_ranges",
]

_HEAD = b'{"batch":['
_SENT_AT = b'],"sentAt":"'
_TAIL = b'"}'


def body_size(sizes: Sequence[int]) -> int:
    """The upper bound :func:`pack_ranges` uses for a body holding items of these sizes."""
    return BATCH_ENVELOPE_BYTES + sum(sizes) + max(len(sizes) - 1, 0)


def pack_ranges(
    sizes: Sequence[int],
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    *,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
) -> list[tuple[int, int]]:
    """Split items of the given encoded sizes into greedy ``(start, end)`` ranges.

    ``batch_body(items[start:end])`` is at most ``max_body_bytes`` for every range. Raises
    :class:`PayloadTooLargeError` (``.index`` = the item) for an item over ``max_message_bytes``,
    and :class:`ConfigError` when ``max_body_bytes`` could not hold even one maximal item.
    """
    room = max_body_bytes - BATCH_ENVELOPE_BYTES
    if room < max_message_bytes:
        raise ConfigError(
            f"max_body_bytes={max_body_bytes} cannot hold one {max_message_bytes}-byte message "
            f"plus the {BATCH_ENVELOPE_BYTES}-byte envelope"
        )
    ranges: list[tuple[int, int]] = []
    start = 0
    used = -1  # bytes of items plus commas in the open range; -1 because n items need n-1 commas
    for index, size in enumerate(sizes):
        if size > max_message_bytes:
            raise PayloadTooLargeError(size, max_message_bytes, index=index)
        if used + 1 + size > room and index > start:
            ranges.append((start, index))
            start, used = index, -1
        used += 1 + size
    if start < len(sizes):
        ranges.append((start, len(sizes)))
    return ranges


def sent_at_now(now: datetime | None = None) -> str:
    """The ``sentAt`` value for a body sent now (ISO-8601, milliseconds, UTC offset)."""
    return format_timestamp(now or utcnow())


def batch_body(items: Sequence[bytes], sent_at: str | None = None) -> bytes:
    """``{"batch":[...],"sentAt":"..."}`` around already-encoded items (no re-encoding).

    ``sent_at`` defaults to now; it must be at most ``MAX_SENT_AT_CHARS`` characters of ASCII
    (the packer's size guarantee counts on it) and is not escaped.
    """
    stamp = sent_at if sent_at is not None else sent_at_now()
    if len(stamp) > MAX_SENT_AT_CHARS or not stamp.isascii() or '"' in stamp or "\\" in stamp:
        raise ConfigError(f"sent_at must be at most {MAX_SENT_AT_CHARS} plain ASCII characters")
    return b"".join((_HEAD, b",".join(items), _SENT_AT, stamp.encode("ascii"), _TAIL))
