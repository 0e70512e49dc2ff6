"""The journaling of one partition attempt's outcomes: every final outcome (acked, dead, parked,
skipped) and every request is appended to the batch's journal as it happens, and kept in
column lists that become the attempt's Parquet tables (``outcomes`` and ``requests``) the
ledger ingests.

:class:`PartitionJournal` holds that state and the counts of the attempt
(:class:`~customerio_sink.engine.settings.PartitionSummary`); the sender
(:class:`~customerio_sink.engine.sender.PartitionSender`) builds on it. Pure Python at import.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from customerio_sink.engine import journal
from customerio_sink.engine.arrow import EVENT, KEY, MID, PAYLOAD, TYPE, VERSION, _schema
from customerio_sink.engine.settings import PartitionSummary, SendSettings
from customerio_sink.engine.text_guard import decode_lenient

#: What one request log row records of a request (plus its ``started_at``).
REQUEST_FIELDS = (
    "endpoint",
    "status",
    "attempts",
    "latency_ms",
    "request_bytes",
    "message_count",
    "error_class",
)
#: Columns of the per-attempt Parquet tables the ledger ingests (name, Arrow type name).
OUTCOME_FIELDS = (
    ("outcome", "string"),
    ("message_id", "string"),
    ("call_type", "string"),
    ("event", "string"),
    ("source_key", "string"),
    ("commit_version", "int64"),
    ("http_status", "int32"),
    ("attempts", "int32"),
    ("request_bytes", "int64"),
    ("latency_ms", "float64"),
    ("at", "timestamp"),
    ("payload", "string"),
    ("reason", "string"),
    ("error_class", "string"),
    ("related_id", "string"),
)
REQUEST_LOG_FIELDS = (
    ("endpoint", "string"),
    ("status", "int32"),
    ("attempts", "int32"),
    ("latency_ms", "float64"),
    ("request_bytes", "int64"),
    ("message_count", "int32"),
    ("error_class", "string"),
    ("started_at", "string"),
)
# Outcome table column ← journal record key, for the values one record shares by all its rows.
_SHARED_FIELDS = (
    ("http_status", "status"),
    ("attempts", "attempts"),
    ("request_bytes", "request_bytes"),
    ("latency_ms", "latency_ms"),
    ("at", "at"),
    ("error_class", "error_class"),
)

#: Outcome rows a task keeps in memory before it writes them as a part of its outcome table.
SPILL_ROWS = 100_000
_SHARED_NAMES = frozenset(name for name, _ in _SHARED_FIELDS) | {"outcome"}
# Outcome table column ← input column an Arrow batch of input rows lends as it is.
_LENT_COLUMNS = (
    ("message_id", MID),
    ("call_type", TYPE),
    ("event", EVENT),
    ("source_key", KEY),
    ("commit_version", VERSION),
)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _row_columns(outcome: str, rows: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
    """(ids, keys, types, events, versions, lowest version, highest version, payloads) of row
    tuples; payloads are decoded unless the rows are skipped."""
    versions = [r[VERSION] for r in rows]
    present = [v for v in versions if v is not None]
    lo, hi = (min(present), max(present)) if present else (None, None)
    payloads = (
        [decode_lenient(bytes(r[PAYLOAD])) for r in rows] if outcome != journal.SKIPPED else None
    )
    return (
        [r[MID] for r in rows],
        [r[KEY] for r in rows],
        [r[TYPE] for r in rows],
        [r[EVENT] for r in rows],
        versions,
        lo,
        hi,
        payloads,
    )


def _batch_columns(rows: Any) -> tuple[Any, ...]:
    """The same columns of an Arrow batch of input rows (payloads left to the caller)."""
    import pyarrow.compute as pc

    bounds = pc.min_max(rows.column(VERSION)).as_py()
    return (
        rows.column(MID).to_pylist(),
        rows.column(KEY).to_pylist(),
        rows.column(TYPE).to_pylist(),
        rows.column(EVENT).to_pylist(),
        rows.column(VERSION).to_pylist(),
        bounds["min"],
        bounds["max"],
        None,
    )


class PartitionJournal:
    """The journal of one partition attempt, its outcome and request tables, and its counts."""

    def __init__(self, settings: SendSettings, batch_id: int, partition_id: int) -> None:
        self.settings = settings
        self.summary = PartitionSummary(partition_id=partition_id)
        self.journal = journal.JournalWriter(
            settings.journal_dir, settings.journal_key, batch_id, partition_id, fsync=settings.fsync
        )
        # The outcome table's columns as lists of Arrow chunks (see _keep).
        self.outcomes: dict[str, list[Any]] = {name: [] for name, _ in OUTCOME_FIELDS}
        self._types = {f.name: f.type for f in _schema(OUTCOME_FIELDS)}
        self._kept = 0  # outcome rows kept in memory, not yet written (see SPILL_ROWS)
        self.requests: dict[str, list[Any]] = {name: [] for name, _ in REQUEST_LOG_FIELDS}

    def _on_request(self, metrics: Any) -> None:
        # Only the request log's columns: the outcome record carries the message ids once.
        record = {name: getattr(metrics, name, None) for name in REQUEST_FIELDS}
        record["started_at"] = _now_iso()
        self.journal.write({"outcome": "request", **record})
        for name, _ in REQUEST_LOG_FIELDS:
            self.requests[name].append(record.get(name))

    def _record(self, outcome: str, rows: Any, **extra: Any) -> None:
        """Journal one final outcome of ``rows`` (row tuples, or an Arrow batch of input rows)
        and keep it for the attempt's outcome table."""
        arrow_rows = not isinstance(rows, list | tuple)
        columns = _batch_columns(rows) if arrow_rows else _row_columns(outcome, rows)
        ids, keys, types, events, versions, lo, hi, payloads = columns
        record: dict[str, Any] = {
            "outcome": outcome,
            "ids": ids,
            "keys": keys,
            "types": types,
            "events": events,
            "versions": versions,
            "at": _now_iso(),
            **extra,
        }
        if outcome not in (journal.ACKED, journal.SKIPPED):
            if payloads is None:
                payloads = [decode_lenient(p) for p in rows.column(PAYLOAD).to_pylist()]
            record["payloads"] = payloads
        self.journal.write(record)
        if lo is not None and hi is not None:
            s = self.summary
            s.min_version = lo if s.min_version is None else min(s.min_version, lo)
            s.max_version = hi if s.max_version is None else max(s.max_version, hi)
        self._keep(record, len(ids), rows if arrow_rows else None)

    def _keep(self, record: dict[str, Any], n: int, rows: Any = None) -> None:
        """Append one journal record's ``n`` rows to the attempt's outcome table, as Arrow
        arrays: a task's memory grows by a few bytes per row it journals, not by a Python
        object per value (``rows``, an Arrow batch of input rows, lends its columns as they
        are)."""
        import pyarrow as pa

        types = self._types
        given = {
            "outcome": record["outcome"],
            "message_id": record["ids"],
            "call_type": record["types"],
            "event": record["events"],
            "source_key": record["keys"],
            "commit_version": record["versions"],
            "payload": record.get("payloads"),
            "reason": record.get("reasons"),
            "related_id": record.get("related"),
            **{name: record.get(key) for name, key in _SHARED_FIELDS},
        }
        if isinstance(given["at"], str):  # the journal line's text; the table keeps the instant
            given["at"] = datetime.fromisoformat(given["at"].replace("Z", "+00:00"))
        if rows is not None:
            for name, column in _LENT_COLUMNS:
                given[name] = rows.column(column)
        for name, _ in OUTCOME_FIELDS:
            value = given[name]
            if isinstance(value, pa.Array):
                chunk = value
            elif name in _SHARED_NAMES or value is None:
                chunk = pa.repeat(pa.scalar(value, types[name]), n)
            else:
                chunk = pa.array(value, types[name])
            self.outcomes[name].append(chunk)
        self._kept += n
        if self._kept >= SPILL_ROWS:
            self.journal.append_table("outcomes", self._outcome_table())

    def _outcome_table(self) -> Any:
        """The outcome rows kept since the last part was written, as one table (and forget
        them)."""
        import pyarrow as pa

        schema = _schema(OUTCOME_FIELDS)
        table = pa.Table.from_arrays(
            [pa.chunked_array(self.outcomes[f.name], f.type) for f in schema], schema=schema
        )
        self.outcomes = {name: [] for name, _ in OUTCOME_FIELDS}
        self._kept = 0
        return table

    def write_tables(self) -> None:
        """Write the attempt's outcome and request tables (when it has any rows)."""
        if self._kept or self.journal.has_parts or self.requests["endpoint"]:
            import pyarrow as pa

            self.journal.write_tables(
                {
                    "outcomes": self._outcome_table(),
                    "requests": pa.table(self.requests, schema=_schema(REQUEST_LOG_FIELDS)),
                }
            )

    def dead(self, rows: Sequence[tuple[Any, ...]], reasons: Sequence[str], **extra: Any) -> None:
        self._record(journal.DEAD, rows, reasons=list(reasons), **extra)
        self.summary.dead += len(rows)

    def park(self, rows: Sequence[tuple[Any, ...]], reason: str, error_class: str) -> None:
        self._record(journal.PARKED, rows, reasons=[reason] * len(rows), error_class=error_class)
        self.summary.parked += len(rows)

    def skip(
        self, rows: Sequence[tuple[Any, ...]], reasons: Sequence[str], related: Sequence[Any]
    ) -> None:
        """Journal rows that are not sent, each with its reason (and the message id sent for
        its key instead, if any), so every skipped row can be found in the ledger."""
        if not rows:
            return
        if self.settings.dry_run:  # a dry run journals nothing; its counts are the report
            for reason in reasons:
                self.summary.skipped[reason] = self.summary.skipped.get(reason, 0) + 1
            return
        self._record(journal.SKIPPED, list(rows), reasons=list(reasons), related=list(related))
        for reason in reasons:
            self.summary.skipped[reason] = self.summary.skipped.get(reason, 0) + 1
