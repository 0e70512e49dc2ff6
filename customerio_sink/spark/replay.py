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
row (``front_door`` = ``replay`` / ``drain``) with its counts (the ledger writes of a run:
:mod:`customerio_sink.spark.replay_ledger`).
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

from customerio_sink.engine import journal
from customerio_sink.engine.partition import INPUT_COLUMNS, run_partition
from customerio_sink.messages.rules import MAX_MESSAGE_BYTES
from customerio_sink.spark import lease
from customerio_sink.spark.keys import audit_run
from customerio_sink.spark.options import SinkOptions
from customerio_sink.spark.order import split_superseded, with_newest_acks
from customerio_sink.spark.replay_ledger import KINDS, apply_run, journal_key
from customerio_sink.spark.writer import send_settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["drain_retry_queue", "replay_dead_letters"]

PayloadFix = Callable[[dict[str, Any]], dict[str, Any]]


def _ids_sql(ids: list[str]) -> str:
    return ", ".join("'" + i.replace("'", "''") + "'" for i in ids) or "NULL"


def _journal_outcomes(options: SinkOptions, run_id: str) -> dict[str, dict[str, Any]]:
    """Final outcome per message id, as a run's journal has it."""
    outcomes: dict[str, dict[str, Any]] = {}
    for record in journal.read_records(options.ledger.journal, journal_key(options, run_id), 0):
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
    from customerio_sink.spark.protect import require_plain

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


def _recover(spark: SparkSession, options: SinkOptions) -> None:
    """Finish replays and drains of this job that were killed before their ledger writes."""
    base = Path(options.ledger.journal) / options.job
    for kind, (table, _) in KINDS.items():
        for directory in sorted(base.glob(f"{kind}-*")):
            run_id = directory.name
            if journal.read_commit(options.ledger.journal, journal_key(options, run_id), 0):
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
            apply_run(spark, options, kind, run_id, rows, outcomes, [], started)


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
        audit_run(spark, options, run_id)  # which secret this run's key came from, never the key
        _recover(spark, options)
        rows = with_newest_acks(spark, options, select()).collect()
        send, skipped = split_superseded(rows, KINDS[kind][1], force=force)
        outcomes = _send(options, send, run_id, fix) if send else {}
        counts = apply_run(spark, options, kind, run_id, send, outcomes, skipped, started)
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
