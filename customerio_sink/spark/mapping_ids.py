"""The deterministic messageId of a mapped row: on the JVM, or its base-32 left to the engine.

One definition (:mod:`customerio_sink.messages.message_id`), two ways to finish it: the whole id
as a SQL expression (``message_id`` column), or — for the sending engine, ``engine_ids`` — only
its time and hash, with a placeholder in the message that the engine writes the id over
(:mod:`customerio_sink.engine.ids`: a few vectorised operations per batch instead of three
``conv`` and a ``translate`` per row).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from customerio_sink.engine.ids import HASH_COLUMN, TIME_COLUMN
from customerio_sink.messages.message_id import (
    ID_PLACEHOLDER,
    message_id_sql,
    message_id_sql_parts,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["message_id_columns", "stage_message_id"]


def message_id_columns(parts: list[str], time_col: str, engine_ids: bool) -> dict[str, Column]:
    """The id over staged columns (names) and a time column: ``{"message_id": id}``; with
    ``engine_ids`` the id's time and hash instead (``mid_time``, ``mid_hash``)."""
    from pyspark.sql import functions as F

    names = [f"`{p}`" for p in parts]
    # The id's time field holds 0 … 2^48-1 ms: a time before 1970 counts as 0.
    time_ms = f"greatest(coalesce(unix_millis(`{time_col}`), 0), 0)"
    if engine_ids:
        stamp, digest = message_id_sql_parts(*names, time_ms=time_ms)
        return {TIME_COLUMN: F.expr(stamp), HASH_COLUMN: F.expr(digest)}
    return {"message_id": F.expr(message_id_sql(*names, time_ms=time_ms))}


def stage_message_id(
    df: DataFrame, parts: list[str], time_col: str, engine_ids: bool
) -> tuple[DataFrame, Column, list[Column]]:
    """(``df`` with the id staged once, what the message holds in its ``messageId`` field —
    the id or the engine's placeholder —, the mapping's output columns of the id)."""
    from pyspark.sql import functions as F

    ids = message_id_columns(parts, time_col, engine_ids)
    df = df.select("*", *[column.alias(f"__cio_{name}") for name, column in ids.items()])
    mid = F.lit(ID_PLACEHOLDER) if engine_ids else F.col("__cio_message_id")
    return df, mid, [F.col(f"__cio_{name}").alias(name) for name in ids]
