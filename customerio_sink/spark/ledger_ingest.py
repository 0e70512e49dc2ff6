"""Ingestion: one micro-batch's delivery journal into ledger table rows and its lineage row.

:func:`ingest_batch` is the body of :meth:`~customerio_sink.spark.ledger.Ledger.ingest`, in
named steps: read the batch's journal (:mod:`customerio_sink.spark.ledger_frames`) and count
its final outcomes, build the appends of the acks, dead letters, retry queue, requests and
skipped rows (:mod:`customerio_sink.spark.ledger_rows`), run them at the same time
(:func:`run_concurrently`), then append the lineage row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

from customerio_sink.__version__ import __version__
from customerio_sink.engine import journal
from customerio_sink.spark.ledger_frames import journal_frames, skipped_frame
from customerio_sink.spark.ledger_rows import (
    AGAIN,
    FIRST,
    TXN,
    BatchKey,
    Write,
    append_batch,
    literal_frame,
    outcome_writes,
    request_rows,
    skipped_write,
)
from customerio_sink.spark.ledger_tables import SKIPPED_ROW_COLUMNS, TABLES

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import DataFrame, SparkSession

    from customerio_sink.spark.ledger import Ledger

__all__ = ["ingest_batch", "run_concurrently"]


def run_concurrently(writes: list[Callable[[], None]]) -> None:
    """Run independent ledger writes at the same time (each is its own Delta commit).

    A Delta append is mostly fixed cost (snapshot, stats, commit) plus its Spark job; the jobs of
    different tables overlap on a cluster's idle slots. The threads inherit the calling thread's
    Spark local properties (job group, streaming query id). The first failure is raised after
    every write has finished, so no write is left running behind the caller's back.
    """
    if len(writes) <= 1:
        for write in writes:
            write()
        return
    import threading

    from pyspark import InheritableThread, SparkContext
    from pyspark.sql.utils import is_remote

    # Spark Connect has no local properties to inherit (and InheritableThread wants a session)
    classic = SparkContext._active_spark_context is not None and not is_remote()
    thread_class: Any = InheritableThread if classic else threading.Thread
    errors: list[BaseException] = []

    def guarded(write: Callable[[], None]) -> None:
        try:
            write()
        except BaseException as exc:  # re-raised on the calling thread below
            errors.append(exc)

    threads = [thread_class(target=guarded, args=(w,)) for w in writes[1:]]
    for thread in threads:
        thread.start()
    guarded(writes[0])
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@dataclass
class _Ingested:
    """What ingestion learned of one batch: counts of final outcomes and requests, the source
    versions, the appends to run (before the lineage row) and the frame cached for them."""

    versions: tuple[Any, Any]
    skipped_rows: DataFrame | None
    counts: dict[str, int] = field(
        default_factory=lambda: {journal.ACKED: 0, journal.DEAD: 0, journal.PARKED: 0}
    )
    requests: int = 0
    writes: list[Write] = field(default_factory=list)
    cached: DataFrame | None = None
    started: float = field(default_factory=time.monotonic)
    how: str = TXN  # how the batch's rows are appended (see append_batch)


def ingest_batch(
    ledger: Ledger,
    spark: SparkSession,
    key: BatchKey,
    summary: dict[str, Any],
    *,
    front_door: str,
    source: str,
    started_at: datetime,
    dry_run: bool = False,
    extra_skipped: DataFrame | None = None,
    claim: bool = False,
) -> dict[str, Any]:
    """Write one batch's journal into the ledger tables and its lineage row; return lineage
    (see :meth:`~customerio_sink.spark.ledger.Ledger.ingest`)."""
    directory = journal.batch_dir(ledger.journal, f"{key.job}/{key.run_id}", key.batch_id)
    got = _Ingested(
        versions=(summary.get("min_version"), summary.get("max_version")),
        skipped_rows=extra_skipped,
    )
    if not dry_run and directory.is_dir():
        _read_journal(ledger, spark, directory, key, summary, got, claim)
    if not dry_run and got.skipped_rows is not None:
        got.writes.append(partial(skipped_write, ledger, got.skipped_rows, key, got.how))
    if dry_run:
        got.counts = {
            journal.ACKED: 0,
            journal.DEAD: int(summary.get("dead", 0)),
            journal.PARKED: int(summary.get("parked", 0)),
        }
        got.requests = int(summary.get("requests", 0))
    lineage = _lineage(
        key,
        summary,
        got,
        front_door=front_door,
        source=source,
        started_at=started_at,
        dry_run=dry_run,
    )
    _write_batch(ledger, spark, key, got, lineage)
    return lineage


def _read_journal(
    ledger: Ledger,
    spark: SparkSession,
    directory: Path,
    key: BatchKey,
    summary: dict[str, Any],
    got: _Ingested,
    claim: bool,
) -> None:
    """Count the journal's final outcomes and requests and add their appends to ``got``."""
    outcomes, reqs, exact = journal_frames(spark, directory)
    # Only a batch that skipped rows pays for the extra append (a Delta commit).
    engine_skips = (
        skipped_frame(spark, directory)
        if any(int(n) for n in summary.get("skipped", {}).values())
        else None
    )
    if engine_skips is not None:
        got.skipped_rows = (
            engine_skips
            if got.skipped_rows is None
            else engine_skips.unionByName(got.skipped_rows.select(*SKIPPED_ROW_COLUMNS))
        )
    # The summary is only this attempt's: it matches the journal only when no earlier
    # attempt of the batch finished anything (a re-run after the sends finished counts
    # everything as already final and would otherwise write an empty ledger).
    exact = exact and not int(summary.get("already_final", 0))
    if claim:
        # A first attempt: it sent the whole batch (an earlier attempt that reached the ledger
        # had finished its sends, so this one would find messages already final) and is the
        # first to claim the journal for the ledger (which covers a batch with nothing to send).
        got.how = FIRST if journal.claim_ingest(directory) and exact else AGAIN
    if outcomes is not None:
        outcomes = _count_outcomes(outcomes, exact, summary, got)
        got.writes += outcome_writes(ledger, outcomes, got.counts, key, got.how)
    if reqs is not None:
        got.requests = int(summary.get("requests", 0)) if exact else reqs.count()
        if got.requests:
            rows = request_rows(reqs, key)
            got.writes.append(partial(append_batch, ledger, rows, "requests", key, got.how))


