"""The Spark 4 Python Data Source front door: ``df.writeStream.format("customerio")``.

Same engine as the foreachBatch writer. The DataFrame written must hold the mapped message
columns — use :func:`prepare` (``to_messages`` plus a repartition by key, so every call of one
key is in one partition and sent one request at a time)::

    from customerio_sink.spark.datasource import prepare, register
    register(spark)
    query = (prepare(stream_df, options).writeStream.format("customerio")
             .options(**options.to_options()).option("checkpointLocation", cp).start())

Sending happens in ``write()`` on the executors. ``commit()`` runs in a Python worker on the
driver, where no SparkSession exists, so it only marks the batch complete in the journal; the
Delta ledger rows are written by :func:`ingest_committed` — which
:func:`customerio_sink.spark.runner.run_sync` calls while the query runs and when it ends.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pyspark.sql.datasource import (
    DataSource,
    DataSourceStreamWriter,
    DataSourceWriter,
    WriterCommitMessage,
)

from customerio_sink import journal
from customerio_sink.engine import INPUT_COLUMNS, PartitionSummary, run_partition
from customerio_sink.errors import ConfigError
from customerio_sink.spark.options import SinkOptions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession

__all__ = ["CustomerIODataSource", "ingest_committed", "prepare", "register"]

BATCH_ID_PROPERTY = "streaming.sql.batchId"  # MicroBatchExecution.BATCH_ID_KEY (internal)
QUERY_ID_PROPERTY = "sql.streaming.queryId"  # StreamExecution.QUERY_ID_KEY (internal)
_CHUNK = 5000
_CONCURRENCY = "customerio.concurrency"  # key-column metadata written by prepare()
_LANES = "customerio.lanes"


def register(spark: SparkSession) -> None:
    """Register the ``customerio`` format with this session (again is a no-op).

    Spark resolves a Python data source again while planning each micro-batch, in the session
    that is *active* on the stream's thread — inherited from the thread that starts the query,
    which may hold another session (e.g. the clone a foreachBatch call left active). So this
    also makes ``spark`` the active session of the calling thread: call it just before
    ``start()``.
    """
    # First: the "already exists" check looks in the active session. (Spark Connect has no
    # JVM here and one server-side session: nothing to do.)
    with contextlib.suppress(Exception):
        spark._jvm.SparkSession.setActiveSession(spark._jsparkSession)  # type: ignore[union-attr]
    try:
        spark.dataSource.register(CustomerIODataSource)
    except Exception as exc:
        if "DATA_SOURCE_ALREADY_EXISTS" not in str(exc):
            raise


def prepare(df: DataFrame, options: SinkOptions) -> DataFrame:
    """Map a (streaming or static) DataFrame to the columns the ``customerio`` format writes.

    Also records, in the ``key`` column's metadata, how many tasks will send at once (the
    cluster's task slots, or fewer partitions) and how many partitions there are, so each task
    takes its right share of the rate budget (the writer cannot ask the cluster itself).
    """
    from customerio_sink.spark.mapping import to_messages
    from customerio_sink.spark.writer import task_slots

    out = to_messages(
        df,
        options.mapping,
        job=options.job,
        backfill=options.backfill,
        hold_recent=options.hold_recent,
    )
    # All calls of one key in one partition, sent one request at a time (see the writer).
    slots = task_slots(df.sparkSession)
    lanes = options.partitions or slots
    out = out.repartition(lanes, "key")
    concurrency = options.concurrency or min(lanes, slots)
    return out.withMetadata("key", {_CONCURRENCY: concurrency, _LANES: lanes})


def _sending_shape(schema: Any, options: dict[str, str]) -> tuple[int | None, int | None]:
    """(concurrency, lanes) from the options, else from what :func:`prepare` recorded."""
    meta: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        meta = dict(schema["key"].metadata or {})
    given = {k.lower(): v for k, v in options.items()}
    concurrency = given.get("concurrency") or meta.get(_CONCURRENCY)
    lanes = given.get("partitions") or meta.get(_LANES)
    return (int(concurrency) if concurrency else None), (int(lanes) if lanes else None)


@dataclass
class SinkCommitMessage(WriterCommitMessage):
    """What one partition reports back: its counts and the run it belongs to."""

    run_id: str
    batch_id: int
    summary: dict[str, Any] = field(default_factory=dict)


def _batches(rows: Iterator[Row]) -> Iterator[dict[str, list[Any]]]:
    chunk: dict[str, list[Any]] = {c: [] for c in INPUT_COLUMNS}
    n = 0
    for row in rows:
        for name in INPUT_COLUMNS:
            value = row[name]
            chunk[name].append(bytes(value) if isinstance(value, bytearray) else value)
        n += 1
        if n >= _CHUNK:
            yield chunk
            chunk = {c: [] for c in INPUT_COLUMNS}
            n = 0
    if n:
        yield chunk


class _Writer:
    """Shared by the stream and batch writers: holds string options only (picklable)."""

    def __init__(self, options: dict[str, str], schema: Any, run_id: str | None = None) -> None:
        self.options = dict(options)
        self.fixed_run_id = run_id
        opts = SinkOptions.from_options(self.options)  # fail fast, on the driver, on bad options
        self.concurrency, self.lanes = _sending_shape(schema, self.options)
        if self.concurrency is None and opts.rate_requests and not opts.dry_run:
            raise ConfigError(
                "format('customerio'): unknown how many tasks send at once, so the rate "
                "budget cannot be split: write a DataFrame made by prepare(), or give the "
                "option 'concurrency' (the cluster's task slots)"
            )

    def _send(self, rows: Iterator[Row], default_batch: int) -> SinkCommitMessage:
        from pyspark import TaskContext

        from customerio_sink.spark.writer import send_settings

        ctx = TaskContext.get()
        batch_prop = ctx.getLocalProperty(BATCH_ID_PROPERTY) if ctx else None
        batch_id = int(batch_prop) if batch_prop is not None else default_batch
        run_id = self.fixed_run_id or (ctx.getLocalProperty(QUERY_ID_PROPERTY) if ctx else None)
        run_id = run_id or "batch"
        opts = SinkOptions.from_options(self.options)
        settings = send_settings(opts, run_id, self.concurrency or 1, self.lanes)
        summary = run_partition(_batches(rows), settings, batch_id, ctx.partitionId() if ctx else 0)
        return SinkCommitMessage(run_id=run_id, batch_id=batch_id, summary=summary.as_dict())

    def _commit(self, messages: list[Any], batch_id: int) -> None:
        done = [m for m in messages if isinstance(m, SinkCommitMessage)]
        if not done:
            return
        opts = SinkOptions.from_options(self.options)
        summary = PartitionSummary.merge(m.summary for m in done)
        summary["committed_at"] = datetime.now(timezone.utc).isoformat()
        journal.write_commit(opts.ledger.journal, f"{opts.job}/{done[0].run_id}", batch_id, summary)


class CustomerIOStreamWriter(_Writer, DataSourceStreamWriter):
    def write(self, iterator: Iterator[Row]) -> SinkCommitMessage:
        return self._send(iterator, default_batch=0)

    def commit(self, messages: list[Any], batchId: int) -> None:
        self._commit(messages, batchId)

    def abort(self, messages: list[Any], batchId: int) -> None:
        # HTTP calls cannot be undone; the journal already holds what was sent, and the replay
        # of this batch skips it.
        return None


class CustomerIOBatchWriter(_Writer, DataSourceWriter):
    def write(self, iterator: Iterator[Row]) -> SinkCommitMessage:
        return self._send(iterator, default_batch=0)

    def commit(self, messages: list[Any]) -> None:
        self._commit(messages, 0)


class CustomerIODataSource(DataSource):
    """``format("customerio")``: stream and batch writers over the sink's engine.

    Options: as :meth:`SinkOptions.from_options` (``job``, ``mapping``, ``ledger_path`` …).
    """

    @classmethod
    def name(cls) -> str:
        return "customerio"

    def writer(self, schema: Any, overwrite: bool) -> CustomerIOBatchWriter:
        # A static write has no batch id; each write is its own run.
        return CustomerIOBatchWriter(
            dict(self.options), schema, run_id=f"static-{uuid.uuid4().hex}"
        )

    def streamWriter(self, schema: Any, overwrite: bool) -> CustomerIOStreamWriter:
        return CustomerIOStreamWriter(dict(self.options), schema)


def ingest_committed(
    spark: SparkSession, options: SinkOptions, run_id: str, *, already: set[int] | None = None
) -> list[dict[str, Any]]:
    """Write the ledger rows of every committed, not yet ingested batch of ``run_id``.

    Returns the lineage rows written. Idempotent (Delta txn per batch), so calling it twice is
    harmless; ``already`` (updated in place) skips batches this process has ingested.
    """
    done = already if already is not None else set()
    key = f"{options.job}/{run_id}"
    out = []
    options.ledger.ensure_tables(spark)
    for batch_id in journal.committed_batches(options.ledger.journal, key):
        if batch_id in done:
            continue
        summary = journal.read_commit(options.ledger.journal, key, batch_id) or {}
        started = summary.get("committed_at")
        lineage = options.ledger.ingest(
            spark,
            job=options.job,
            run_id=run_id,
            batch_id=batch_id,
            summary=summary,
            front_door="datasource",
            source=options.source_name,
            started_at=datetime.fromisoformat(started) if started else datetime.now(timezone.utc),
            dry_run=options.dry_run,
        )
        journal.prune_before(options.ledger.journal, key, batch_id)
        done.add(batch_id)
        out.append(lineage)
    return out
