"""Backfill a history table through the sink without crowding out live traffic or re-sending
what an earlier pipeline delivered.

    report = cio.migrate.backfill(spark, source="main.app.events_history",
                                  mapping=cio.Events(user_id="user_id", event_column="event",
                                                     timestamp="occurred_at", row_id="event_id"),
                                  ledger=..., checkpoint=..., job="events-backfill",
                                  already_sent="main.cio.old_pipeline_messages")

* **original timestamps kept**: the sink runs in backfill mode — a row without a usable
  timestamp is a dead letter, never stamped "now" (the mapping must name its timestamp column);
* **available-now**: the stream processes what the table holds, then stops;
* **room for live traffic**: the backfill takes ``1 - live_share`` of the key's request budget
  (jobs on one key share it through the budget directory, see :mod:`customerio_sink.client.budget`);
* **resumable**: the checkpoint keeps its progress; run it again after an interruption and it
  continues (a batch cut short is replayed from the journal: nothing sent twice);
* **the 72-hour window reported**: a dry run of the same rows first (the sink's own dry run:
  rows, would-be dead letters, requests, rows inside Customer.io's 72-hour campaign-trigger
  window); with ``hold_recent`` (default) those rows are parked instead of triggering campaigns;
* **already delivered left out**: with ``already_sent`` (a table written by
  :func:`~customerio_sink.migrate.import_messages`), a row whose call the old pipeline sent —
  the same type, person, event and timestamp to the millisecond — is not sent; it is recorded in
  the ``skipped`` ledger table as ``already_delivered`` with the old ``messageId``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from customerio_sink.errors import ConfigError
from customerio_sink.messages.limits import RATE_REQUESTS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from customerio_sink.spark.runner import SyncResult

__all__ = ["BackfillReport", "already_sent_filter", "backfill", "match_columns"]


@dataclass
class BackfillReport:
    """The dry run before the backfill (``preflight``) and the backfill itself (``result``)."""

    job: str
    rate_requests: int | None
    preflight: dict[str, int] = field(default_factory=dict)
    result: SyncResult | None = None

    def lines(self) -> list[str]:
        """The report as printable lines: the dry run's counts, then the backfill's summary."""
        out = []
        if self.preflight:
            p = self.preflight
            out.append(
                f"{self.job}: dry run: {p['rows_in']} rows, {p['dead_lettered']} would be "
                f"dead letters, {p['requests']} requests, {p['in_trigger_window']} inside the "
                "72-hour campaign-trigger window"
                + (
                    f", {p['already_delivered']} already delivered"
                    if p["already_delivered"]
                    else ""
                )
            )
        if self.result is not None:
            t = self.result.totals
            out.append(
                f"{self.job}: backfill: {t['rows_in']} rows, {t['acked']} acked, "
                f"{t['dead_lettered']} dead letters, {t['parked']} parked, {t['skipped']} "
                f"skipped, {t['in_trigger_window']} inside the 72-hour window, at most "
                f"{self.rate_requests or 'unlimited'} requests per 3 s"
            )
        return out


def match_columns(messages: DataFrame) -> list[Column]:
    """The columns a sent call is recognised by, from the message JSON: type, person (user id,
    else anonymous id), event (or group id) and timestamp in milliseconds."""
    from pyspark.sql import functions as F

    def field_(name: str) -> Column:
        return F.get_json_object("payload", f"$.{name}")

    return [
        field_("type").alias("m_type"),
        F.coalesce(field_("userId"), field_("anonymousId"), F.lit("")).alias("m_who"),
        F.coalesce(field_("event"), field_("groupId"), F.lit("")).alias("m_what"),
        F.unix_millis(F.to_timestamp(field_("timestamp"))).alias("m_ms"),
    ]


def already_sent_filter(
    spark: SparkSession, table: str
) -> Callable[[DataFrame], tuple[DataFrame, DataFrame]]:
    """A writer ``exclude`` hook: splits a batch's messages into those to send and those the
    imported ``table`` shows as delivered (as skipped rows, the old ``messageId`` beside)."""
    from pyspark.sql import functions as F

    sent = (
        (spark.read.format("delta").load(table) if "/" in table else spark.table(table))
        .select(
            F.col("type").alias("m_type"),
            F.coalesce("user_id", "anonymous_id", F.lit("")).alias("m_who"),
            F.coalesce("event", "group_id", F.lit("")).alias("m_what"),
            F.unix_millis("timestamp").alias("m_ms"),
            F.col("message_id").alias("prior_id"),
        )
        .groupBy("m_type", "m_who", "m_what", "m_ms")
        .agg(F.min("prior_id").alias("prior_id"))
    )
    keys = ["m_type", "m_who", "m_what", "m_ms"]

    def split(messages: DataFrame) -> tuple[DataFrame, DataFrame]:
        columns = messages.columns
        joined = messages.select("*", *match_columns(messages)).join(sent, keys, "left")
        send = joined.where(F.col("prior_id").isNull()).select(*columns)
        prior = joined.where(F.col("prior_id").isNotNull()).select(
            "message_id",
            F.col("type").alias("call_type"),
            "event",
            F.col("key").alias("source_key"),
            F.col("version").alias("commit_version"),
            F.lit("already_delivered").alias("reason"),
            F.col("prior_id").alias("related_id"),
        )
        return send, prior

    return split


def _check(mapping: Any, live_share: float) -> Any:
    if not hasattr(mapping, "to_mapping"):
        raise ConfigError("backfill: mapping is one of cio.People, cio.Events, ... (see cio.sync)")
    m = mapping.to_mapping()
    if m.source == "queue" and not m.timestamp:
        raise ConfigError(
            f"backfill: the mapping has no timestamp column, so every row would be sent "
            f"stamped 'now' (fix: {type(mapping).__name__}(..., timestamp='<event time column>'))"
        )
    if not 0.0 <= live_share < 1.0:
        raise ConfigError(
            f"backfill: live_share is the part of the budget left to live jobs, 0 to <1, got "
            f"{live_share!r}"
        )
    return m


def _static(spark: SparkSession, source: str, kind: str) -> DataFrame:
    """The rows a new available-now stream of ``source`` starts with (for the dry run)."""
    from pyspark.sql import functions as F

    df = spark.read.format("delta").load(source) if "/" in source else spark.table(source)
    if kind != "cdf":
        return df
    return df.select(
        "*",
        F.lit("insert").alias("_change_type"),
        F.lit(0).cast("long").alias("_commit_version"),
        F.current_timestamp().alias("_commit_timestamp"),
    )


def backfill(
    spark: SparkSession,
    *,
    source: str,
    mapping: Any,
    ledger: Any,
    checkpoint: str,
    job: str,
    already_sent: str | None = None,
    rate_requests: int = RATE_REQUESTS,
    live_share: float = 0.5,
    hold_recent: bool = True,
    preflight: bool = True,
    files_per_batch: int | None = None,
    progress: Callable[[str], None] | None = print,
    **settings: Any,
) -> BackfillReport:
    """Send the history in ``source`` (a Delta table name or path) through the sink, once.

    ``rate_requests`` is the key's whole budget per 3 s; the backfill uses ``1 - live_share`` of
    it. ``files_per_batch`` splits the backfill into micro-batches (Delta's
    ``maxFilesPerTrigger``), each committed on its own, so an interruption loses at most one
    batch's progress (and the journal keeps even that from being sent twice). Other keyword
    arguments are sink options (``api_key``, ``endpoint``, ``max_body_bytes``...).

    Raises:
        ConfigError: a mapping without a timestamp column, a bad ``live_share``, or any sink
            option error (one line, before anything is sent).
    """
    from customerio_sink.spark.api import options as sink_options
    from customerio_sink.spark.runner import read_source, run_sync

    m = _check(mapping, live_share)
    share = max(1, int(rate_requests * (1.0 - live_share))) if rate_requests else None
    report = BackfillReport(job=job, rate_requests=share)
    opts = sink_options(
        mapping,
        ledger=ledger,
        job=job,
        source_name=source,
        backfill=True,
        hold_recent=hold_recent,
        rate_requests=share,
        **settings,
    )
    exclude = already_sent_filter(spark, already_sent) if already_sent else None
    if preflight:
        report.preflight = _dry_run(spark, opts, _static(spark, source, m.source), exclude)
        if progress:
            progress(report.lines()[0])
    reader = {"maxFilesPerTrigger": str(files_per_batch)} if files_per_batch else None
    df = read_source(spark, source, kind=m.source, start="backfill", reader_options=reader)
    report.result = run_sync(
        spark, opts, df, checkpoint=checkpoint, progress=progress, exclude=exclude
    )
    if progress:
        progress(report.lines()[-1])
    return report


def _dry_run(spark: SparkSession, opts: Any, df: DataFrame, exclude: Any) -> dict[str, int]:
    """The sink's dry run over the rows (nothing sent; lineage marked dry_run)."""
    import uuid

    from customerio_sink.spark.writer import CustomerIOWriter

    dry = opts.with_(dry_run=True, api_key=None)
    writer = CustomerIOWriter(dry, front_door="batch", run_id=f"dry-run-{uuid.uuid4().hex[:8]}")
    writer.exclude = exclude
    writer(df, 0)
    lineage = writer.history[-1]
    return {
        "rows_in": int(lineage["rows_in"]),
        "dead_lettered": int(lineage["dead_lettered"]),
        "requests": int(lineage["requests"]),
        "in_trigger_window": int(lineage["in_trigger_window"]),
        "already_delivered": int(lineage["skipped_by_reason"].get("already_delivered", 0)),
    }
