"""Start, watch and stop a sync: the code behind the streaming jobs, the demo and the notebooks.

:func:`read_source` opens a Delta table as a stream (its change feed, or its appends);
:func:`run_sync` starts the query through either front door with the chosen trigger, prints one
progress line per micro-batch, writes the Data Source's ledger rows as batches commit, and
returns a :class:`SyncResult` with the totals once the query stops (available-now), or when
``timeout_s`` passes / ``stop()`` is called (continuous triggers).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from customerio_sink.errors import ConfigError
from customerio_sink.spark.options import SinkOptions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

__all__ = ["SyncResult", "read_source", "refuse_speculation", "run_sync", "trigger_kwargs"]

TOTAL_FIELDS = (
    "rows_in",
    "acked",
    "dead_lettered",
    "parked",
    "skipped",
    "requests",
    "request_bytes",
    "in_trigger_window",
    "already_final",
)


def trigger_kwargs(trigger: str) -> dict[str, Any]:
    """``available-now`` → ``{"availableNow": True}``; ``"10 seconds"`` → processingTime."""
    text = trigger.strip().lower()
    if text in ("available-now", "availablenow", "available_now"):
        return {"availableNow": True}
    if re.fullmatch(r"\d+(\.\d+)?\s*(ms|milliseconds?|s|seconds?|minutes?|hours?)", text):
        return {"processingTime": text}
    raise ConfigError(
        f"trigger: 'available-now' or an interval such as '10 seconds', got {trigger!r}"
    )


def read_source(
    spark: SparkSession,
    source: str,
    *,
    kind: str,
    start: str = "backfill",
    reader_options: dict[str, str] | None = None,
) -> DataFrame:
    """Open a Delta table (a name, or a path containing '/') as a stream.

    ``kind="cdf"`` reads the change data feed. ``start`` says how a new query begins:
    ``backfill`` (every current row arrives as an insert, then the changes), ``latest`` (only
    changes committed from now on), or a version number. ``kind="queue"`` reads appends and
    skips commits that rewrite files (e.g. purges of delivered rows). ``reader_options`` go to
    the Delta source as they are (e.g. ``{"maxFilesPerTrigger": "100"}`` to split a backfill
    into several micro-batches).
    """
    reader = spark.readStream.format("delta").options(**(reader_options or {}))
    if kind == "cdf":
        reader = reader.option("readChangeFeed", "true")
        if start == "latest":
            reader = reader.option("startingVersion", "latest")
        elif start != "backfill":
            if not str(start).isdigit():
                raise ConfigError(f"start: 'backfill', 'latest' or a version, got {start!r}")
            reader = reader.option("startingVersion", int(start))
    else:
        reader = reader.option("skipChangeCommits", "true")
    return reader.load(source) if "/" in source else reader.table(source)


@dataclass
class SyncResult:
    """What a sync did: one lineage dict per micro-batch and their totals."""

    job: str
    query_id: str | None = None
    batches: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None
    wall_s: float | None = None  # from the query's start until its last batch was recorded

    def time_breakdown(self) -> dict[str, float | None]:
        """Seconds spent mapping (reading + mapping in the JVM), sending, writing the ledger and
        in the stream itself (start, triggers, planning, checkpoints: the rest of the wall
        time), with events acked per second; None where the batches do not say."""
        spent: dict[str, float | None] = {}
        for name in ("map", "send", "ledger"):
            values = [b.get(f"{name}_seconds") for b in self.batches]
            known = [float(v) for v in values if v is not None]
            spent[name] = sum(known) if known and len(known) == len(values) else None
        measured = sum(v for v in spent.values() if v is not None)
        if self.wall_s is not None:
            overhead = max(0.0, self.wall_s - measured)
        else:
            overhead = sum(float(b.get("overhead_seconds") or 0) for b in self.batches)
        spent["overhead"] = overhead
        wall = self.wall_s if self.wall_s else measured + overhead
        spent["wall"] = wall
        spent["events_per_s"] = self.totals["acked"] / wall if wall else None
        return spent

    @property
    def totals(self) -> dict[str, int]:
        """The batches' counts summed: ``rows_in``, ``acked``, ``dead_lettered``, ``parked``,
        ``skipped``, ``requests`` … (one key per name of ``TOTAL_FIELDS``)."""
        return {name: sum(int(b.get(name) or 0) for b in self.batches) for name in TOTAL_FIELDS}

    def summary_line(self) -> str:
        """One line: batches, rows in, acked, dead-lettered, parked, skipped, requests and bytes,
        rows inside the 72-hour window, and where the time went."""
        t = self.totals
        return (
            f"{self.job}: {len(self.batches)} batches, {t['rows_in']} rows in, {t['acked']} acked, "
            f"{t['dead_lettered']} dead-lettered, {t['parked']} parked, {t['skipped']} skipped, "
            f"{t['requests']} requests ({t['request_bytes'] / 1e6:.1f} MB), "
            f"{t['in_trigger_window']} inside the 72-hour window" + self._time_text()
        )

    def time_text(self) -> str:
        """``map 1.2 s, send 3.4 s, ledger 0.8 s, stream overhead 2.1 s; 81,234 events/s``."""
        spent = self.time_breakdown()

        def s(name: str) -> str:
            value = spent[name]
            return "n/a" if value is None else f"{value:.1f} s"

        rate = spent["events_per_s"]
        return (
            f"map {s('map')}, send {s('send')}, ledger {s('ledger')}, "
            f"stream overhead {s('overhead')}" + ("" if rate is None else f"; {rate:,.0f} events/s")
        )

    def _time_text(self) -> str:
        return (
            f"; {self.time_breakdown()['wall']:.1f} s: {self.time_text()}" if self.batches else ""
        )


def _progress_line(lineage: dict[str, Any]) -> str:
    return (
        f"[{lineage['job']}] batch {lineage['batch_id']}: {lineage['rows_in']} rows → "
        f"{lineage['acked']} acked, {lineage['dead_lettered']} dead, {lineage['parked']} parked, "
        f"{lineage['skipped']} skipped, {lineage['requests']} requests"
        + (" (dry run)" if lineage.get("dry_run") else "")
    )


def refuse_speculation(spark: SparkSession) -> None:
    """Raise :class:`ConfigError` when Spark may run two live attempts of one sending task.

    Each task reads the journal once, when it starts: a speculative copy running beside the
    original would send again what the original has not journaled yet.
    """
    try:
        value = spark.conf.get("spark.speculation", "false")
    except Exception:  # a session that cannot tell (Spark Connect): Databricks' default is off
        return
    if str(value).strip().lower() == "true":
        raise ConfigError(
            "spark.speculation is true: a speculative copy of a sending task would send its "
            "messages a second time; set spark.speculation=false for this job"
        )


def _release_budget(options: SinkOptions, run_id: str | None) -> None:
    """The query has stopped: give its share of the key's budget back to the other jobs."""
    from customerio_sink.client.budget import release
    from customerio_sink.spark.writer import send_settings

    if run_id and not options.dry_run:
        release(send_settings(options, run_id, 1))


