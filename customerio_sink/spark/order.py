"""Order across batches: which dead letters and parked calls must no longer be sent.

Customer.io applies calls in the order it receives them, so a call sent late must not land after
a newer call of its key that set state. A letter (dead letter or parked call) is *superseded*
when a state-setting call of the same key — ``identify``, ``group``, ``alias`` or a semantic event
such as ``User Deleted`` — is newer than it and either

* was acknowledged for the same job: by commit version when the letter has one (change feeds),
  else — queue rows carry no version — by time: the stream acknowledged it after the letter
  failed; or
* is another letter of the same run (only the newest state call of a key goes out).

Superseded letters are skipped, with the reason, unless the run is forced.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from customerio_sink.spark.mapping import SEMANTIC_EVENTS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from customerio_sink.spark.options import SinkOptions

__all__ = ["STATE_CALLS_SQL", "is_state_call", "split_superseded", "with_newest_acks"]

_STATE_TYPES = ("identify", "group", "alias")
STATE_CALLS_SQL = (
    "(call_type IN ('identify', 'group', 'alias') OR (call_type = 'track' AND event IN ("
    + ", ".join("'" + e + "'" for e in SEMANTIC_EVENTS)
    + ")))"
)


def is_state_call(call_type: str | None, event: str | None) -> bool:
    """Whether a call sets state (identify, group, alias, or a track of a semantic event), so
    that an older one must not land after a newer one (the Python twin of ``STATE_CALLS_SQL``)."""
    return call_type in _STATE_TYPES or (call_type == "track" and event in SEMANTIC_EVENTS)


def with_newest_acks(spark: SparkSession, options: SinkOptions, letters: DataFrame) -> DataFrame:
    """``letters`` plus the newest acknowledged state call of each letter's key (same job):
    ``_ack_version`` / ``_ack_version_id`` by commit version, ``_ack_at`` / ``_ack_at_id`` by
    time among the stream's own acknowledgements (replays and drains re-send old calls)."""
    from pyspark.sql import functions as F

    keys = letters.where("source_key IS NOT NULL").select("source_key").distinct()
    acks = (
        options.ledger.read(spark, "acks")
        .where(F.col("job") == options.job)
        .where(STATE_CALLS_SQL)
        .join(keys, "source_key", "left_semi")
    )
    by_version = (
        acks.where("commit_version IS NOT NULL")
        .groupBy("source_key")
        .agg(
            F.max("commit_version").alias("_ack_version"),
            F.max_by("message_id", "commit_version").alias("_ack_version_id"),
        )
    )
    by_time = (
        acks.where("NOT (run_id LIKE 'replay-%' OR run_id LIKE 'drain-%')")
        .groupBy("source_key")
        .agg(
            F.max("sent_at").alias("_ack_at"),
            F.max_by("message_id", "sent_at").alias("_ack_at_id"),
        )
    )
    return letters.join(by_version, "source_key", "left").join(by_time, "source_key", "left")


def _older_than_ack(row: Any, time_col: str) -> str | None:
    key, version = row.source_key, row.commit_version
    if key is None:
        return None
    if version is not None:
        if row._ack_version is not None and row._ack_version > version:
            return (
                f"version {version} of key {key} is older than acknowledged version "
                f"{row._ack_version} (message {row._ack_version_id})"
            )
        return None
    at = getattr(row, time_col)
    if row._ack_at is not None and at is not None and row._ack_at > at:
        return (
            f"key {key} had a newer call acknowledged at {row._ack_at.isoformat()} "
            f"(message {row._ack_at_id}) after this one failed at {at.isoformat()}"
        )
    return None


def split_superseded(
    rows: list[Any], time_col: str, *, force: bool = False
) -> tuple[list[Any], list[tuple[Any, str]]]:
    """(rows to send, oldest first per key; [(row, reason)] superseded). ``rows`` come from
    :func:`with_newest_acks`. With ``force`` nothing is superseded."""

    def age(row: Any) -> tuple[int, Any]:
        version = row.commit_version
        return (version if version is not None else -1, getattr(row, time_col) or datetime.min)

    ordered = sorted(rows, key=lambda r: (r.source_key or "", age(r)))
    if force:
        return ordered, []
    newest: dict[str, Any] = {}
    for row in ordered:
        if row.source_key is not None and is_state_call(row.call_type, row.event):
            newest[row.source_key] = row  # ordered: the last one is the newest
    send: list[Any] = []
    skipped: list[tuple[Any, str]] = []
    for row in ordered:
        reason = _older_than_ack(row, time_col)
        top = newest.get(row.source_key) if row.source_key is not None else None
        if reason is None and top is not None and top is not row and age(top) > age(row):
            reason = (
                f"key {row.source_key} has a newer letter in this run (message {top.message_id})"
            )
        if reason is None:
            send.append(row)
        else:
            skipped.append((row, reason))
    return send, skipped
