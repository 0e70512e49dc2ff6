"""Our sink, measured: the events job (an append-only queue table → track calls), available-now.

It runs through the package's own entry points — :func:`~customerio_sink.spark.runner.read_source`
and :func:`~customerio_sink.spark.runner.run_sync` with the foreachBatch front door — exactly
as ``streaming_jobs/sync_events.py`` would, and then reads the ledger back to check that every
row was acknowledged and that a lineage row was written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customerio_sink.client.secrets import SecretKey
from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.mapping import MessageMapping
from customerio_sink.spark.options import SinkOptions
from customerio_sink.spark.runner import read_source, run_sync

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["EVENTS_MAPPING", "TimedLedger", "events_options", "run_ours"]

EVENTS_MAPPING = MessageMapping(
    source="queue",
    call="track",
    user_id="user_id",
    event_column="event",
    properties_json="properties",
    timestamp="ts",
    row_id="event_id",
)


@dataclass(frozen=True)
class TimedLedger(Ledger):
    """The package's :class:`Ledger`, timing its driver-side work (seconds per call).

    The lineage's ``ledger_seconds`` covers each batch's ledger writes as a whole; these timings
    split them per table.
    """

    timings: dict[str, list[float]] = field(
        default_factory=lambda: {"ensure_tables": [], "ingest": []}, compare=False, repr=False
    )

    def ensure_tables(self, spark: SparkSession) -> None:
        started = time.perf_counter()
        try:
            super().ensure_tables(spark)
        finally:
            self.timings["ensure_tables"].append(time.perf_counter() - started)

    def _append(self, df: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        # Private in Ledger: timed per table when it exists under this name.
        started = time.perf_counter()
        try:
            return super()._append(df, name, *args, **kwargs)
        finally:
            self.timings.setdefault(f"append:{name}", []).append(time.perf_counter() - started)

    def ingest(self, spark: SparkSession, **kwargs: Any) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return super().ingest(spark, **kwargs)
        finally:
            self.timings["ingest"].append(time.perf_counter() - started)


def events_options(
    workdir: str | Path,
    *,
    job: str,
    url: str,
    key: str,
    rate_requests: int | None = None,
    rate_period_s: float = 3.0,
    max_body_bytes: int | None = None,
) -> SinkOptions:
    """Sink options for the benchmark's events job, its ledger under ``workdir``."""
    return SinkOptions(
        job=job,
        mapping=EVENTS_MAPPING,
        ledger=TimedLedger(path=str(Path(workdir) / "ledger")),
        api_key=SecretKey(key),
        endpoint=url,
        rate_requests=rate_requests,
        rate_period_s=rate_period_s,
        max_body_bytes=max_body_bytes,
    )


def run_ours(
    spark: SparkSession,
    *,
    table: str,
    workdir: str | Path,
    url: str,
    key: str,
    job: str = "bench-events",
    rate_requests: int | None = None,
    rate_period_s: float = 3.0,
    max_body_bytes: int | None = None,
    reader_options: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the events job once, available-now, from ``table`` into the emulator at ``url``.

    Returns wall time (query start to stop, including the ledger writes), the sink's own totals
    and what the ledger holds for this run afterwards (counted after the clock stopped).
    """
    options = events_options(
        workdir,
        job=job,
        url=url,
        key=key,
        rate_requests=rate_requests,
        rate_period_s=rate_period_s,
        max_body_bytes=max_body_bytes,
    )
    checkpoint = str(Path(workdir) / "checkpoints" / job)
    # A running job's ledger tables exist: create them before the clock starts (the writer's
    # per-batch existence check still runs, and is timed, inside the run).
    setup_started = time.perf_counter()
    options.ledger.ensure_tables(spark)
    setup_s = time.perf_counter() - setup_started
    if isinstance(options.ledger, TimedLedger):
        options.ledger.timings["ensure_tables"].clear()
    started = time.perf_counter()
    source = read_source(spark, table, kind="queue", reader_options=reader_options)
    result = run_sync(
        spark, options, source, checkpoint=checkpoint, trigger="available-now", progress=None
    )
    wall = time.perf_counter() - started
    totals = result.totals
    timings = options.ledger.timings if isinstance(options.ledger, TimedLedger) else {}
    ingest_s = sum(timings.get("ingest", []))
    ensure_s = sum(timings.get("ensure_tables", []))
    # The sending jobs' wall time (the tasks read and map their rows as they send), from the
    # lineage's map + send seconds; the sink's own breakdown is kept beside it.
    send_s = sum(
        float(b.get("map_seconds") or 0.0) + float(b.get("send_seconds") or 0.0)
        for b in result.batches
    )
    breakdown = {k: v for k, v in result.time_breakdown().items() if k != "events_per_s"}

    from pyspark.sql import functions as F

    ledger = options.ledger
    acks = ledger.read(spark, "acks").where(F.col("job") == job)
    ledger_acks = acks.count()
    distinct_acks = acks.select("message_id").distinct().count()
    lineage = ledger.read(spark, "lineage").where(F.col("job") == job)
    lineage_rows = lineage.count()
    summed = lineage.agg(F.sum("acked")).first()
    lineage_acked = (summed[0] if summed is not None else 0) or 0
    requests_logged = ledger.read(spark, "requests").where(F.col("job") == job).count()
    rows_in = totals["rows_in"]
    return {
        "job": job,
        "wall_s": wall,
        "send_s": send_s,
        "ledger_ingest_s": ingest_s,
        "ledger_ensure_tables_s": ensure_s,
        "other_s": wall - send_s - ingest_s - ensure_s,
        "ledger_setup_s_untimed": setup_s,
        # The job's own summary-line breakdown (map, send, ledger, stream overhead, wall).
        "breakdown_s": {k: None if v is None else round(v, 3) for k, v in breakdown.items()},
        "ledger_appends_s": {
            name.split(":", 1)[1]: round(sum(values), 3)
            for name, values in timings.items()
            if name.startswith("append:")
        },
        "batches": len(result.batches),
        # Each batch's own split (lineage), to see whether a batch costs more as they pile up.
        "per_batch": [
            {
                "acked": b.get("acked"),
                **{f"{k}_s": b.get(f"{k}_seconds") for k in ("map", "send", "ledger", "overhead")},
            }
            for b in result.batches
        ],
        "rows_in": rows_in,
        "acked": totals["acked"],
        "dead_lettered": totals["dead_lettered"],
        "parked": totals["parked"],
        "requests": totals["requests"],
        "request_bytes": totals["request_bytes"],
        "events_per_s": totals["acked"] / wall if wall > 0 else 0.0,
        "events_per_s_sending": totals["acked"] / send_s if send_s > 0 else 0.0,
        "ledger": {
            "acks_rows": ledger_acks,
            "distinct_message_ids": distinct_acks,
            "lineage_rows": lineage_rows,
            "lineage_acked": int(lineage_acked),
            "request_rows": requests_logged,
            "written": ledger_acks == totals["acked"] and lineage_rows == len(result.batches),
        },
        "error": repr(result.error) if result.error else None,
    }
