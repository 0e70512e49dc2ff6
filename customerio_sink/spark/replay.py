"""Second chances: re-send chosen dead letters after a fix, and drain the retry queue.

Both go through the same engine as the streams (packing, rate budget, retries, splitting of
rejected bodies, journaling), on the driver, with a run id (``replay-…`` / ``drain-…``) and a
journal of their own. Exactly once, as far as HTTP allows:

* **One at a time.** A run holds the job's lease (:mod:`customerio_sink.spark.lease`); a second
  replay or drain of the job stops at once with one line naming the running one.
* **Journal first, ledger after.** Every request's outcome is journaled as it is answered; the
  Delta writes (acks, statuses, lineage) come after, each idempotent per run. A run killed in
  between is finished by the next run from its journal before that one selects anything, so
  what the dead run had sent is not sent again — only a request in flight at the kill can go
  out twice, with the same ``messageId``\\ s.
* **In order.** A letter older than a newer state call of its key (acknowledged, or another
  letter of the run) is skipped with the reason (:mod:`customerio_sink.spark.order`), unless
  ``force``.

Each message ends ``acked`` (an ack row is written), ``rejected`` (the reason is updated; a
message over 32 KB after a fix is rejected with that reason), ``transient`` (stays selectable,
attempts + 1) or ``superseded`` (skipped; every run looks again). Each run appends one lineage
row (``front_door`` = ``replay`` / ``drain``) with its counts.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from customerio_sink import journal
from customerio_sink.engine import INPUT_COLUMNS, run_partition
from customerio_sink.rules import MAX_MESSAGE_BYTES, split_reason
from customerio_sink.spark import lease
from customerio_sink.spark.ledger import TABLES
from customerio_sink.spark.options import SinkOptions
from customerio_sink.spark.order import split_superseded, with_newest_acks
from customerio_sink.spark.writer import send_settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["drain_retry_queue", "replay_dead_letters"]

PayloadFix = Callable[[dict[str, Any]], dict[str, Any]]

#: kind → (source table, the column that says when a letter failed)
KINDS: dict[str, tuple[str, str]] = {
    "replay": ("dead_letters", "failed_at"),
    "drain": ("retry_queue", "parked_at"),
}


def _ids_sql(ids: list[str]) -> str:
    return ", ".join("'" + i.replace("'", "''") + "'" for i in ids) or "NULL"


def _journal_key(options: SinkOptions, run_id: str) -> str:
    return f"{options.job}/{run_id}"


def _journal_outcomes(options: SinkOptions, run_id: str) -> dict[str, dict[str, Any]]:
    """Final outcome per message id, as a run's journal has it."""
    outcomes: dict[str, dict[str, Any]] = {}
    for record in journal.read_records(options.ledger.journal, _journal_key(options, run_id), 0):
        if record.get("outcome") in journal.FINAL_OUTCOMES:
            reasons = record.get("reasons") or [None] * len(record["ids"])
            for mid, reason in zip(record["ids"], reasons, strict=True):
                outcomes[mid] = {**record, "reason": reason}
    return outcomes


def _input(rows: list[Any], fix: PayloadFix | None, cipher: Any = None) -> dict[str, list[Any]]:
    """The engine's input columns for stored letters, after the fix. A message over 32 KB
    carries the rule as its error, so the engine dead-letters it with that reason.

    Encrypted payloads (``payload_key``) are decrypted with ``cipher`` first; without it (or
    with the wrong key) :class:`DecryptionError` is raised before anything is sent."""
    from customerio_sink.protect import require_plain

    columns: dict[str, list[Any]] = {c: [] for c in INPUT_COLUMNS}
    for r in rows:
        stored = cipher.open_payload(r.payload) if cipher is not None else require_plain(r.payload)
        payload = (stored or "").encode("utf-8")
        if fix is not None:
            payload = orjson.dumps(fix(orjson.loads(payload)))
        error = None
        if len(payload) > MAX_MESSAGE_BYTES:
            error = (
                f"message: {len(payload)} bytes, over the {MAX_MESSAGE_BYTES}-byte message limit"
                + (" (after the fix)" if fix is not None else "")
                + " [max_message_bytes]"
            )
        for name, value in (
            ("key", r.source_key),
            ("message_id", r.message_id),
            ("type", r.call_type),
            ("event", r.event),
            ("payload", payload),
            ("error", error),
            ("change", "append"),
            ("version", r.commit_version),
            ("hash", None),
            ("hold", False),
            ("in_window", False),
        ):
            columns[name].append(value)
    return columns


