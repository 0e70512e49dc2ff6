"""The messageIds a mapping leaves to the engine, made for a whole Arrow batch at once.

The id (:mod:`customerio_sink.messages.message_id`) is 10 base-32 digits of a time and 16 of
80 bits of a hash. On the JVM that takes three ``conv`` and a ``translate`` per row — a third
of the mapping stage's CPU. A mapping made with ``engine_ids`` computes only the two inputs
(columns :data:`TIME_COLUMN` and :data:`HASH_COLUMN`) and writes
:data:`~customerio_sink.messages.message_id.ID_PLACEHOLDER` where the id goes in the message;
:func:`with_message_ids` turns them into the ``message_id`` column and writes each id over its
placeholder, in a few numpy operations per batch; and the message's time over its own
placeholder (:mod:`customerio_sink.engine.times`). The two ways give the same messages, byte for
byte (``tests/client/test_message_id_spark.py``).

Pure Python at import: numpy and pyarrow are imported by the functions that use them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from customerio_sink.engine.times import fill_times
from customerio_sink.messages.message_id import CROCKFORD, HASH_HEX_DIGITS, ID_PLACEHOLDER

__all__ = ["HASH_COLUMN", "TIME_COLUMN", "message_ids", "with_message_ids"]

#: The id's time in milliseconds (BIGINT, never NULL) in a mapping made with ``engine_ids``.
TIME_COLUMN = "mid_time"
#: The first 20 hex digits of the id's hash (never NULL).
HASH_COLUMN = "mid_hash"
#: What precedes the id in every message a mapping writes.
_FIELD = b'"messageId":"'
_MARK = ord(ID_PLACEHOLDER[0])
_TIME_DIGITS = 10


@lru_cache(maxsize=1)
def _tables() -> tuple[Any, Any]:
    import numpy as np

    hex_values = np.full(256, 255, dtype=np.uint8)
    for value, char in enumerate("0123456789abcdef"):
        hex_values[ord(char)] = hex_values[ord(char.upper())] = value
    return hex_values, np.frombuffer(CROCKFORD.encode("ascii"), dtype=np.uint8)


def _views(array: Any) -> tuple[Any, Any]:
    """(offsets, data) of a string/binary Arrow array as numpy views (no copy)."""
    import numpy as np
    import pyarrow as pa

    wide = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    kind = np.int64 if wide else np.int32
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=kind)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else None
    return offsets, data


def _hash_bits(hash_hex: Any) -> Any:
    """The 80 bits of each row's 20 hex digits, as an ``(n, 80)`` array of 0/1."""
    import numpy as np

    n = len(hash_hex)
    if not n:
        return np.zeros((0, 4 * HASH_HEX_DIGITS), np.uint8)
    offsets, data = _views(hash_hex)
    if hash_hex.null_count or not (np.diff(offsets) == HASH_HEX_DIGITS).all():
        raise ValueError(f"{HASH_COLUMN}: every row needs {HASH_HEX_DIGITS} hex digits")
    start = int(offsets[0])
    nibbles = _tables()[0][data[start : start + n * HASH_HEX_DIGITS]].reshape(
        n, HASH_HEX_DIGITS // 2, 2
    )
    if (nibbles == 255).any():
        raise ValueError(f"{HASH_COLUMN}: a value that is not hex digits")
    octets = (nibbles[:, :, 0] << 4) | nibbles[:, :, 1]
    return np.unpackbits(octets, axis=1)


def _time_bits(time_ms: Any) -> Any:
    """The low 50 bits of each time (after dropping the digits ``lpad`` cuts), ``(n, 50)``."""
    import numpy as np

    if time_ms.null_count:
        raise ValueError(f"{TIME_COLUMN}: a NULL time")
    stamp = time_ms.to_numpy(zero_copy_only=False).astype(np.int64)
    if (stamp < 0).any():
        raise ValueError(f"{TIME_COLUMN}: a negative time")
    limit = 1 << (5 * _TIME_DIGITS)
    while (stamp >= limit).any():  # lpad after conv keeps the leading 10 digits
        stamp = np.where(stamp >= limit, stamp >> 5, stamp)
    octets = stamp.astype(">u8").view(np.uint8).reshape(-1, 8)
    return np.unpackbits(octets, axis=1)[:, 64 - 5 * _TIME_DIGITS :]


