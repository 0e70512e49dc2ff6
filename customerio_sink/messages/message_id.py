"""Deterministic, ULID-shaped message ids.

A re-sent row must carry the same ``messageId`` as its first send, so the id is computed from
what identifies the change (job, table, row key, commit version, change type), never drawn at
random. It is shaped like a ULID — 26 Crockford base-32 characters, 48 bits of time in
milliseconds then 80 bits of hash — because Customer.io's Track API de-duplicates events by a
ULID ``id``, so any layer that de-duplicates can use it.

Definition (chosen so Spark SQL can compute the same id on the JVM)::

    render(None) = "-"                 render(x) = f"{len(s)}:{s}" with s = str(x)
    render(True/False) uses s = "true"/"false" (as Spark casts booleans)
    hash = first 10 bytes (80 bits) of sha1("".join(render(p) for p in parts) as UTF-8)
    id   = crockford32(time_ms, 10 chars) + crockford32(hash, 16 chars)

Length-prefixing makes the joined text unambiguous (``("a", "")`` and ``("a",)`` differ, and
no part can imitate a boundary); ``len`` counts code points, like Spark's ``length``. The Spark
form of the hash half is ``sha1(concat(coalesce(concat(length(s), ':', s), '-'), ...))`` with
``s = cast(p AS STRING)``; its first 20 hex digits are converted in two 10-digit halves with
``conv(..., 16, 32)``, left-padded to 8 characters (the time half: ``conv(ms, 10, 32)``, padded
to 10), and the 26 characters mapped from ``0-9A-V`` to Crockford's alphabet with one
``translate``. :func:`message_id_sql` writes that expression.

The sending engine can do the base-32 half instead (:mod:`customerio_sink.engine.ids`, a few
vectorised operations per batch rather than three ``conv`` and a ``translate`` per row on the
JVM): the mapping then computes only the time and the 20 hex digits
(:func:`message_id_sql_parts`) and writes :data:`ID_PLACEHOLDER` where the id goes.

Keys made of several ids (a relationship's person and object) are joined by
:func:`composite_key`: each part has ``\\`` and ``:`` escaped with a backslash, then the parts
are joined with ``:``. The join is injective (``("a:b", "c")`` and ``("a", "b:c")`` differ) and a
key of plain ids reads as before (``u1:o1``); a missing part makes the whole key missing.
:func:`composite_key_sql` is the same in Spark SQL.
"""

from __future__ import annotations

import hashlib

from customerio_sink.errors import ConfigError

__all__ = [
    "CROCKFORD",
    "HASH_HEX_DIGITS",
    "ID_PLACEHOLDER",
    "composite_key",
    "composite_key_sql",
    "message_id",
    "message_id_sql",
    "message_id_sql_parts",
]

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Hex digits of the sha1 the id keeps (80 bits).
HASH_HEX_DIGITS = 20
#: What a mapping writes in a message where the engine puts its id: as long as an id, and of a
#: character no id has (the engine checks it finds exactly this before writing over it).
ID_PLACEHOLDER = "~" * 26
_NULL = "-"
_MAX_TIME = (1 << 48) - 1


def _render(part: str | int | None) -> str:
    if part is None:
        return _NULL
    if isinstance(part, bool):
        text = "true" if part else "false"
    elif isinstance(part, int | str):
        text = str(part)
    else:
        raise ConfigError(f"message id parts are str, int or None, not {type(part).__name__}")
    return f"{len(text)}:{text}"


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def message_id(*parts: str | int | None, time_ms: int | None = None) -> str:
    """The 26-character id for ``parts`` (order matters; ``None`` differs from ``""``).

    ``time_ms`` (milliseconds since the epoch, e.g. the event or commit time) fills the first
    10 characters; ``None`` means 0, so ids from equal parts are equal whatever the time.
    Raises :class:`ConfigError` if ``time_ms`` is outside 0 … 2**48-1.
    """
    stamp = 0 if time_ms is None else int(time_ms)
    if not 0 <= stamp <= _MAX_TIME:
        raise ConfigError("time_ms must be between 0 and 2**48 - 1 milliseconds")
    text = "".join(_render(part) for part in parts)
    digest = int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:10], "big")
    return _base32(stamp, 10) + _base32(digest, 16)


def _sql_base32(expr: str, width: int, base: int = 16) -> str:
    """``expr`` (digits in ``base``) in base 32 as ``0-9A-V``, left-padded to ``width``."""
    return f"lpad(conv({expr}, {base}, 32), {width}, '0')"


def message_id_sql_parts(*columns: str, time_ms: str | None = None) -> tuple[str, str]:
    """(time, hash) Spark SQL expressions the id of ``columns`` is made of: the time in
    milliseconds (a BIGINT, ``0`` without ``time_ms``) and the first :data:`HASH_HEX_DIGITS` hex
    digits (lower case) of the hash. :func:`message_id_sql` turns them into the id on the JVM,
    :func:`customerio_sink.engine.ids.message_ids` in the engine.
    """
    if not columns:
        raise ConfigError("message_id_sql needs at least one column")
    rendered = ", ".join(
        f"coalesce(concat(cast(length(cast({col} AS STRING)) AS STRING), ':', "
        f"cast({col} AS STRING)), '-')"
        for col in columns
    )
    stamp = "0" if time_ms is None else f"cast({time_ms} AS BIGINT)"
    return stamp, f"substr(sha1(concat({rendered})), 1, {HASH_HEX_DIGITS})"


def message_id_sql(*columns: str, time_ms: str | None = None) -> str:
    """A Spark SQL expression equal to ``message_id(<columns>, time_ms=<time_ms>)``.

    ``columns`` and ``time_ms`` are SQL expressions (column names or casts); Spark casts
    integers and booleans to strings exactly as :func:`message_id` renders them.
    """
    stamp, digest = message_id_sql_parts(*columns, time_ms=time_ms)
    half = HASH_HEX_DIGITS // 2
    # One translate from conv's 0-9A-V digits to Crockford's alphabet over all 26 characters
    # (a third of the cost of translating each part).
    return (
        "translate(concat("
        + _sql_base32(stamp, 10, base=10)
        + ", "
        + _sql_base32(f"substr({digest}, 1, {half})", 8)
        + ", "
        + _sql_base32(f"substr({digest}, {half + 1}, {half})", 8)
        + f"), '0123456789ABCDEFGHIJKLMNOPQRSTUV', '{CROCKFORD}')"
    )


def _escape(part: str) -> str:
    return part.replace("\\", "\\\\").replace(":", "\\:")


def composite_key(*parts: str | None) -> str | None:
    """The key of several ids: escaped parts joined with ``:``; ``None`` if any is missing."""
    if any(part is None for part in parts):
        return None
    return ":".join(_escape(str(part)) for part in parts)


def composite_key_sql(*columns: str) -> str:
    """A Spark SQL expression equal to ``composite_key(<columns>)`` (string expressions)."""
    if not columns:
        raise ConfigError("composite_key_sql needs at least one column")
    # chr(92) is a backslash: no escaping rules of SQL string literals to get wrong.
    escaped = [
        f"replace(replace({col}, chr(92), concat(chr(92), chr(92))), ':', concat(chr(92), ':'))"
        for col in columns
    ]
    return "concat(" + ", ':', ".join(escaped) + ")"