def _send(
    options: SinkOptions, rows: list[Any], run_id: str, fix: PayloadFix | None
) -> dict[str, dict[str, Any]]:
    """Send rows (oldest first per key) through the engine; outcome per message id."""
    settings = replace(send_settings(options, run_id, 1), on_transient="park", collapse=False)
    from customerio_sink.spark.keys import resolve_cipher

    cipher = resolve_cipher(options.ledger.cipher)
    run_partition([_input(rows, fix, cipher)], settings, 0, 0)
    return _journal_outcomes(options, run_id)


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


_ASSIGNMENTS = {
    "replay": "replayed_at = u.done, replay_status = u.status, "
    "error_message = coalesce(u.reason, t.error_message), "
    "error_field = CASE WHEN u.reason IS NULL THEN t.error_field ELSE u.error_field END, "
    "error_rule = CASE WHEN u.reason IS NULL THEN t.error_rule ELSE u.error_rule END",
    "drain": "drained_at = u.done, drain_status = u.status, "
    "drain_attempts = coalesce(t.drain_attempts, 0) + u.attempt",
}


def _letter(options: SinkOptions, r: Any, run_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "job": options.job,
        "run_id": run_id,
        "batch_id": r.batch_id,
        "message_id": r.message_id,
        "call_type": r.call_type,
        "event": r.event,
        "source_key": r.source_key,
        "commit_version": r.commit_version,
        **extra,
    }


def _apply(
    spark: SparkSession,
    options: SinkOptions,
    kind: str,
    run_id: str,
    rows: list[Any],
    outcomes: dict[str, dict[str, Any]],
    skipped: list[tuple[Any, str]],
    started: datetime,
) -> dict[str, Any]:
    """Write a run's outcomes to the ledger (each write idempotent per run), then mark the run
    done in its journal. Also finishes a run that was killed before it got here."""
    app_id = f"{options.job}:{run_id}"
    ledger = options.ledger
    now = datetime.now(timezone.utc)
    counts: dict[str, Any] = {"acked": 0, "rejected": 0, "still_queued": 0}
    acks: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    updates: list[tuple[Any, ...]] = []
    for r in rows:
        o = outcomes.get(r.message_id) or {}
        if o.get("outcome") == journal.ACKED:
            counts["acked"] += 1
            updates.append((options.job, r.message_id, now, "acked", None, 1, None, None))
            acks.append(
                _letter(
                    options,
                    r,
                    run_id,
                    http_status=o.get("status"),
                    attempts=o.get("attempts"),
                    request_bytes=o.get("request_bytes"),
                    latency_ms=o.get("latency_ms"),
                    sent_at=now,
                )
            )
        elif o.get("outcome") == journal.DEAD:
            counts["rejected"] += 1
            # A rejected dead letter stays a dead letter (with the new reason); a rejected
            # parked call leaves the queue for the dead letters.
            done = now if kind == "drain" else None
            error_class = o.get("error_class") or "RejectedError"
            field, rule = split_reason(o.get("reason"), error_class)
            updates.append(
                (options.job, r.message_id, done, "rejected", o.get("reason"), 1, field, rule)
            )
            dead.append(
                _letter(
                    options,
                    r,
                    run_id,
                    payload=r.payload,
                    error_class=error_class,
                    error_message=o.get("reason"),
                    error_field=field,
                    error_rule=rule,
                    http_status=o.get("status"),
                    failed_at=now,
                    replayed_at=None,
                    replay_status=None,
                )
            )
        else:
            counts["still_queued"] += 1
            updates.append((options.job, r.message_id, None, "transient", None, 1, None, None))
    updates += [
        (options.job, r.message_id, None, "superseded", None, 0, None, None) for r, _ in skipped
    ]
    if acks:
        ledger._append(spark.createDataFrame(acks, TABLES["acks"]), "acks", app_id, 0)
    if updates:
        upd = spark.createDataFrame(
            updates,
            "job string, message_id string, done timestamp, status string, reason string, "
            "attempt int, error_field string, error_rule string",
        )
        _merge(spark, ledger.table(KINDS[kind][0]), upd, _ASSIGNMENTS[kind])
    if dead and kind == "drain":
        frame = spark.createDataFrame(dead, TABLES["dead_letters"])
        ledger._append(frame, "dead_letters", app_id, 0)
    counts["selected"] = len(rows) + len(skipped)
    counts["skipped"] = len(skipped)
    _record_run(spark, options, kind, run_id, counts, started)
    root, key = ledger.journal, _journal_key(options, run_id)
    journal.write_commit(root, key, 0, counts)
    shutil.rmtree(Path(root) / key, ignore_errors=True)  # done: nothing left to recover
    return counts


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
        "source": options.ledger.table(KINDS[kind][0]),
        "min_commit_version": None,
        "max_commit_version": None,
        "rows_in": counts["selected"],
        "acked": counts["acked"],
        "dead_lettered": counts["rejected"],
        "parked": counts["still_queued"],
        "skipped": counts["skipped"],
        "skipped_by_reason": {"superseded": counts["skipped"]} if counts["skipped"] else {},
        "already_final": 0,
        "requests": 0,
        "request_bytes": 0,
        "in_trigger_window": 0,
        "dry_run": False,
        "started_at": started,
        "finished_at": datetime.now(timezone.utc),
        "sink_version": __version__,
    }
    frame = spark.createDataFrame([lineage], TABLES["lineage"])
    options.ledger._append(frame, "lineage", f"{options.job}:{run_id}", 0)


