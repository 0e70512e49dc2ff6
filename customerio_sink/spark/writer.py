"""The foreachBatch front door: ``query = df.writeStream.foreachBatch(CustomerIOWriter(opts))``.

Free of Spark-4-only APIs (``mapInArrow`` is Spark 3.3+), so it also runs on Databricks runtimes
on Spark 3.5. Each micro-batch: map rows to messages in the JVM, send per partition on the
executors through the shared engine (each partition with its share of the rate budget), then
write the batch's journal into the Delta ledger, idempotently per ``(job, run, batch_id)``.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from customerio_sink.engine import journal
from customerio_sink.engine.partition import PartitionSummary, SendSettings, run_partition
from customerio_sink.errors import ConfigError
from customerio_sink.spark.ledger import check_journal_shared
from customerio_sink.spark.mapping import raw_json_columns, to_messages
from customerio_sink.spark.options import SinkOptions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "CustomerIOWriter",
    "batch_run_id",
    "partition_sender",
    "run_id_of",
    "send_settings",
    "time_split",
]

log = logging.getLogger(__name__)

QUERY_ID_PROPERTY = "sql.streaming.queryId"  # StreamExecution.QUERY_ID_KEY (internal)


def run_id_of(spark: SparkSession, query_name: str | None = None) -> str:
    """The streaming query id of the running batch ("batch" outside a stream).

    Kept in the checkpoint, so it is stable across restarts and new after a checkpoint reset.
    Classic Spark sets it as a local property of the batch's thread. Spark Connect has no
    SparkContext: there it is the id of the session's active query named ``query_name`` (the
    job: ``cio.sync`` and the jobs name their query after it), else of its only active query.
    """
    from customerio_sink.errors import ConfigError

    try:
        value = spark.sparkContext.getLocalProperty(QUERY_ID_PROPERTY)
    except Exception:  # Spark Connect: no SparkContext
        value = None
    if value:
        return str(value)
    try:
        active = list(spark.streams.active)
    except Exception:
        active = []
    if not active:
        return "batch"
    named = [q for q in active if query_name and q.name == query_name]
    if len(named) == 1:
        return str(named[0].id)
    if len(active) == 1:
        return str(active[0].id)
    raise ConfigError(
        f"job {query_name!r}: cannot tell which of {len(active)} running streaming queries this "
        f"batch belongs to; name the query after the job (writeStream.queryName({query_name!r}))"
    )


def task_slots(spark: SparkSession) -> int:
    """How many tasks the cluster runs at once (2 when it cannot tell, e.g. Spark Connect)."""
    try:
        return max(1, int(spark.sparkContext.defaultParallelism))
    except Exception:
        return max(1, int(spark.conf.get("spark.default.parallelism", "2") or 2))


def _events_from_a_column(m: Any) -> bool:
    return bool(m.source == "queue" and m.call == "track" and not m.event and m.event_column)


def send_settings(
    options: SinkOptions, run_id: str, concurrency: int, lanes: int | None = None
) -> SendSettings:
    """The picklable per-task settings of one run of one job.

    ``concurrency``: how many of its tasks send at once; ``lanes``: how many partitions the
    batch has, when known (tasks below one request per window each own a lane of slots).
    """
    return SendSettings(
        journal_key=f"{options.job}/{run_id}",
        journal_dir=options.ledger.journal,
        api_key=options.api_key,
        endpoint=options.endpoint,
        region=options.region,
        rate_requests=options.rate_requests,
        rate_period_s=options.rate_period_s,
        concurrency=max(1, concurrency),
        lanes=lanes,
        budget_dir=options.budget_root,
        max_body_bytes=options.max_body_bytes,
        max_batch_messages=options.max_batch_messages,
        max_attempts=options.max_attempts,
        base_delay_s=options.base_delay_s,
        max_delay_s=options.max_delay_s,
        retry_after_cap_s=options.retry_after_cap_s,
        breaker_threshold=options.breaker_threshold,
        breaker_recovery_s=options.breaker_recovery_s,
        timeout_s=options.timeout_s,
        gzip=options.gzip,
        allow_cross_region=options.allow_cross_region,
        on_transient=options.transient_policy,
        collapse=options.mapping.source == "cdf" or options.mapping.latest_per_key,
        latest_by_time=options.mapping.latest_per_key,
        semantic_guard=_events_from_a_column(options.mapping),
        dry_run=options.dry_run,
        raw_json_columns=raw_json_columns(options.mapping),
    )


def partition_sender(
    settings: SendSettings, batch_id: int
) -> Callable[[Iterable[Any]], Iterable[Any]]:
    """The ``mapInArrow`` function: sends one partition, yields one JSON summary row."""

    def send(batches: Iterable[Any]) -> Iterator[Any]:
        import pyarrow as pa
        from pyspark import TaskContext

        ctx = TaskContext.get()
        pid = ctx.partitionId() if ctx else 0
        summary = run_partition(batches, settings, batch_id, pid)
        yield pa.RecordBatch.from_pydict({"summary": [json.dumps(summary.as_dict())]})

    return send


def _log_batch(job: str, batch_id: int, lineage: dict[str, Any]) -> None:
    log.info(
        "job %s batch %s: %s rows in, %s acked, %s dead-lettered, %s parked, %s skipped, "
        "%s requests (map %s s, send %s s, ledger %s s, overhead %s s)",
        job,
        batch_id,
        *(lineage[name] for name in ("rows_in", "acked", "dead_lettered", "parked", "skipped")),
        lineage["requests"],
        *(lineage[f"{name}_seconds"] for name in ("map", "send", "ledger", "overhead")),
    )


def time_split(summary: dict[str, Any], job_s: float, before_s: float) -> dict[str, float]:
    """Where one batch's time went, in wall seconds: the sending job (``job_s``) split into
    ``map`` (its tasks waiting for rows read and mapped in the JVM) and ``send`` (packing, HTTP,
    journal) by the tasks' own shares; ``overhead`` is ``before_s``, the stream's time since
    the last batch ended (trigger, planning, the checkpoint; at first, the stream's start)."""
    task_s = float(summary.get("task_s") or 0.0)
    share = min(1.0, float(summary.get("input_s") or 0.0) / task_s) if task_s > 0 else 0.0
    return {
        "map_seconds": round(job_s * share, 3),
        "send_seconds": round(job_s * (1.0 - share), 3),
        "overhead_seconds": round(max(0.0, before_s), 3),
    }


def default_concurrency(spark: SparkSession, partitions: int) -> int:
    """How many partitions send at once: at most the cluster's task slots."""
    return max(1, min(partitions, task_slots(spark)))


@dataclass
class CustomerIOWriter:
    """A ``foreachBatch`` callable that sends each micro-batch to Customer.io exactly once.

    ``progress`` (optional) is called with each batch's lineage dict. ``exclude`` (optional)
    splits a batch's messages into those to send and rows already delivered by another pipeline
    (columns :data:`~customerio_sink.spark.ledger.SKIPPED_ROW_COLUMNS`), which are recorded as
    skipped with the batch (see :mod:`customerio_sink.migrate.backfill`).
    """

    options: SinkOptions
    progress: Callable[[dict[str, Any]], None] | None = None
    front_door: str = "foreachBatch"
    run_id: str | None = None  # a batch write's own run id (a stream's is its query id)
    history: list[dict[str, Any]] = field(default_factory=list)
    exclude: Callable[[DataFrame], tuple[DataFrame, DataFrame]] | None = None
    _tables_ready: bool = field(default=False, repr=False)
    _keys: Any = field(default=None, repr=False)  # a KeyRotation when the key is re-read
    # When the last batch ended (at first: when the writer was made, i.e. as the stream starts).
    _idle_since: float = field(default_factory=time.monotonic, repr=False)

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        spark = batch_df.sparkSession
        started = datetime.now(timezone.utc)
        opts = self.options
        run_id = self.run_id or run_id_of(spark, opts.job)
        if not self._tables_ready:
            check_journal_shared(spark, opts.ledger)
            opts.ledger.ensure_tables(spark)
            self._tables_ready = True
        audit_written = None
        if opts.key_source is not None:  # the key read again (rotation), an audit row per batch
            opts, audit_written = self._key_for_batch(spark, run_id, batch_id)
        # Batches before this one are committed by the checkpoint and already in the ledger.
        journal.prune_before(opts.ledger.journal, f"{opts.job}/{run_id}", batch_id)

        exclusions = self._exclusions(spark, opts, run_id, batch_id)
        messages = to_messages(
            batch_df,
            opts.mapping,
            job=opts.job,
            backfill=opts.backfill,
            hold_recent=opts.hold_recent,
            engine_json=True,
            # The engine finishes the ids, unless an exclusion compares them on the JVM first.
            engine_ids=not exclusions,
        )
        prior = None
        for split in exclusions:
            messages, more = split(messages)
            prior = more if prior is None else prior.unionByName(more)
        partitions = opts.partitions or task_slots(spark)
        # All calls of one key in one partition (change feeds and queues alike): a partition
        # sends its requests one at a time, in order, so no key ever has two calls in flight;
        # and the engine can collapse a change feed's changes of one key.
        messages = messages.repartition(partitions, "key")
        # Partitions beyond the task slots wait their turn, so the budget is split by slots.
        concurrency = opts.concurrency or default_concurrency(spark, partitions)
        settings = send_settings(opts, run_id, concurrency, partitions)
        t0 = time.monotonic()
        rows = messages.mapInArrow(partition_sender(settings, batch_id), "summary string").collect()
        summary = PartitionSummary.merge(json.loads(r.summary) for r in rows)
        summary.update(time_split(summary, time.monotonic() - t0, t0 - self._idle_since))
        if prior is not None:
            counted = prior.groupBy("reason").count().collect()
            by_reason = {r["reason"]: int(r["count"]) for r in counted}
            summary["rows_in"] = summary.get("rows_in", 0) + sum(by_reason.values())
            for reason, n in by_reason.items():
                summary["skipped"][reason] = summary["skipped"].get(reason, 0) + n
            if not by_reason:
                prior = None
        journal.write_commit(opts.ledger.journal, settings.journal_key, batch_id, summary)
        lineage = opts.ledger.ingest(
            spark,
            job=opts.job,
            run_id=run_id,
            batch_id=batch_id,
            summary=summary,
            front_door=self.front_door,
            source=opts.source_name,
            started_at=started,
            dry_run=opts.dry_run,
            extra_skipped=prior,
            # The query's driver is the only process writing this batch's ledger rows.
            claim=True,
        )
        if audit_written is not None:
            audit_written()
        self.history.append(lineage)
        self._idle_since = time.monotonic()
        _log_batch(opts.job, batch_id, lineage)
        if self.progress:
            self.progress(lineage)

    def _exclusions(
        self, spark: SparkSession, opts: SinkOptions, run_id: str, batch_id: int
    ) -> list[Callable[[DataFrame], tuple[DataFrame, DataFrame]]]:
        """The hooks that take messages out of a batch before sending, as skipped rows: the
        caller's ``exclude`` (a migration's delivered history) and ``dedupe_window``."""
        splits = [self.exclude] if self.exclude is not None else []
        if opts.dedupe_window:
            from customerio_sink.spark.dedupe import delivered_before

            splits.append(delivered_before(spark, opts, run_id, batch_id))
        return splits

    def _key_for_batch(
        self, spark: SparkSession, run_id: str, batch_id: int
    ) -> tuple[SinkOptions, Callable[[], None]]:
        from customerio_sink.spark.keys import KeyRotation

        if self._keys is None:
            self._keys = KeyRotation(self.options.key_source, self.options.key_rotation_window_s)
        options: SinkOptions
        options, wait = self._keys.for_batch(spark, self.options, run_id, batch_id)
        return options, wait


def write_batch(df: DataFrame, options: SinkOptions, batch_id: int = 0) -> dict[str, Any]:
    """Send a static DataFrame once (a one-off backfill without a stream); returns lineage."""
    writer = CustomerIOWriter(options, front_door="batch")
    writer(df, batch_id)
    return writer.history[-1]


def batch_run_id(given: str | None = None) -> str:
    """The run id of a batch write: ``given`` (checked), else ``batch-<UTC time>-<hex>``."""
    if given is None or given == "":
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        return f"batch-{stamp}-{uuid.uuid4().hex[:8]}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", given):
        raise ConfigError(
            f"option run_id: 1-100 letters, digits, '.', '_' or '-' (it names ledger rows and "
            f"journal paths), got {given!r}"
        )
    return given
