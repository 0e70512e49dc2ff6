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

__all__ = ["RULE", "decode_lenient", "guard_text"]

RULE = "not valid UTF-8 (rule: text must be valid UTF-8)"


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
