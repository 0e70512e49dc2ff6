"""The ledger rows of one micro-batch: its acks, dead letters, retry-queue rows, requests and
skipped rows as DataFrames of the tables' columns, and their idempotent appends
(:func:`append_batch`: a replayed batch writes nothing twice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from customerio_sink.engine import journal

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from customerio_sink.spark.ledger import Ledger

__all__ = [
    "AGAIN",
    "FIRST",
    "TXN",
    "BatchKey",
    "Write",
    "append_batch",
    "literal_frame",
    "outcome_writes",
    "reason_columns",
    "request_rows",
    "skipped_write",
]

#: One ledger append, run later (at the same time as the batch's others).
Write = Callable[[], None]


@dataclass(frozen=True)
class BatchKey:
    """One micro-batch of one run of a job: what each of its ledger writes is idempotent per."""

    job: str
    run_id: str
    batch_id: int

    @property
    def app_id(self) -> str:
        """The ``txnAppId`` of the batch's writes, before the table name is added."""
        return f"{self.job}:{self.run_id}"

    def rows_of(self, ledger: Ledger, spark: Any, name: str) -> DataFrame:
        """The rows of this batch in the ledger table ``name`` (its files are skipped by their
        statistics on job, run and batch)."""
        from pyspark.sql import functions as F

        return ledger.read(spark, name).where(
            (F.col("job") == self.job)
            & (F.col("run_id") == self.run_id)
            & (F.col("batch_id") == self.batch_id)
        )

    def columns(self) -> list[Any]:
        """``job``, ``run_id`` and ``batch_id`` as the first columns of a table row."""
        from pyspark.sql import functions as F

        return [
            F.lit(self.job).alias("job"),
            F.lit(self.run_id).alias("run_id"),
            F.lit(self.batch_id).cast("bigint").alias("batch_id"),
        ]


#: How :func:`append_batch` appends a batch's rows: ``FIRST`` — a plain append (the attempt
#: claimed the batch's journal and sent every message itself, so no earlier attempt can have
#: written to the ledger); ``AGAIN`` — a later attempt of a batch whose first attempt may have
#: made plain appends: a table already holding rows of the batch is left as it is, else Delta's
#: txn append; ``TXN`` — Delta's txn append only (every write of the batch carries it).
FIRST, AGAIN, TXN = "first", "again", "txn"


def append_batch(ledger: Ledger, df: DataFrame, name: str, key: BatchKey, how: str) -> None:
    """Append one batch's rows to the ledger table ``name``, once per batch (``how``: above).

    The txn append carries ``txnAppId=<job>:<run>:<table>`` and ``txnVersion=<batch_id>``; a
    first attempt goes without because Delta answers the txn check by rebuilding the table's
    whole state (three Spark jobs, about 0.4 s per table and batch). Delta commits are all or
    nothing, so a table holding any row of the batch holds all of that attempt's rows.
    """
    if how == AGAIN and key.rows_of(ledger, df.sparkSession, name).limit(1).count():
        return
    ledger._append(df, name, key.app_id, key.batch_id, txn=how != FIRST)


def literal_frame(spark: Any, row: dict[str, Any], ddl: str) -> DataFrame:
    """One row (a dict with the columns of the table schema ``ddl``) as a DataFrame of
    literals: planned in the JVM alone. (``createDataFrame`` of Python rows runs a Spark job on
    a Python worker to read them back: a tenth of a second per lineage row.)"""
    from pyspark.sql import functions as F

    columns = []
    for field in spark.createDataFrame([], ddl).schema.fields:  # the DDL parsed, no rows
        value = row.get(field.name)
        if isinstance(value, dict):
            literal = F.create_map(*[F.lit(part) for item in value.items() for part in item])
        else:
            literal = F.lit(value)
        columns.append(literal.cast(field.dataType).alias(field.name))
    return spark.range(1).select(*columns)


def request_rows(reqs: DataFrame, key: BatchKey) -> DataFrame:
    """The batch's requests as rows of the ``requests`` table."""
    from pyspark.sql import functions as F

    from customerio_sink.engine.journaling import REQUEST_FIELDS

    return reqs.select(
        *key.columns(), *REQUEST_FIELDS, F.to_timestamp("started_at").alias("started_at")
    )