def _count_outcomes(
    outcomes: DataFrame, exact: bool, summary: dict[str, Any], got: _Ingested
) -> DataFrame:
    """Set ``got``'s counts (and, for a replay, its versions); the outcomes to write."""
    from pyspark.sql import functions as F

    if exact:
        # One complete attempt per partition: the engine's counts are the rows.
        for name, count in (
            (journal.ACKED, "acked"),
            (journal.DEAD, "dead"),
            (journal.PARKED, "parked"),
        ):
            got.counts[name] = int(summary.get(count, 0))
        return outcomes
    # A replay: the same message may be in several attempts; keep one.
    outcomes = (
        outcomes.where(F.col("outcome").isin(*journal.FINAL_OUTCOMES))
        .dropDuplicates(["message_id"])
        .cache()
    )
    for outcome, n in outcomes.groupBy("outcome").count().collect():
        got.counts[outcome] = n
    stats = outcomes.agg(F.min("commit_version"), F.max("commit_version")).first()
    got.versions = (stats[0], stats[1]) if stats else (None, None)
    got.cached = outcomes
    return outcomes


def _lineage(
    key: BatchKey,
    summary: dict[str, Any],
    got: _Ingested,
    *,
    front_door: str,
    source: str,
    started_at: datetime,
    dry_run: bool,
) -> dict[str, Any]:
    """The batch's lineage row (``finished_at`` is set again once the other rows are in)."""
    skipped_by_reason = {k: int(v) for k, v in summary.get("skipped", {}).items()}
    if dry_run:
        skipped_by_reason["dry_run_would_send"] = int(summary.get("would_send", 0))
    return {
        "job": key.job,
        "run_id": key.run_id,
        "batch_id": key.batch_id,
        "front_door": front_door,
        "source": source,
        "min_commit_version": got.versions[0],
        "max_commit_version": got.versions[1],
        "rows_in": int(summary.get("rows_in", 0)),
        "acked": got.counts[journal.ACKED],
        "dead_lettered": got.counts[journal.DEAD],
        "parked": got.counts[journal.PARKED],
        "skipped": sum(skipped_by_reason.values()),
        "skipped_by_reason": skipped_by_reason,
        "already_final": int(summary.get("already_final", 0)),
        "requests": got.requests if not dry_run else int(summary.get("requests", 0)),
        "request_bytes": int(summary.get("request_bytes", 0)),
        "in_trigger_window": int(summary.get("in_window", 0)),
        "dry_run": dry_run,
        "started_at": started_at,
        "finished_at": datetime.now(timezone.utc),
        "sink_version": __version__,
        # Where the time went: the writer's split (absent on the Data Source door), and the
        # ledger's own seconds, set once the other tables are written.
        **{f"{n}_seconds": _seconds(summary, f"{n}_seconds") for n in ("map", "send", "overhead")},
        "ledger_seconds": None,
    }


def _seconds(summary: dict[str, Any], name: str) -> float | None:
    value = summary.get(name)
    return None if value is None else float(value)


def _write_batch(
    ledger: Ledger, spark: SparkSession, key: BatchKey, got: _Ingested, lineage: dict[str, Any]
) -> None:
    """Run the batch's appends, then append its lineage row."""
    try:
        # The tables of one batch are written at the same time; lineage last, so a lineage
        # row always means the batch's other rows are in.
        run_concurrently(got.writes)
    finally:
        if got.cached is not None:
            got.cached.unpersist()
    lineage["finished_at"] = datetime.now(timezone.utc)
    lineage["ledger_seconds"] = round(time.monotonic() - got.started, 3)
    frame = literal_frame(spark, lineage, TABLES["lineage"])
    append_batch(ledger, frame, "lineage", key, got.how)