def run_sync(
    spark: SparkSession,
    options: SinkOptions,
    source_df: DataFrame,
    *,
    checkpoint: str,
    trigger: str = "available-now",
    front_door: str = "foreachBatch",
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = print,
    poll_s: float = 2.0,
    stop_event: threading.Event | None = None,
    on_start: Callable[[StreamingQuery], None] | None = None,
    exclude: Callable[[DataFrame], tuple[DataFrame, DataFrame]] | None = None,
) -> SyncResult:
    """Run one sync until the query ends (available-now), ``timeout_s`` passes, or
    ``stop_event`` is set; then stop it cleanly and return what happened.

    ``exclude`` (foreachBatch only) takes rows other pipelines already delivered out of each
    batch (see :class:`~customerio_sink.spark.writer.CustomerIOWriter`).

    Raises:
        StreamingQueryException: the query failed (e.g. a change-feed batch whose transient
            failures outlasted the retries); the result so far is on ``exc.sync_result``.
    """
    from customerio_sink.spark.mapping import check_source_columns

    refuse_speculation(spark)
    result = SyncResult(job=options.job)

    def record(lineage: dict[str, Any]) -> None:
        result.batches.append(lineage)
        if progress:
            progress(_progress_line(lineage))

    # A mapping column missing from the source fails here, in one line, before anything is
    # read or sent (a check of names: building the mapping's plan here cost a second in a
    # fresh JVM, and each batch builds it anyway).
    check_source_columns(options.mapping, source_df.columns)
    clock = time.monotonic()
    query = _start_query(
        spark, options, source_df, checkpoint, trigger, front_door, record, exclude
    )
    result.query_id = str(query.id)
    if on_start:
        on_start(query)
    drain_ledger = _ledger_drain(spark, options, query, front_door, record)
    try:
        _watch(query, timeout_s, poll_s, stop_event, drain_ledger)
    except Exception as exc:
        result.error = exc
        drain_ledger(False)
        result.wall_s = time.monotonic() - clock
        exc.sync_result = result  # type: ignore[attr-defined]
        raise
    finally:
        _release_budget(options, result.query_id)
    drain_ledger(True)
    result.wall_s = time.monotonic() - clock
    if progress:
        progress(result.summary_line())
    return result