def message_ids(time_ms: Any, hash_hex: Any) -> Any:
    """The ids of a batch as an ``(n, 26)`` uint8 array of ASCII: the same text
    :func:`~customerio_sink.messages.message_id.message_id_sql` makes of the same inputs.

    ``time_ms`` is an integer Arrow array (no NULLs, none negative); like ``lpad`` after
    ``conv`` on the JVM, a time of more than 10 base-32 digits keeps its leading 10.
    """
    import numpy as np

    bits = np.concatenate([_time_bits(time_ms), _hash_bits(hash_hex)], axis=1)
    digits = bits.reshape(len(bits), _TIME_DIGITS + 16, 5) @ np.array(
        [16, 8, 4, 2, 1], dtype=np.uint8
    )
    result: Any = _tables()[1][digits]
    return result


def _string_array(ids: Any) -> Any:
    import numpy as np
    import pyarrow as pa

    n, width = ids.shape
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(ids))]
    )


def _write_over_placeholders(payload: Any, ids: Any, time_ms: Any) -> Any:
    """``payload`` with each row's placeholder replaced by its id, and its time's placeholder
    by the time (:func:`~customerio_sink.engine.times.fill_times`); a NULL payload stays NULL."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    wide = pa.types.is_large_string(payload.type) or pa.types.is_large_binary(payload.type)
    view = payload.view(pa.large_binary() if wide else pa.binary())
    found = pc.find_substring(view, pattern=_FIELD)
    where = pc.fill_null(found, -1).to_numpy(zero_copy_only=False)
    has = np.asarray(payload.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if (where[has] < 0).any():
        raise ValueError("a message without its messageId field: the mapping and engine disagree")
    offsets, data = _views(payload)
    if data is None or not has.any():
        return payload
    data = data.copy()
    starts = offsets[:-1][has].astype(np.int64) + where[has] + len(_FIELD)
    width = ids.shape[1]
    # Exactly the placeholder (its first and last characters, and the quote that ends it).
    if (starts + width >= offsets[1:][has]).any():
        raise ValueError(
            "a message that ends inside its messageId: the mapping and engine disagree"
        )
    ends = data[starts + width]
    if not (
        (data[starts] == _MARK).all()
        and (data[starts + width - 1] == _MARK).all()
        and (ends == 34).all()
    ):
        raise ValueError("a message whose messageId is not the placeholder the engine fills")
    filled = ids[has]
    for k in range(width):
        data[starts + k] = filled[:, k]
    stamps = time_ms.to_numpy(zero_copy_only=False).astype(np.int64)[has]
    fill_times(data, starts + width, offsets[1:][has].astype(np.int64), stamps)
    buffers = payload.buffers()
    return pa.Array.from_buffers(
        payload.type,
        len(payload),
        [buffers[0], buffers[1], pa.py_buffer(data)],
        null_count=payload.null_count,
        offset=payload.offset,
    )


def with_message_ids(batch: Any) -> Any:
    """``batch`` (an Arrow record batch of a mapping made with ``engine_ids``) with its
    ``message_id`` column made and its payloads' placeholders filled; the two input columns
    are dropped. Raises ValueError when a row breaks the mapping's side of the contract."""
    import pyarrow as pa

    ids = message_ids(batch.column(TIME_COLUMN), batch.column(HASH_COLUMN))
    names, arrays = [], []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if name in (TIME_COLUMN, HASH_COLUMN, "message_id"):
            continue
        names.append(name)
        if name == "payload":
            column = _write_over_placeholders(column, ids, batch.column(TIME_COLUMN))
        arrays.append(column)
    names.append("message_id")
    arrays.append(_string_array(ids))
    return pa.RecordBatch.from_arrays(arrays, names=names)