def skipped_write(ledger: Ledger, rows: DataFrame, key: BatchKey, how: str) -> None:
    """Append the batch's skipped rows (columns :data:`SKIPPED_ROW_COLUMNS`)."""
    from pyspark.sql import functions as F

    frame = rows.select(
        *key.columns(),
        "message_id",
        "call_type",
        "event",
        "source_key",
        F.col("commit_version").cast("bigint").alias("commit_version"),
        "reason",
        F.col("related_id").alias("related_message_id"),
        F.current_timestamp().alias("skipped_at"),
    )
    append_batch(ledger, frame, "skipped", key, how)


def outcome_writes(
    ledger: Ledger, outcomes: DataFrame, counts: dict[str, int], key: BatchKey, how: str
) -> list[Write]:
    """The appends of one batch's final outcomes (acks, dead letters, retry queue); payloads
    encrypted with the ledger's cipher, if it has one."""
    frames = _outcome_frames(outcomes, counts, key)
    if ledger.cipher is not None:
        from customerio_sink.spark.keys import resolve_cipher

        cipher = resolve_cipher(ledger.cipher)
        frames = [
            (cipher.encrypt_columns(df, ["payload"]) if name != "acks" else df, name)
            for df, name in frames
        ]
    return [partial(append_batch, ledger, df, name, key, how) for df, name in frames]


def _outcome_frames(
    outcomes: DataFrame, counts: dict[str, int], key: BatchKey
) -> list[tuple[DataFrame, str]]:
    """(rows, table) of each final outcome the batch has: acks, dead letters, retry queue."""
    from pyspark.sql import functions as F

    base: list[Any] = [
        *key.columns(),
        "message_id",
        "call_type",
        "event",
        "source_key",
        "commit_version",
    ]
    at = F.col("at")  # a TIMESTAMP (see journal_frames)
    frames: list[tuple[DataFrame, str]] = []
    if counts[journal.ACKED]:
        acked = outcomes.where("outcome = 'acked'")
        frames.append((acked.select(*base, *_ack_columns(at)), "acks"))
    if counts[journal.DEAD]:
        dead = outcomes.where("outcome = 'dead'")
        frames.append((dead.select(*base, *_dead_letter_columns(at)), "dead_letters"))
    if counts[journal.PARKED]:
        parked = outcomes.where("outcome = 'parked'")
        frames.append((parked.select(*base, *_retry_queue_columns(at)), "retry_queue"))
    return frames


def _ack_columns(at: Any) -> list[Any]:
    """The ``acks`` columns after the message's own."""
    return ["http_status", "attempts", "request_bytes", "latency_ms", at.alias("sent_at")]


def _dead_letter_columns(at: Any) -> list[Any]:
    """The ``dead_letters`` columns after the message's own."""
    from pyspark.sql import functions as F

    return [
        "payload",
        "error_class",
        F.coalesce("reason", "error_class").alias("error_message"),
        "http_status",
        at.alias("failed_at"),
        F.lit(None).cast("timestamp").alias("replayed_at"),
        F.lit(None).cast("string").alias("replay_status"),
        *reason_columns(F.col("reason"), F.col("error_class")),
    ]


def _retry_queue_columns(at: Any) -> list[Any]:
    """The ``retry_queue`` columns after the message's own."""
    from pyspark.sql import functions as F

    return [
        "payload",
        "reason",
        "error_class",
        at.alias("parked_at"),
        F.lit(None).cast("timestamp").alias("drained_at"),
        F.lit(None).cast("string").alias("drain_status"),
        F.lit(0).alias("drain_attempts"),
    ]


def reason_columns(reason: Any, error_class: Any) -> list[Any]:
    """``error_field`` and ``error_rule`` of dead letters, split from the reason in SQL (the
    same split as :func:`customerio_sink.messages.rules.split_reason`)."""
    from pyspark.sql import functions as F

    from customerio_sink.messages.rules import (
        REASON_FIELD_PATTERN,
        REASON_RULE_PATTERN,
        RULE_OF_ERROR_CLASS,
    )

    field = F.regexp_extract(reason, REASON_FIELD_PATTERN, 1)
    code = F.regexp_extract(reason, REASON_RULE_PATTERN, 1)
    by_class = F.create_map(*(F.lit(x) for pair in RULE_OF_ERROR_CLASS.items() for x in pair))
    fallback = F.coalesce(
        F.element_at(by_class, F.coalesce(error_class, F.lit(""))), F.lit("unknown")
    )
    return [
        F.when(field != "", field).alias("error_field"),
        F.when(code != "", code).otherwise(fallback).alias("error_rule"),
    ]