def _recover(spark: SparkSession, options: SinkOptions) -> None:
    """Finish replays and drains of this job that were killed before their ledger writes."""
    base = Path(options.ledger.journal) / options.job
    for kind, (table, _) in KINDS.items():
        for directory in sorted(base.glob(f"{kind}-*")):
            run_id = directory.name
            if journal.read_commit(options.ledger.journal, _journal_key(options, run_id), 0):
                shutil.rmtree(directory, ignore_errors=True)
                continue
            outcomes = _journal_outcomes(options, run_id)
            rows: list[Any] = []
            if outcomes:
                ids = spark.createDataFrame(
                    [(options.job, m) for m in outcomes], "job string, message_id string"
                )
                rows = (
                    options.ledger.read(spark, table)
                    .join(ids, ["job", "message_id"], "left_semi")
                    .dropDuplicates(["message_id"])
                    .collect()
                )
            started = datetime.now(timezone.utc)
            _apply(spark, options, kind, run_id, rows, outcomes, [], started)


def _run(
    spark: SparkSession,
    options: SinkOptions,
    kind: str,
    select: Callable[[], DataFrame],
    fix: PayloadFix | None,
    force: bool,
) -> dict[str, Any]:
    started = datetime.now(timezone.utc)
    run_id = f"{kind}-{uuid.uuid4().hex[:12]}"
    options.ledger.ensure_tables(spark)
    with lease.hold(options.ledger.journal, options.job, kind, run_id):
        _recover(spark, options)
        rows = with_newest_acks(spark, options, select()).collect()
        send, skipped = split_superseded(rows, KINDS[kind][1], force=force)
        outcomes = _send(options, send, run_id, fix) if send else {}
        counts = _apply(spark, options, kind, run_id, send, outcomes, skipped, started)
    attempted = counts["selected"] - counts["skipped"]
    counts["success_rate"] = counts["acked"] / attempted if attempted else 1.0
    counts["skipped_letters"] = [(r.message_id, r.source_key, why) for r, why in skipped]
    return counts


def replay_dead_letters(
    spark: SparkSession,
    options: SinkOptions,
    *,
    message_ids: list[str] | None = None,
    where: str | None = None,
    fix: PayloadFix | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Re-send chosen dead letters of ``options.job``; returns counts and the success rate.

    Choose by ``message_ids`` and/or a SQL ``where`` over the dead-letter table (e.g.
    ``"error_class = 'AuthenticationError'"``). ``fix`` may rewrite each payload (a dict) first.
    Only letters not replayed successfully yet are selected; letters older than a newer state
    call of their key are skipped (``skipped_letters``: message id, key, reason) unless
    ``force``.

    Raises:
        RunInProgressError: another replay or drain of the job is running.
    """
    cond = f"job = '{options.job}' AND replayed_at IS NULL"
    if message_ids is not None:
        cond += f" AND message_id IN ({_ids_sql(message_ids)})"
    if where:
        cond += f" AND ({where})"

    def select() -> DataFrame:
        return options.ledger.read(spark, "dead_letters").where(cond).dropDuplicates(["message_id"])

    return _run(spark, options, "replay", select, fix, force)


def drain_retry_queue(
    spark: SparkSession,
    options: SinkOptions,
    *,
    max_messages: int | None = None,
    include_held: bool = False,
    force: bool = False,
) -> dict[str, Any]:
    """Re-send what transient failures parked for ``options.job``; returns counts and rate.

    Held-back rows (inside the 72-hour window when parked) are drained only with
    ``include_held``. Messages that fail transiently again stay queued, attempts + 1; parked
    calls older than a newer state call of their key are skipped unless ``force``.

    Raises:
        RunInProgressError: another replay or drain of the job is running.
    """
    cond = f"job = '{options.job}' AND drained_at IS NULL"
    if not include_held:
        cond += " AND coalesce(error_class, '') <> 'HeldBack'"

    def select() -> DataFrame:
        df = options.ledger.read(spark, "retry_queue").where(cond).dropDuplicates(["message_id"])
        df = df.orderBy("parked_at", "batch_id")
        return df.limit(max_messages) if max_messages else df

    return _run(spark, options, "drain", select, None, force)
