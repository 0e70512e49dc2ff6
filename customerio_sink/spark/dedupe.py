"""Repeats across micro-batches: a queue row whose message was already delivered is not sent again.

Within one micro-batch the engine sends a repeated ``messageId`` once (the rest are skipped as
``duplicate``). Across batches a repeat — the same event appended again a day later, a producer
that re-sends — has the same deterministic ``messageId``; with ``dedupe_window`` set (``"7 days"``)
each batch's messages are looked up in the ledger's ``acks`` of the job within that window, and the
ones found are skipped as ``duplicate`` (``related_message_id`` is the delivered message's id).

Why the ledger and not ``dropDuplicatesWithinWatermark``: the streaming operator drops a repeat
before the sink sees it, so the row would be in no ledger table and the lineage would not add up.
Looked up here, every repeat is a ``skipped`` row with its reason, on any Spark version and on
Spark Connect; the cost is one join of the batch's ids with the acks of the window (the acks
table keeps statistics on ``message_id`` and ``job``, so Delta skips the files it can).

The acks are read at one table version per batch, so the rows sent and the rows recorded as
skipped come from the same lookup, however often Spark evaluates them. Acks of the batch itself
(an earlier attempt of a replayed batch) are left out: the engine counts those as already final.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from customerio_sink.engine.collapse import SKIP_DUPLICATE
from customerio_sink.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from customerio_sink.spark.options import SinkOptions

__all__ = [
    "LATEST_CALLS",
    "WINDOW_PATTERN",
    "check_latest",
    "check_window",
    "delivered_before",
    "window_length",
]

#: A window as ``dedupe_window`` takes it: a count and a unit (``"36 hours"``, ``"7 days"``).
WINDOW_PATTERN = re.compile(r"\s*([1-9][0-9]{0,5})\s+(second|minute|hour|day|week)s?\s*", re.I)

Split = Callable[["DataFrame"], tuple["DataFrame", "DataFrame"]]


#: Queue calls whose rows are snapshots of a key, where ``latest_per_key`` may keep the latest.
LATEST_CALLS = ("identify", "group")


def check_latest(source: str, call: str, timestamp: str | None) -> None:
    """ConfigError unless a mapping with ``latest_per_key`` can keep a key's latest row."""
    if source != "queue" or call not in LATEST_CALLS:
        raise ConfigError(
            "latest_per_key: applies to identify and group queues (a change feed is already "
            "sent as one net change per key; events are each sent)"
        )
    if not timestamp:
        raise ConfigError("latest_per_key needs timestamp=<column> (it orders a key's rows)")


def check_window(window: str | None, source: str) -> None:
    """ConfigError unless ``window`` is None or a window of a queue mapping."""
    if window is None:
        return
    if not isinstance(window, str) or not WINDOW_PATTERN.fullmatch(window):
        raise ConfigError(
            f"dedupe_window: a count and a unit such as '24 hours' or '7 days', got {window!r}"
        )
    if source != "queue":
        raise ConfigError(
            "dedupe_window: for queue tables (a change feed's messageIds are already one per "
            "change); remove it for this mapping"
        )


def window_length(window: str) -> timedelta:
    """``window`` (``"36 hours"``) as a timedelta."""
    found = WINDOW_PATTERN.fullmatch(window)
    if found is None:  # checked when the options were built
        raise ConfigError(f"dedupe_window: a count and a unit such as '7 days', got {window!r}")
    return timedelta(**{found.group(2).lower() + "s": int(found.group(1))})


def delivered_before(spark: SparkSession, opts: SinkOptions, run_id: str, batch_id: int) -> Split:
    """A writer ``exclude`` hook for one batch: (messages to send, the repeats as skipped rows)."""
    from pyspark.sql import functions as F

    window = opts.dedupe_window or ""
    table = opts.ledger.table("acks")
    latest = spark.sql(f"DESCRIBE HISTORY {table} LIMIT 1").first()
    version = int(latest["version"]) if latest is not None else 0
    acks = spark.sql(
        f"SELECT job, run_id, batch_id, message_id, sent_at FROM {table} VERSION AS OF {version}"
    )
    # One instant for the batch, so every evaluation of the split agrees on the window.
    since = F.lit(datetime.now(timezone.utc) - window_length(window))
    this_batch = (F.col("run_id") == F.lit(run_id)) & (F.col("batch_id") == F.lit(batch_id))
    delivered = (
        acks.where((F.col("job") == F.lit(opts.job)) & (F.col("sent_at") >= since) & ~this_batch)
        .select(F.col("message_id").alias("__cio_delivered"))
        .distinct()
    )

    def split(messages: DataFrame) -> tuple[DataFrame, DataFrame]:
        columns = messages.columns
        joined = messages.join(
            delivered, messages["message_id"] == F.col("__cio_delivered"), "left"
        )
        send = joined.where(F.col("__cio_delivered").isNull()).select(*columns)
        repeats = joined.where(F.col("__cio_delivered").isNotNull()).selectExpr(*_SKIPPED)
        return send, repeats

    return split


_SKIPPED = (
    "message_id",
    "type AS call_type",
    "event",
    "key AS source_key",
    "version AS commit_version",
    f"'{SKIP_DUPLICATE}' AS reason",
    "message_id AS related_id",
)
