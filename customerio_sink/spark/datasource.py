"""The Spark 4 Python Data Source front door: ``format("customerio")``, streaming and batch.

Same engine as the foreachBatch writer. The DataFrame written must hold the mapped message
columns — use :func:`prepare` (``to_messages`` plus a repartition by key, so every call of one
key is in one partition and sent one request at a time)::

    from customerio_sink.spark.datasource import prepare, register
    register(spark)
    query = (prepare(stream_df, options).writeStream.format("customerio")
             .options(**options.to_options()).option("checkpointLocation", cp).start())
    # or, once: prepare(static_df, options).write.format("customerio")
    #               .options(**options.to_options()).option("run_id", "backfill-1").save()

Sending happens in ``write()`` on the executors. ``commit()`` runs in a Python worker on the
driver, where no SparkSession exists, so it marks the batch complete in the journal and leaves a
marker for the driver; the driver's ledger thread, which :func:`register` starts, writes the
Delta ledger rows and prunes the journal (:mod:`customerio_sink.spark.listener`) — no call
after ``start()`` or ``save()``. ``cio.flush()`` waits for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from customerio_sink.errors import ConfigError

try:
    from pyspark.sql.datasource import (
        DataSource,
        DataSourceStreamWriter,
        DataSourceWriter,
        WriterCommitMessage,
    )
except ImportError:  # Spark 3.5: no Python Data Source API
    raise ConfigError(
        "format('customerio') (the Python Data Source door) needs Spark 4.0 or newer; on this "
        "Spark use the foreachBatch door: cio.sync(..., front_door='foreachBatch') or cio.writer"
    ) from None

from customerio_sink.engine import journal
from customerio_sink.engine.partition import INPUT_COLUMNS, PartitionSummary, run_partition
from customerio_sink.spark.listener import ingest_committed
from customerio_sink.spark.options import SinkOptions
from customerio_sink.spark.writer import batch_run_id

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession

__all__ = [
    "CustomerIODataSource",
    "batch_run_id",
    "ingest_committed",
    "prepare",
    "register",
]

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
    source: type[CustomerIODataSource] = CustomerIODataSource
    if hasattr(spark, "_jsparkSession"):  # classic Spark: the ledger thread runs in this process
        from customerio_sink.spark.listener import install

        registry = install(spark).registry
        # A class of its own, pickled by value with the registry's path: how commit(), in a
        # Python worker, finds where to tell this process that a batch is ready.
        source = type("RegisteredCustomerIODataSource", (CustomerIODataSource,), {})
        source.registry = registry
    try:
        spark.dataSource.register(source)
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

    kind = "stream"

    def __init__(
        self,
        options: dict[str, str],
        schema: Any,
        run_id: str | None = None,
        registry: str | None = None,
    ) -> None:
        self.options = dict(options)
        self.fixed_run_id = run_id
        self.registry = registry
        opts = SinkOptions.from_options(self.options)  # fail fast, on the driver, on bad options
        if opts.dedupe_window:
            raise ConfigError(
                "format('customerio'): dedupe_window looks up the ledger before each batch, "
                "which only the foreachBatch door does; use cio.sync or cio.writer for it"
            )
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
        summary.update(_task_time_split(summary, done))
        summary["committed_at"] = datetime.now(timezone.utc).isoformat()
        run_id = done[0].run_id
        journal.write_commit(opts.ledger.journal, f"{opts.job}/{run_id}", batch_id, summary)
        if self.registry:
            from customerio_sink.spark.markers import write_marker

            write_marker(self.registry, run_id, opts, self.kind)


def _task_time_split(summary: dict[str, Any], done: list[SinkCommitMessage]) -> dict[str, float]:
    """The batch's map and send seconds, from its tasks: the sending job took at least as long
    as its longest task, split by the share the tasks spent waiting for mapped rows. (The
    stream's own overhead is not seen from here: the job's wall time less the rest.)"""
    from customerio_sink.spark.writer import time_split

    longest = max(float(m.summary.get("task_s") or 0.0) for m in done)
    split = time_split(summary, longest, 0.0)
    return {name: split[name] for name in ("map_seconds", "send_seconds")}


class CustomerIOStreamWriter(_Writer, DataSourceStreamWriter):
    """The streaming writer: each task sends its rows; ``commit`` marks the micro-batch sent."""

    def write(self, iterator: Iterator[Row]) -> SinkCommitMessage:
        return self._send(iterator, default_batch=0)

    def commit(self, messages: list[Any], batchId: int) -> None:
        self._commit(messages, batchId)

    def abort(self, messages: list[Any], batchId: int) -> None:
        # HTTP calls cannot be undone; the journal already holds what was sent, and the replay
        # of this batch skips it.
        return None


class CustomerIOBatchWriter(_Writer, DataSourceWriter):
    """The batch writer: each task sends its rows; ``commit`` marks the write (batch 0) sent."""

    kind = "batch"

    def write(self, iterator: Iterator[Row]) -> SinkCommitMessage:
        return self._send(iterator, default_batch=0)

    def commit(self, messages: list[Any]) -> None:
        self._commit(messages, 0)


class CustomerIODataSource(DataSource):
    """``format("customerio")``: stream and batch writers over the sink's engine.

    Options: as :meth:`SinkOptions.from_options` (``job``, ``mapping``, ``ledger_path`` …); a
    batch write also takes ``run_id`` (default: a new ``batch-<UTC time>-<hex>``), which names
    its rows in the ledger — give the same one again to resume an interrupted write without
    sending twice.
    """

    registry: str | None = None  # set on the class :func:`register` registers

    @classmethod
    def name(cls) -> str:
        return "customerio"

    def writer(self, schema: Any, overwrite: bool) -> CustomerIOBatchWriter:
        # A static write has no batch id: it is batch 0 of a run of its own.
        options = dict(self.options)
        run_id = batch_run_id({k.lower(): v for k, v in options.items()}.get("run_id"))
        return CustomerIOBatchWriter(options, schema, run_id=run_id, registry=self.registry)

    def streamWriter(self, schema: Any, overwrite: bool) -> CustomerIOStreamWriter:
        return CustomerIOStreamWriter(dict(self.options), schema, registry=self.registry)
