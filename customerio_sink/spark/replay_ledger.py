"""The ledger writes of a replay or drain run (:mod:`customerio_sink.spark.replay`).

:func:`apply_run` sorts the run's letters by the outcome its journal holds, appends the acks
(and, for a drain, the calls that became dead letters), merges each letter's new status into
its table, appends the run's lineage row, then marks the run done in its journal. Each write is
idempotent per run (Delta ``txnAppId`` = job and run id, ``txnVersion`` 0), so a run killed
between them is finished by the next one without writing anything twice.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customerio_sink.engine import journal
from customerio_sink.messages.rules import split_reason
from customerio_sink.spark.ledger import TABLES, commit_metadata

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from customerio_sink.spark.options import SinkOptions

__all__ = ["KINDS", "apply_run", "journal_key"]

#: kind → (source table, the column that says when a letter failed)
KINDS: dict[str, tuple[str, str]] = {
    "replay": ("dead_letters", "failed_at"),
    "drain": ("retry_queue", "parked_at"),
}


def journal_key(options: SinkOptions, run_id: str) -> str:
    """The journal key of one run of the job (``<job>/<run_id>``)."""
    return f"{options.job}/{run_id}"


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


@dataclass
class _Sorted:
    """A run's letters sorted by outcome: the counts, the ack and dead-letter rows to append,
    and the status updates of the letters (merged into their table)."""

    counts: dict[str, Any] = field(
        default_factory=lambda: {"acked": 0, "rejected": 0, "still_queued": 0}
    )
    acks: list[dict[str, Any]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)
    updates: list[tuple[Any, ...]] = field(default_factory=list)


def apply_run(
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
    ledger = options.ledger
    now = datetime.now(timezone.utc)
    got = _Sorted()
    for r in rows:
        _sort_letter(options, kind, run_id, r, outcomes.get(r.message_id) or {}, now, got)
    got.updates += [
        (options.job, r.message_id, None, "superseded", None, 0, None, None) for r, _ in skipped
    ]
    _write_outcomes(spark, options, kind, run_id, got)
    counts = got.counts
    counts["selected"] = len(rows) + len(skipped)
    counts["skipped"] = len(skipped)
    _record_run(spark, options, kind, run_id, counts, started)
    root, key = ledger.journal, journal_key(options, run_id)
    journal.write_commit(root, key, 0, counts)
    shutil.rmtree(Path(root) / key, ignore_errors=True)  # done: nothing left to recover
    return counts


def _sort_letter(
    options: SinkOptions,
    kind: str,
    run_id: str,
    r: Any,
    o: dict[str, Any],
    now: datetime,
    got: _Sorted,
) -> None:
    """Count one sent letter by its journaled outcome ``o``; add its rows and status update."""
    if o.get("outcome") == journal.ACKED:
        got.counts["acked"] += 1
        got.updates.append((options.job, r.message_id, now, "acked", None, 1, None, None))
        got.acks.append(
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
        got.counts["rejected"] += 1
        # A rejected dead letter stays a dead letter (with the new reason); a rejected
        # parked call leaves the queue for the dead letters.
        done = now if kind == "drain" else None
        error_class = o.get("error_class") or "RejectedError"
        error_field, rule = split_reason(o.get("reason"), error_class)
        got.updates.append(
            (options.job, r.message_id, done, "rejected", o.get("reason"), 1, error_field, rule)
        )
        got.dead.append(
            _letter(
                options,
                r,
                run_id,
                payload=r.payload,
                error_class=error_class,
                error_message=o.get("reason"),
                error_field=error_field,
                error_rule=rule,
                http_status=o.get("status"),
                failed_at=now,
                replayed_at=None,
                replay_status=None,
            )
        )
    else:
        got.counts["still_queued"] += 1
        got.updates.append((options.job, r.message_id, None, "transient", None, 1, None, None))


def _write_outcomes(
    spark: SparkSession, options: SinkOptions, kind: str, run_id: str, got: _Sorted
) -> None:
    """Append the acks, merge the status updates, and (a drain) append the new dead letters."""
    app_id = f"{options.job}:{run_id}"
    ledger = options.ledger
    if got.acks:
        ledger._append(spark.createDataFrame(got.acks, TABLES["acks"]), "acks", app_id, 0)
    if got.updates:
        upd = spark.createDataFrame(
            got.updates,
            "job string, message_id string, done timestamp, status string, reason string, "
            "attempt int, error_field string, error_rule string",
        )
        table = KINDS[kind][0]
        with commit_metadata(spark, f"customerio-sink {app_id} {kind} merge {table}"):
            _merge(spark, ledger.table(table), upd, _ASSIGNMENTS[kind])
    if got.dead and kind == "drain":
        frame = spark.createDataFrame(got.dead, TABLES["dead_letters"])
        ledger._append(frame, "dead_letters", app_id, 0)


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