def _start_query(
    spark: SparkSession,
    options: SinkOptions,
    source_df: DataFrame,
    checkpoint: str,
    trigger: str,
    front_door: str,
    record: Callable[[dict[str, Any]], None],
    exclude: Callable[[DataFrame], tuple[DataFrame, DataFrame]] | None,
) -> StreamingQuery:
    """Start the streaming query through ``front_door`` (``record`` gets each batch's lineage
    from the foreachBatch writer)."""
    from customerio_sink.spark.writer import CustomerIOWriter

    writer = source_df.writeStream.queryName(options.job).option("checkpointLocation", checkpoint)
    writer = writer.trigger(**trigger_kwargs(trigger))
    if exclude is not None and front_door != "foreachBatch":
        raise ConfigError("front_door: leaving out delivered rows needs 'foreachBatch'")
    if front_door == "foreachBatch":
        sink = CustomerIOWriter(options, progress=record, exclude=exclude)
        return writer.foreachBatch(sink).start()
    if front_door == "datasource":
        from customerio_sink.spark.datasource import prepare, register

        register(spark)
        opts = options.to_options()  # prepare() records how many tasks send at once
        return (
            prepare(source_df, options)
            .writeStream.queryName(options.job)
            .option("checkpointLocation", checkpoint)
            .trigger(**trigger_kwargs(trigger))
            .format("customerio")
            .options(**opts)
            .start()
        )
    raise ConfigError(f"front_door: 'foreachBatch' or 'datasource', got {front_door!r}")


def _ledger_drain(
    spark: SparkSession,
    options: SinkOptions,
    query: StreamingQuery,
    front_door: str,
    record: Callable[[dict[str, Any]], None],
) -> Callable[[bool], None]:
    """``drain(final)``: ``record`` the lineage of batches the ledger has and this process has
    not seen: the Data Source's committed batches (it writes them here), or, on Spark Connect,
    the foreachBatch writer's (whose progress calls run in a process next to the server)."""
    from customerio_sink.spark.session import is_connect

    remote = is_connect(spark)
    ingested: set[int] = set()

    def drain(final: bool = True) -> None:
        if front_door == "datasource":
            from customerio_sink.spark.datasource import ingest_committed

            for lineage in ingest_committed(spark, options, str(query.id), already=ingested):
                record(lineage)
        elif remote:
            # Spark Connect runs the foreachBatch function in a Python process next to the
            # server, so its progress calls never reach this one: read the ledger instead.
            try:
                found = _ledger_lineage(
                    spark, options, str(query.id), _batches_of(query), already=ingested
                )
            except Exception:
                if final:
                    raise
                found = []  # the first batch has not created the ledger tables yet
            for lineage in found:
                record(lineage)

    return drain


def _watch(
    query: StreamingQuery,
    timeout_s: float | None,
    poll_s: float,
    stop_event: threading.Event | None,
    drain: Callable[[bool], None],
) -> None:
    """Wait for the query to end, draining the ledger every ``poll_s``; stop it once
    ``timeout_s`` has passed or ``stop_event`` is set."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while query.isActive:
        query.awaitTermination(poll_s)  # type: ignore[arg-type]  # seconds; floats work
        drain(False)
        if (deadline is not None and time.monotonic() >= deadline) or (
            stop_event is not None and stop_event.is_set()
        ):
            query.stop()
            break
    query.awaitTermination()


def _batches_of(query: StreamingQuery) -> set[int]:
    """The batch ids this start of ``query`` ran (its recent progress)."""
    out = set()
    for progress in query.recentProgress:
        batch_id = getattr(progress, "batchId", None)
        if batch_id is None and isinstance(progress, dict):
            batch_id = progress.get("batchId")
        if batch_id is not None:
            out.add(int(batch_id))
    return out


def _ledger_lineage(
    spark: SparkSession,
    options: SinkOptions,
    run_id: str,
    batches: set[int],
    *,
    already: set[int],
) -> list[dict[str, Any]]:
    """The lineage rows of ``run_id``'s ``batches`` not yet in ``already`` (updated), in order.

    A restart from the same checkpoint keeps the query id, so earlier starts' batches are
    left out by ``batches``.
    """
    if not batches - already:
        return []
    job = options.job.replace("'", "''")
    rows = (
        spark.read.format("delta")
        .table(options.ledger.table("lineage"))
        .where(f"job = '{job}' AND run_id = '{run_id}'")
        .orderBy("batch_id")
        .collect()
        if options.ledger.schema
        else spark.read.format("delta")
        .load(options.ledger.location("lineage"))
        .where(f"job = '{job}' AND run_id = '{run_id}'")
        .orderBy("batch_id")
        .collect()
    )
    out = []
    for row in rows:
        if row["batch_id"] in already or row["batch_id"] not in batches:
            continue
        already.add(row["batch_id"])
        lineage = row.asDict()
        lineage["skipped_by_reason"] = dict(lineage.get("skipped_by_reason") or {})
        out.append(lineage)
    return out
