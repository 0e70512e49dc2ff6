"""The engine's input as Arrow: the columns it reads, their types, and the column-wise helpers.

Every input batch becomes one Arrow record batch of :data:`INPUT_COLUMNS` (in that order, with
the types of :data:`_INPUT_TYPES`): Arrow batches are used as they are (a string payload is
viewed as bytes, no copy), column mappings are converted. Row tuples (:func:`_tuples`) are
built only for the rare rows looked at one by one (dead letters, parked and skipped rows).

Pure Python at import: pyarrow is imported by the functions that use it, pyspark never.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from customerio_sink.engine.ids import HASH_COLUMN, with_message_ids
from customerio_sink.engine.semantic_guard import guard_semantic
from customerio_sink.engine.text_guard import guard_raw_json, guard_text

#: Columns the engine reads from each input batch.
INPUT_COLUMNS = (
    "key",
    "message_id",
    "type",
    "event",
    "payload",
    "error",
    "change",
    "version",
    "hash",
    "hold",
    "in_window",
)

# Row tuple positions (INPUT_COLUMNS order).
KEY, MID, TYPE, EVENT, PAYLOAD, ERROR, CHANGE, VERSION, HASH, HOLD, IN_WINDOW = range(11)

#: Text columns the engine reads as Python strings and the mapping copies from source text.
_TEXT = (KEY, EVENT, ERROR)

#: Arrow types of the input columns (INPUT_COLUMNS order).
_INPUT_TYPES = (
    "string",
    "string",
    "string",
    "string",
    "binary",
    "string",
    "string",
    "int64",
    "string",
    "bool_",
    "bool_",
)


def _schema(fields: Sequence[tuple[str, str]]) -> Any:
    import pyarrow as pa

    return pa.schema([(name, _arrow_type(pa, kind)) for name, kind in fields])


def _arrow_type(pa: Any, kind: str) -> Any:
    """The Arrow type of a type name: pyarrow's own names, and ``timestamp`` (UTC, microseconds:
    Spark reads it as a TIMESTAMP with no parsing)."""
    return pa.timestamp("us", tz="UTC") if kind == "timestamp" else getattr(pa, kind)()


@lru_cache(maxsize=1)
def _input_schema() -> Any:
    return _schema(tuple(zip(INPUT_COLUMNS, _INPUT_TYPES, strict=True)))


def _as_arrow(
    batch: Any, raw_json_columns: Sequence[tuple[str, str]] = (), semantic: bool = False
) -> Any:
    """One input batch as an Arrow record batch of the input columns, in INPUT_COLUMNS order.

    Arrow batches (what ``mapInArrow`` hands over) are used as they are, with no per-row Python
    objects; column mappings (lists per column) are converted. An optional ``raw_json`` column
    (see :func:`customerio_sink.spark.mapping.to_messages`, ``engine_json``) has the raw JSON
    in each payload checked here: a row with one that is not exactly one object gets an error.
    With ``semantic``, so does a ``track`` row whose semantic event's fields are wrong
    (:func:`~customerio_sink.engine.semantic_guard.guard_semantic`).
    """
    import pyarrow as pa

    out = _input_batch(batch)
    names = batch.schema.names if isinstance(batch, pa.RecordBatch) else list(batch)
    if "raw_json" in names:
        spans = batch.column("raw_json") if isinstance(batch, pa.RecordBatch) else batch["raw_json"]
        if not isinstance(spans, pa.Array):
            spans = pa.array(list(spans), type=pa.list_(pa.int32()))
        out = guard_raw_json(out, spans, raw_json_columns, PAYLOAD, ERROR)
    return guard_semantic(out, TYPE, EVENT, PAYLOAD, ERROR) if semantic else out


def _input_batch(batch: Any) -> Any:
    import pyarrow as pa

    schema = _input_schema()
    if isinstance(batch, pa.RecordBatch):
        if HASH_COLUMN in batch.schema.names:  # a mapping made with engine_ids
            batch = with_message_ids(batch)
        arrays = []
        for name, wanted in zip(INPUT_COLUMNS, schema.types, strict=True):
            column = batch.column(name)
            if column.type == wanted:
                arrays.append(column)
            elif column.type == pa.string() and wanted == pa.binary():
                arrays.append(column.view(pa.binary()))  # the same UTF-8 bytes, no copy
            else:
                arrays.append(column.cast(wanted))
        # Spark's strings are raw bytes: bad UTF-8 in a key/event/error becomes a dead letter.
        return guard_text(pa.RecordBatch.from_arrays(arrays, schema=schema), _TEXT, ERROR)
    return pa.RecordBatch.from_pydict({c: list(batch[c]) for c in INPUT_COLUMNS}, schema=schema)


def _from_tuples(rows: Sequence[tuple[Any, ...]]) -> Any:
    import pyarrow as pa

    schema = _input_schema()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in INPUT_COLUMNS]
    return pa.RecordBatch.from_arrays(
        [pa.array(list(c), type=t) for c, t in zip(columns, schema.types, strict=True)],
        schema=schema,
    )


def _tuples(batch: Any) -> list[tuple[Any, ...]]:
    """Row tuples (INPUT_COLUMNS order) of an Arrow batch: for the rare per-row paths."""
    return list(zip(*(batch.column(i).to_pylist() for i in range(len(INPUT_COLUMNS))), strict=True))


def _count(mask: Any) -> int:
    import pyarrow.compute as pc

    return int(pc.sum(mask).as_py() or 0)


def _payload_bytes(batch: Any) -> int:
    """Bytes of the batch's messages plus one separator each (as the packer counts them)."""
    import pyarrow.compute as pc

    if not batch.num_rows:
        return 0
    return int(pc.sum(pc.binary_length(batch.column(PAYLOAD))).as_py() or 0) + batch.num_rows
