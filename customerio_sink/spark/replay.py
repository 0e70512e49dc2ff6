"""Second chances: re-send chosen dead letters after a fix, and drain the retry queue.

Both go through the same engine as the streams (packing, rate budget, retries, splitting of
rejected bodies, journaling), on the driver, with a run id of their own. Each message ends
``acked`` (an ack row is written and the source row is marked), ``rejected`` again (the reason is
updated; fix and replay again) or, for transient failures, stays queued with its attempt count
raised. A dead letter is marked ``sending`` before it is sent and only selected while unmarked,
so a replay never sends one twice, even if it crashes half way. Each run appends one lineage row
(``front_door`` = ``replay`` / ``drain``) with its counts, so success rates are on record.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import orjson

from customerio_sink import journal
from customerio_sink.engine import INPUT_COLUMNS, run_partition
from customerio_sink.spark.options import SinkOptions
from customerio_sink.spark.writer import send_settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["drain_retry_queue", "replay_dead_letters"]

PayloadFix = Callable[[dict[str, Any]], dict[str, Any]]


def _ids_sql(ids: list[str]) -> str:
    return ", ".join("'" + i.replace("'", "''") + "'" for i in ids) or "NULL"


def _send(
    spark: SparkSession,
    options: SinkOptions,
    rows: list[Any],
    run_id: str,
    fix: PayloadFix | None,
) -> dict[str, dict[str, Any]]:
    """Send rows (dead letters or parked) through the engine; outcome per message id."""
    columns: dict[str, list[Any]] = {c: [] for c in INPUT_COLUMNS}
    for r in rows:
        payload = r.payload.encode("utf-8")
        if fix is not None:
            payload = orjson.dumps(fix(orjson.loads(payload)))
        for name, value in (
            ("key", r.source_key),
            ("message_id", r.message_id),
            ("type", r.call_type),
            ("event", r.event),
            ("payload", payload),
            ("error", None),
            ("change", "append"),
            ("version", r.commit_version),
            ("hash", None),
            ("hold", False),
            ("in_window", False),
        ):
            columns[name].append(value)
    settings = send_settings(options.with_(on_transient="park"), run_id, 1)
    settings = type(settings)(**{**settings.__dict__, "collapse": False})
    run_partition([columns], settings, 0, 0)
    outcomes: dict[str, dict[str, Any]] = {}
    for record in journal.read_records(options.ledger.journal, settings.journal_key, 0):
        if record.get("outcome") in journal.FINAL_OUTCOMES:
            reasons = record.get("reasons") or [None] * len(record["ids"])
            for mid, reason in zip(record["ids"], reasons, strict=True):
                outcomes[mid] = {"outcome": record["outcome"], "reason": reason, **record}
    return outcomes


def _append_acks(
    spark: SparkSession,
    options: SinkOptions,
    rows: list[Any],
    outcomes: dict[str, Any],
    run_id: str,
) -> None:
    acks = [
        {
            "job": options.job,
            "run_id": run_id,
            "batch_id": r.batch_id,
            "message_id": r.message_id,
            "call_type": r.call_type,
            "event": r.event,
            "source_key": r.source_key,
            "commit_version": r.commit_version,
            "http_status": outcomes[r.message_id].get("status"),
            "attempts": outcomes[r.message_id].get("attempts"),
            "request_bytes": outcomes[r.message_id].get("request_bytes"),
            "latency_ms": outcomes[r.message_id].get("latency_ms"),
            "sent_at": datetime.now(timezone.utc),
        }
        for r in rows
        if outcomes.get(r.message_id, {}).get("outcome") == journal.ACKED
    ]
    if acks:
        _write(spark, options, acks, "acks")


def _write(
    spark: SparkSession, options: SinkOptions, rows: list[dict[str, Any]], table: str
) -> None:
    options.ledger.append_rows(spark, rows, table)


def _record_run(
    spark: SparkSession,
    options: SinkOptions,
    kind: str,
    run_id: str,
    counts: dict[str, int],
    started: datetime,
) -> None:
    from customerio_sink.__version__ import __version__

    lineage = {
        "job": options.job,
        "run_id": run_id,
        "batch_id": -1,
        "front_door": kind,
        "source": options.ledger.table("dead_letters" if kind == "replay" else "retry_queue"),
        "min_commit_version": None,
        "max_commit_version": None,
        "rows_in": counts["selected"],
        "acked": counts["acked"],
        "dead_lettered": counts["rejected"],
        "parked": counts["still_queued"],
        "skipped": 0,
        "skipped_by_reason": {},
        "already_final": 0,
        "requests": counts.get("requests", 0),
        "request_bytes": 0,
        "in_trigger_window": 0,
        "dry_run": False,
        "started_at": started,
        "finished_at": datetime.now(timezone.utc),
        "sink_version": __version__,
    }
    _write(spark, options, [lineage], "lineage")


def _merge(spark: SparkSession, target: str, updates: DataFrame, assignments: str) -> None:
    view = f"_cio_updates_{uuid.uuid4().hex[:8]}"
    updates.createOrReplaceTempView(view)
    try:
        spark.sql(
            f"MERGE INTO {target} t USING {view} u "
            "ON t.job = u.job AND t.message_id = u.message_id "
            f"WHEN MATCHED THEN UPDATE SET {assignments}"
        )
    finally:
        spark.catalog.dropTempView(view)


def replay_dead_letters(
    spark: SparkSession,
    options: SinkOptions,
    *,
    message_ids: list[str] | None = None,
    where: str | None = None,
    fix: PayloadFix | None = None,
) -> dict[str, Any]:
    """Re-send chosen dead letters of ``options.job``; returns counts and the success rate.

    Choose by ``message_ids`` and/or a SQL ``where`` over the dead-letter table (e.g.
    ``"error_class = 'AuthenticationError'"``). ``fix`` may rewrite each payload (a dict) first.
    Only letters never replayed successfully and not in flight are selected.
    """
    started = datetime.now(timezone.utc)
    run_id = f"replay-{uuid.uuid4().hex[:12]}"
    options.ledger.ensure_tables(spark)
    table = options.ledger.table("dead_letters")
    cond = (
        f"job = '{options.job}' AND replayed_at IS NULL "
        "AND coalesce(replay_status, '') <> 'sending'"
    )
    if message_ids is not None:
        cond += f" AND message_id IN ({_ids_sql(message_ids)})"
    if where:
        cond += f" AND ({where})"
    rows = (
        options.ledger.read(spark, "dead_letters")
        .where(cond)
        .dropDuplicates(["message_id"])
        .collect()
    )
    counts: dict[str, Any] = {"selected": len(rows), "acked": 0, "rejected": 0, "still_queued": 0}
    if rows:
        ids = spark.createDataFrame(
            [(options.job, r.message_id) for r in rows], "job string, message_id string"
        )
        _merge(spark, table, ids, "replay_status = 'sending'")
        outcomes = _send(spark, options, rows, run_id, fix)
        _append_acks(spark, options, rows, outcomes, run_id)
        now = datetime.now(timezone.utc)
        updates: list[tuple[Any, ...]] = []
        for r in rows:
            o = outcomes.get(r.message_id, {"outcome": journal.PARKED, "reason": "not sent"})
            if o["outcome"] == journal.ACKED:
                counts["acked"] += 1
                updates.append((options.job, r.message_id, now, "acked", r.error_message))
            elif o["outcome"] == journal.DEAD:
                counts["rejected"] += 1
                updates.append((options.job, r.message_id, None, "rejected", o["reason"]))
            else:
                counts["still_queued"] += 1
                updates.append((options.job, r.message_id, None, "transient", r.error_message))
        upd = spark.createDataFrame(
            updates,
            "job string, message_id string, replayed_at timestamp, status string, reason string",
        )
        _merge(
            spark,
            table,
            upd,
            "replayed_at = u.replayed_at, replay_status = u.status, error_message = u.reason",
        )
    _record_run(spark, options, "replay", run_id, counts, started)
    counts["success_rate"] = counts["acked"] / counts["selected"] if counts["selected"] else 1.0
    return counts


def drain_retry_queue(
    spark: SparkSession,
    options: SinkOptions,
    *,
    max_messages: int | None = None,
    include_held: bool = False,
) -> dict[str, Any]:
    """Re-send what transient failures parked for ``options.job``; returns counts and rate.

    Held-back rows (inside the 72-hour window when parked) are drained only with
    ``include_held``. Messages that fail transiently again stay queued, attempts + 1.
    """
    started = datetime.now(timezone.utc)
    run_id = f"drain-{uuid.uuid4().hex[:12]}"
    options.ledger.ensure_tables(spark)
    table = options.ledger.table("retry_queue")
    cond = f"job = '{options.job}' AND drained_at IS NULL"
    if not include_held:
        cond += " AND coalesce(error_class, '') <> 'HeldBack'"
    df = options.ledger.read(spark, "retry_queue").where(cond).dropDuplicates(["message_id"])
    df = df.orderBy("parked_at", "batch_id")
    if max_messages:
        df = df.limit(max_messages)
    rows = df.collect()
    counts: dict[str, Any] = {"selected": len(rows), "acked": 0, "rejected": 0, "still_queued": 0}
    if rows:
        outcomes = _send(spark, options, rows, run_id, None)
        _append_acks(spark, options, rows, outcomes, run_id)
        now = datetime.now(timezone.utc)
        updates: list[tuple[Any, ...]] = []
        for r in rows:
            o = outcomes.get(r.message_id, {"outcome": journal.PARKED})
            status = {journal.ACKED: "acked", journal.DEAD: "rejected"}.get(o["outcome"])
            if status == "acked":
                counts["acked"] += 1
            elif status == "rejected":
                counts["rejected"] += 1
            else:
                counts["still_queued"] += 1
            updates.append(
                (options.job, r.message_id, now if status else None, status or "transient")
            )
        upd = spark.createDataFrame(
            updates, "job string, message_id string, drained_at timestamp, status string"
        )
        _merge(
            spark,
            table,
            upd,
            "drained_at = u.drained_at, drain_status = u.status, "
            "drain_attempts = coalesce(t.drain_attempts, 0) + 1",
        )
        dead = [r for r in rows if outcomes.get(r.message_id, {}).get("outcome") == journal.DEAD]
        if dead:
            _write(
                spark,
                options,
                [
                    {
                        "job": options.job,
                        "run_id": run_id,
                        "batch_id": r.batch_id,
                        "message_id": r.message_id,
                        "call_type": r.call_type,
                        "event": r.event,
                        "source_key": r.source_key,
                        "commit_version": r.commit_version,
                        "payload": r.payload,
                        "error_class": "RejectedError",
                        "error_message": outcomes[r.message_id].get("reason"),
                        "http_status": outcomes[r.message_id].get("status"),
                        "failed_at": now,
                        "replayed_at": None,
                        "replay_status": None,
                    }
                    for r in dead
                ],
                "dead_letters",
            )
    _record_run(spark, options, "drain", run_id, counts, started)
    counts["success_rate"] = counts["acked"] / counts["selected"] if counts["selected"] else 1.0
    return counts
