"""Where did row X go: the fate of source rows, read from the ledger.

    import customerio_sink as cio

    for fate in cio.trace(spark, "/Volumes/main/cio/ledger", job="people", key="user-42"):
        print(fate.describe())

Every source row of a micro-batch ends in exactly one place (see the guarantees): the ``acks``
table (when, which request), ``dead_letters`` (the reason), the ``retry_queue`` (parked, and
whether it was drained since) or ``skipped`` (the reason: ``update_preimage``, ``superseded``,
``unchanged``, ``duplicate``, ``already_delivered``). :func:`trace` looks a row up

* by ``key`` — the source key (a person's id, an object id…), every row of that key; keys moved
  by a re-keying (the ``key_map`` table) are followed both ways;
* by ``message_id`` — the deterministic ``messageId`` the sink gave the row;
* by ``row_id`` — a queue source's row id column (``Events(row_id=...)``): the rows are read from
  ``source`` and mapped with ``mapping`` (the same mapping and job as the sync) to their
  message ids; a row the ledger does not know yet is reported as ``not_found``.

A message sent more than once (a dead letter replayed later, a parked call drained) is one row
with its final outcome; the earlier ones are in :attr:`RowFate.history`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from customerio_sink.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from customerio_sink.spark.ledger import Ledger

__all__ = ["OUTCOMES", "RowFate", "trace"]

ACKED = "acked"
DEAD = "dead_lettered"
PARKED = "parked"
SKIPPED = "skipped"
NOT_FOUND = "not_found"
#: Outcomes in order of precedence for one message (delivered beats an earlier failure).
OUTCOMES = (ACKED, DEAD, PARKED, SKIPPED, NOT_FOUND)

# (ledger table, outcome, time column, reason expression)
_SOURCES = (
    ("acks", ACKED, "sent_at", "CAST(NULL AS STRING)"),
    ("dead_letters", DEAD, "failed_at", "concat_ws(': ', error_class, error_message)"),
    ("retry_queue", PARKED, "parked_at", "reason"),
    ("skipped", SKIPPED, "skipped_at", "reason"),
)


@dataclass
class RowFate:
    """What became of one source row."""

    outcome: str
    message_id: str | None
    key: str | None
    job: str
    run_id: str | None = None
    batch_id: int | None = None
    commit_version: int | None = None
    call_type: str | None = None
    event: str | None = None
    at: datetime | None = None
    reason: str | None = None
    related_message_id: str | None = None
    http_status: int | None = None
    attempts: int | None = None
    request: dict[str, Any] | None = None
    note: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """One line a person can read."""
        where = f"run {self.run_id} batch {self.batch_id}" if self.run_id else "no batch"
        head = f"{self.key} {self.message_id} ({self.call_type or '?'}"
        head += f" {self.event})" if self.event else ")"
        if self.outcome == ACKED:
            req = self.request or {}
            detail = (
                f"acked at {self.at} ({where}), HTTP {self.http_status} after {self.attempts} "
                f"attempt(s); request {req.get('endpoint', '/v1/batch')} of "
                f"{req.get('request_bytes', '?')} bytes, {req.get('message_count', '?')} messages"
            )
        elif self.outcome == DEAD:
            detail = f"dead-lettered at {self.at} ({where}): {self.reason}"
        elif self.outcome == PARKED:
            detail = f"parked in the retry queue at {self.at} ({where}): {self.reason}"
        elif self.outcome == SKIPPED:
            detail = f"skipped ({self.reason}) at {self.at} ({where})"
            if self.related_message_id:
                detail += f"; instead: {self.related_message_id}"
        else:
            detail = "not in the ledger (not processed yet, or another job name)"
        extra = f" [{self.note}]" if self.note else ""
        return f"{head}: {detail}{extra}"


def _values(name: str, value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    values = [value] if isinstance(value, str) else [str(v) for v in value]
    if not values or any(not v for v in values):
        raise ConfigError(f"trace: {name} must be a non-empty string (or a list of them)")
    return values


def _ledger(ledger: str | Ledger) -> Ledger:
    from customerio_sink.spark.ledger import Ledger

    if isinstance(ledger, Ledger):
        return ledger
    if isinstance(ledger, str) and ledger.strip():
        return Ledger(path=ledger)
    raise ConfigError(f"trace: ledger is a directory path or cio.Ledger(...), got {ledger!r}")


def _exists(spark: SparkSession, ledger: Ledger, name: str) -> bool:
    try:
        return bool(ledger._exists(spark, name))
    except Exception:
        return False


def _ledger_rows(
    spark: SparkSession, ledger: Ledger, job: str, column: str, values: list[str]
) -> list[dict[str, Any]]:
    """Every ledger row of ``job`` whose ``column`` is one of ``values``, across the outcome
    tables, as dicts with one shape."""
    from pyspark.sql import functions as F

    frames: list[DataFrame] = []
    for table, outcome, at, reason in _SOURCES:
        if not _exists(spark, ledger, table):
            continue
        df = ledger.read(spark, table)
        cols = set(df.columns)

        def opt(name: str, kind: str, cols: set[str] = cols, df: DataFrame = df) -> Any:
            return (df[name] if name in cols else F.lit(None)).cast(kind).alias(name)

        status = {
            "dead_letters": F.col("replay_status"),
            "retry_queue": F.concat_ws(" ", "drain_status", F.col("drained_at").cast("string")),
        }.get(table, F.lit(None))
        frames.append(
            df.where((F.col("job") == job) & F.col(column).isin(values)).select(
                F.lit(outcome).alias("outcome"),
                "message_id",
                F.col("source_key").alias("key"),
                "run_id",
                "batch_id",
                "commit_version",
                "call_type",
                "event",
                F.col(at).alias("at"),
                F.expr(reason).alias("reason"),
                opt("related_message_id", "string"),
                opt("http_status", "int"),
                opt("attempts", "int"),
                opt("request_bytes", "bigint"),
                status.cast("string").alias("status"),
            )
        )
    if not frames:
        raise ConfigError(
            f"trace: no ledger tables at {ledger.path or ledger.schema} (give the ledger of the "
            "sync: its ledger_path or ledger_schema)"
        )
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)
    return [row.asDict() for row in union.collect()]


def _mapped_keys(spark: SparkSession, ledger: Ledger, keys: list[str]) -> dict[str, str]:
    """Keys linked to ``keys`` by a re-keying (either direction) → a note for each."""
    if not keys or not _exists(spark, ledger, "key_map"):
        return {}
    from pyspark.sql import functions as F

    rows = (
        ledger.read(spark, "key_map")
        .where(F.col("old_key").isin(keys) | F.col("new_key").isin(keys))
        .select("old_key", "new_key")
        .distinct()
        .collect()
    )
    linked: dict[str, str] = {}
    for r in rows:
        if r.old_key not in keys:
            linked[r.old_key] = f"old key of {r.new_key} (re-keyed)"
        if r.new_key not in keys:
            linked[r.new_key] = f"new key of {r.old_key} (re-keyed)"
    return linked


def _fates(job: str, rows: list[dict[str, Any]]) -> list[RowFate]:
    """One fate per source row: a skipped row is one row; the other rows of one message id
    are one row whose outcome is the best of them (the rest is its history)."""
    fates: list[RowFate] = []
    by_id: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["outcome"] == SKIPPED:
            fates.append(_fate(job, row, []))
        else:
            by_id.setdefault(row["message_id"], []).append(row)
    for group in by_id.values():
        group.sort(
            key=lambda r: (OUTCOMES.index(r["outcome"]), -(r["at"] or datetime.min).timestamp())
        )
        best, rest = group[0], group[1:]
        fates.append(_fate(job, best, rest))
    fates.sort(key=lambda f: (f.key or "", f.commit_version or 0, f.at or datetime.min))
    return fates


def _fate(job: str, row: dict[str, Any], rest: list[dict[str, Any]]) -> RowFate:
    reason = row["reason"]
    if row["status"] and row["status"].strip():
        reason = f"{reason} (since: {row['status'].strip()})" if reason else row["status"].strip()
    return RowFate(
        outcome=row["outcome"],
        message_id=row["message_id"],
        key=row["key"],
        job=job,
        run_id=row["run_id"],
        batch_id=row["batch_id"],
        commit_version=row["commit_version"],
        call_type=row["call_type"],
        event=row["event"],
        at=row["at"],
        reason=reason,
        related_message_id=row["related_message_id"],
        http_status=row["http_status"],
        attempts=row["attempts"],
        request={"request_bytes": row["request_bytes"]} if row["outcome"] == ACKED else None,
        history=[
            {k: r[k] for k in ("outcome", "run_id", "batch_id", "at", "reason")} for r in rest
        ],
    )


def _attach_requests(spark: SparkSession, ledger: Ledger, job: str, fates: list[RowFate]) -> None:
    """Find each ack's request in the request log: same run and batch, same status and body
    size, the nearest start before the ack was recorded."""
    acked = [f for f in fates if f.outcome == ACKED and f.run_id is not None]
    if not acked or not _exists(spark, ledger, "requests"):
        return
    from pyspark.sql import functions as F

    batches = {(f.run_id, f.batch_id) for f in acked}
    cond = F.lit(False)
    for run_id, batch_id in batches:
        cond = cond | ((F.col("run_id") == run_id) & (F.col("batch_id") == batch_id))
    rows = ledger.read(spark, "requests").where((F.col("job") == job) & cond).collect()
    for fate in acked:
        size = (fate.request or {}).get("request_bytes")
        candidates = [
            r
            for r in rows
            if (r.run_id, r.batch_id) == (fate.run_id, fate.batch_id)
            and r.status == fate.http_status
            and (size is None or r.request_bytes == size)
        ]
        if not candidates:
            continue
        at = fate.at
        best = min(
            candidates,
            key=lambda r: abs((r.started_at - at).total_seconds()) if at and r.started_at else 0,
        )
        fate.request = {
            "endpoint": best.endpoint,
            "status": best.status,
            "attempts": best.attempts,
            "request_bytes": best.request_bytes,
            "message_count": best.message_count,
            "started_at": best.started_at,
            "latency_ms": best.latency_ms,
        }


def _source_rows(
    spark: SparkSession, source: str | DataFrame, mapping: Any, job: str, row_ids: list[str]
) -> list[tuple[str, str | None]]:
    """(message id, key) of each source row whose row id is one of ``row_ids``."""
    from pyspark.sql import functions as F

    from customerio_sink.spark.mapping import to_messages

    m = mapping.to_mapping() if hasattr(mapping, "to_mapping") else mapping
    if m.source != "queue" or not m.row_id:
        raise ConfigError(
            "trace(row_id=...): needs a queue mapping with a row id column, e.g. "
            "cio.Events(..., row_id='event_id'); for change feeds trace by key or message_id"
        )
    if isinstance(source, str):
        reader = spark.read.format("delta")
        df = reader.load(source) if "/" in source else spark.table(source)
    else:
        df = source
    if m.row_id not in df.columns:
        raise ConfigError(f"trace: the source has no row id column {m.row_id!r}")
    rows = df.where(F.col(f"`{m.row_id}`").cast("string").isin(row_ids))
    mapped = to_messages(rows, m, job=job).select("message_id", "key").collect()
    return [(r.message_id, r.key) for r in mapped]


def trace(
    spark: SparkSession,
    ledger: str | Ledger,
    *,
    job: str,
    key: str | Sequence[str] | None = None,
    row_id: str | Sequence[str] | None = None,
    message_id: str | Sequence[str] | None = None,
    source: str | DataFrame | None = None,
    mapping: Any = None,
) -> list[RowFate]:
    """The fate of every source row of ``job`` matching one selector (``key``, ``row_id`` or
    ``message_id``; each a string or a list), read from ``ledger``.

    ``row_id`` also needs ``source`` (the table, or a DataFrame) and ``mapping`` (the sync's).

    Raises:
        ConfigError: no selector or several, a row id without source and mapping, or a ledger
            without tables.
    """
    chosen = [n for n, v in (("key", key), ("row_id", row_id), ("message_id", message_id)) if v]
    if len(chosen) != 1:
        raise ConfigError(
            "trace: give exactly one of key=, row_id= or message_id= "
            f"(got {', '.join(chosen) or 'none'})"
        )
    if not job:
        raise ConfigError("trace: job= is required (the sync's job name, as in the ledger)")
    led = _ledger(ledger)
    if row_id is not None:
        if source is None or mapping is None:
            raise ConfigError(
                "trace(row_id=...): also give source= (the table) and mapping= (the sync's) so "
                "the row ids can be turned into message ids"
            )
        wanted = _source_rows(spark, source, mapping, job, _values("row_id", row_id))
        ids = sorted({mid for mid, _ in wanted})
        fates = _fates(job, _ledger_rows(spark, led, job, "message_id", ids)) if ids else []
        _attach_requests(spark, led, job, fates)
        return _per_source_row(job, wanted, fates)
    if message_id is not None:
        rows = _ledger_rows(spark, led, job, "message_id", _values("message_id", message_id))
        fates = _fates(job, rows)
    else:
        keys = _values("key", key)
        linked = _mapped_keys(spark, led, keys)
        fates = _fates(job, _ledger_rows(spark, led, job, "source_key", keys + list(linked)))
        for fate in fates:
            if fate.key in linked:
                fate.note = linked[fate.key]
    _attach_requests(spark, led, job, fates)
    return fates


def _per_source_row(
    job: str, wanted: list[tuple[str, str | None]], fates: list[RowFate]
) -> list[RowFate]:
    """Pair source rows with fates by message id (rows sharing an id: the sent one first, then
    its duplicates); a row with no fate left is ``not_found``."""
    pool: dict[str, list[RowFate]] = {}
    for fate in fates:
        pool.setdefault(fate.message_id or "", []).append(fate)
    for group in pool.values():
        group.sort(key=lambda f: OUTCOMES.index(f.outcome))
    out: list[RowFate] = []
    for mid, key in wanted:
        group = pool.get(mid, [])
        out.append(group.pop(0) if group else RowFate(NOT_FOUND, mid, key, job))
    return out
