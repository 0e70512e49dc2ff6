"""Invalid UTF-8 in Arrow string columns: found per batch, repaired on the rare batch that has it.

Spark hands strings to Python as their raw bytes, and a Spark string can hold bytes that are not
UTF-8 (``cast(unhex('C328') AS STRING)``). The mapping dead-letters such rows in the JVM; this
guard keeps the engine safe when a row gets past it anyway: instead of a ``UnicodeDecodeError``
on every attempt of the batch, the row becomes a dead letter with a reason and the rest of the
batch is delivered. The common path costs one vectorised validation per column and batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["RULE", "decode_lenient", "guard_raw_json", "guard_text"]

RULE = "not valid UTF-8 [utf8]"


def decode_lenient(data: bytes) -> str:
    """Bytes as text, bad bytes as U+FFFD (for dead letters' payloads)."""
    return data.decode("utf-8", errors="replace")


def _is_valid(column: Any) -> bool:
    import pyarrow as pa

    try:
        column.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def guard_text(batch: Any, text_columns: Sequence[int], error_column: int) -> Any:
    """``batch`` unchanged when its ``text_columns`` are valid UTF-8; otherwise a copy with bad
    values repaired (U+FFFD) and each affected row's ``error_column`` naming the column."""
    import pyarrow as pa

    bad = [i for i in text_columns if not _is_valid(batch.column(i))]
    if not bad:
        return batch
    arrays = list(batch.columns)
    reasons: dict[int, str] = {}
    for index in bad:
        fixed: list[str | None] = []
        for row, value in enumerate(arrays[index].view(pa.binary()).to_pylist()):
            if value is None:
                fixed.append(None)
                continue
            try:
                fixed.append(value.decode("utf-8"))
            except UnicodeDecodeError:
                fixed.append(decode_lenient(value))
                reasons.setdefault(row, f"{batch.schema.field(index).name}: {RULE}")
        arrays[index] = pa.array(fixed, type=pa.string())
    errors = arrays[error_column].to_pylist()
    for row, reason in reasons.items():
        errors[row] = reason
    arrays[error_column] = pa.array(errors, type=pa.string())
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


def _raw_reason(payload: bytes, start: int, end: int, columns: dict[str, str]) -> str:
    """Why ``payload[start:end]`` is not exactly one JSON object, naming the source column."""
    head = payload[:start]
    # The span follows `"<field>":` (the message's own field name, no escapes).
    field = head[head.rfind(b'"', 0, len(head) - 2) + 1 : len(head) - 2].decode("ascii", "replace")
    column = columns.get(field, field)
    try:
        payload[start:end].decode("utf-8")
    except UnicodeDecodeError:
        return f"{column}: {RULE}"
    return (
        f"{column}: malformed JSON or not a JSON object, or text before or after it "
        f"(a {field} column holds exactly one JSON object) [json_object]"
    )


def _object_decoder() -> Any:
    """A strict JSON decoder that checks a text is exactly one JSON object and builds nothing
    (msgspec skips the fields of a struct that declares none; trailing text is an error)."""
    import msgspec

    class _AnyObject(msgspec.Struct):
        pass

    return msgspec.json.Decoder(_AnyObject)


_DECODER: Any = None


def guard_raw_json(
    batch: Any,
    spans: Any,
    columns: Sequence[tuple[str, str]],
    payload_column: int,
    error_column: int,
) -> Any:
    """``batch`` with each row whose raw JSON is not exactly one JSON object given an error.

    ``spans`` (a list<int32> array, one entry per row) holds (start, end) byte offsets of the
    raw JSON values spliced into each row's payload; ``columns`` maps message field names to the
    source columns named in the reasons. One strict parse per value (RFC 8259: no trailing
    text, single quotes, NaN or control characters) and one vectorised UTF-8 check per batch.
    Rows that already have an error keep it. The common path (every value valid) returns
    ``batch`` itself.
    """
    global _DECODER
    import msgspec
    import pyarrow as pa
    import pyarrow.compute as pc

    payloads = batch.column(payload_column)
    errors_in = batch.column(error_column)
    check = pc.and_(errors_in.is_null(), spans.is_valid())
    if not pc.any(check).as_py():
        return batch
    if _DECODER is None:
        _DECODER = _object_decoder()
    decode, failure = _DECODER.decode, (msgspec.DecodeError, msgspec.ValidationError)
    data = memoryview(payloads.buffers()[2] or b"")
    wide = pa.types.is_large_binary(payloads.type)
    row_base = pa.Array.from_buffers(
        pa.int64() if wide else pa.int32(),
        len(payloads),
        [None, payloads.buffers()[1]],
        offset=payloads.offset,
    ).cast(pa.int64())
    lengths = pc.list_value_length(pc.filter(spans, check))
    width = pc.max(lengths).as_py() or 0
    bad: dict[int, tuple[int, int]] = {}
    if width != pc.min(lengths).as_py():
        raise ValueError("raw_json: every row must hold the same number of spans")
    nothing = pa.scalar(None, pa.int64())
    for k in range(0, width, 2):
        starts, ends = (
            pc.if_else(check, pc.list_element(spans, k + i).cast(pa.int64()), nothing)
            for i in (0, 1)
        )
        absolute = zip(
            pc.add(starts, row_base).to_pylist(), pc.add(ends, row_base).to_pylist(), strict=True
        )
        for row, (start, end) in enumerate(absolute):
            if start is None or row in bad:
                continue
            try:
                decode(data[start:end])
            except failure:
                bad[row] = (starts[row].as_py(), ends[row].as_py())
    if not _is_valid(payloads.view(pa.string())):
        # Bad bytes are rare: find the rows (skipping JSON never reads them as text).
        for row, value in enumerate(payloads.to_pylist()):
            if check[row].as_py() and row not in bad and value is not None:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    bad[row] = _bad_utf8_span(value, spans[row].as_py())
    if not bad:
        return batch
    names = dict(columns)
    errors = errors_in.to_pylist()
    for row, (start, end) in bad.items():
        errors[row] = _raw_reason(payloads[row].as_py(), start, end, names)
    arrays = list(batch.columns)
    arrays[error_column] = pa.array(errors, type=pa.string())
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


def _bad_utf8_span(payload: bytes, spans: list[int]) -> tuple[int, int]:
    """The span of ``payload`` holding its invalid UTF-8 (the first one, if none does)."""
    for k in range(0, len(spans), 2):
        try:
            payload[spans[k] : spans[k + 1]].decode("utf-8")
        except UnicodeDecodeError:
            return spans[k], spans[k + 1]
    return spans[0], spans[1]
