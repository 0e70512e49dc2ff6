"""The sending engine shared by both front doors: one call per partition of a micro-batch.

Input is the mapped message table (see :mod:`customerio_sink.spark.mapping`) as column batches:
for each row, its source ``key``, deterministic ``message_id``, call ``type``, ``event`` name,
the message JSON ``payload`` (UTF-8, built in the JVM; read as bytes), a validation ``error``
(or None), the change type, commit ``version``, a hash of the mapped columns, and the 72-hour
flags.

Per partition the engine: skips messages an earlier attempt of this batch already finished (the
journal), collapses change-feed rows to one net change per key, dead-letters invalid rows, holds
back rows inside the 72-hour window when asked, packs the rest into ``/v1/batch`` bodies near the
size limit, sends them through its share of the rate budget, isolates the messages of a rejected
body by splitting it, and journals every final outcome as it goes. Transient failures that outlast
the retries either fail the partition (``on_transient="fail"``: Spark replays the batch) or park
the messages in the retry queue (``on_transient="park"``).

Pure Python: no pyspark import, so it is tested without Spark.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from customerio_sink import journal
from customerio_sink.collapse import SKIP_DUPLICATE, collapse_changes
from customerio_sink.text_guard import decode_lenient, guard_text

__all__ = ["INPUT_COLUMNS", "PartitionSummary", "SendSettings", "run_partition"]

#: Columns the engine reads from each input batch.
INPUT_COLUMNS = (
    "key",
    "message_id",
    "type",
    "event",
    "payload",
    "error",
    "change",
    "version",
    "hash",
    "hold",
    "in_window",
)

_REQUEST_FIELDS = (
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
    ("at", "string"),
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


def _schema(fields: Sequence[tuple[str, str]]) -> Any:
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in fields])


HELD_REASON = "held back: timestamp inside Customer.io's 72-hour campaign-trigger window"


@dataclass(frozen=True)
class SendSettings:
    """Everything a sending task needs; picklable, shipped from the driver to executors.

    ``journal_key`` names this job's run in the journal (``<job>/<run id>``).
    ``api_key`` is a :class:`customerio_sink.secrets.SecretKey` (its repr hides the value).
    ``rate_requests`` of None (or 0) means no client-side budget at all. The budget is per
    key: every job sending with the key at the same time shares it through ``budget_dir``
    (see :mod:`customerio_sink.budget`). ``concurrency`` is how many partitions send at the
    same time: each gets ``job share // concurrency`` (or, below one per window, its own slots
    among ``lanes``, the batch's partition count when known).
    """

    journal_key: str
    journal_dir: str
    api_key: Any = None
    endpoint: str | None = None
    region: str | None = None
    rate_requests: int | None = 3000
    rate_period_s: float = 3.0
    rate_headroom: float = 0.95
    concurrency: int = 1
    lanes: int | None = None
    budget_dir: str | None = None
    max_body_bytes: int | None = None
    max_batch_messages: int | None = None
    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    retry_after_cap_s: float = 60.0
    breaker_threshold: int = 5
    breaker_recovery_s: float = 30.0
    timeout_s: float = 30.0
    gzip: bool = False
    on_transient: str = "fail"  # "fail" | "park"
    collapse: bool = False
    dry_run: bool = False
    fsync: bool = False


@dataclass
class PartitionSummary:
    """Counts for one partition attempt; summed by the driver into the lineage row."""

    partition_id: int = 0
    rows_in: int = 0
    acked: int = 0
    dead: int = 0
    parked: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    already_final: int = 0
    requests: int = 0
    request_bytes: int = 0
    in_window: int = 0
    would_send: int = 0
    min_version: int | None = None
    max_version: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def merge(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Sum partition summaries (as dicts) into one batch summary."""
        total: dict[str, Any] = {"skipped": {}, "min_version": None, "max_version": None}
        for part in parts:
            for name, value in part.items():
                if name == "partition_id":
                    continue
                if name in ("min_version", "max_version"):
                    if value is not None:
                        pick = min if name == "min_version" else max
                        current = total[name]
                        total[name] = value if current is None else pick(current, value)
                    continue
                if name == "skipped":
                    for reason, n in value.items():
                        total["skipped"][reason] = total["skipped"].get(reason, 0) + n
                else:
                    total[name] = total.get(name, 0) + value
        return total


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Row tuple positions (INPUT_COLUMNS order).
KEY, MID, TYPE, EVENT, PAYLOAD, ERROR, CHANGE, VERSION, HASH, HOLD, IN_WINDOW = range(11)

#: Text columns the engine reads as Python strings and the mapping copies from source text.
_TEXT = (KEY, EVENT, ERROR)

#: Arrow types of the input columns (INPUT_COLUMNS order).
_INPUT_TYPES = (
    "string",
    "string",
    "string",
    "string",
    "binary",
    "string",
    "string",
    "int64",
    "string",
    "bool_",
    "bool_",
)


@lru_cache(maxsize=1)
def _input_schema() -> Any:
    return _schema(tuple(zip(INPUT_COLUMNS, _INPUT_TYPES, strict=True)))


def _as_arrow(batch: Any) -> Any:
    """One input batch as an Arrow record batch of the input columns, in INPUT_COLUMNS order.

    Arrow batches (what ``mapInArrow`` hands over) are used as they are, with no per-row Python
    objects; column mappings (lists per column) are converted.
    """
    import pyarrow as pa

    schema = _input_schema()
    if isinstance(batch, pa.RecordBatch):
        arrays = []
        for name, wanted in zip(INPUT_COLUMNS, schema.types, strict=True):
            column = batch.column(name)
            if column.type == wanted:
                arrays.append(column)
            elif column.type == pa.string() and wanted == pa.binary():
                arrays.append(column.view(pa.binary()))  # the same UTF-8 bytes, no copy
            else:
                arrays.append(column.cast(wanted))
        # Spark's strings are raw bytes: bad UTF-8 in a key/event/error becomes a dead letter.
        return guard_text(pa.RecordBatch.from_arrays(arrays, schema=schema), _TEXT, ERROR)
    return pa.RecordBatch.from_pydict({c: list(batch[c]) for c in INPUT_COLUMNS}, schema=schema)


def _from_tuples(rows: Sequence[tuple[Any, ...]]) -> Any:
    import pyarrow as pa

    schema = _input_schema()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in INPUT_COLUMNS]
    return pa.RecordBatch.from_arrays(
        [pa.array(list(c), type=t) for c, t in zip(columns, schema.types, strict=True)],
        schema=schema,
    )


def _tuples(batch: Any) -> list[tuple[Any, ...]]:
    """Row tuples (INPUT_COLUMNS order) of an Arrow batch: for the rare per-row paths."""
    return list(zip(*(batch.column(i).to_pylist() for i in range(len(INPUT_COLUMNS))), strict=True))


def _count(mask: Any) -> int:
    import pyarrow.compute as pc

    return int(pc.sum(mask).as_py() or 0)


def _payload_bytes(batch: Any) -> int:
    """Bytes of the batch's messages plus one separator each (as the packer counts them)."""
    import pyarrow.compute as pc

    if not batch.num_rows:
        return 0
    return int(pc.sum(pc.binary_length(batch.column(PAYLOAD))).as_py() or 0) + batch.num_rows


def build_client(settings: SendSettings, on_request: Any = None, partition_id: int = 0) -> Any:
    """A :class:`CustomerIOClient` with this partition's share of the key's rate budget (no
    limiter at all when the budget is off)."""
    from customerio_sink.breaker import CircuitBreaker
    from customerio_sink.budget import task_limiter
    from customerio_sink.client import CustomerIOClient
    from customerio_sink.retry import RetryPolicy

    limiter = task_limiter(settings, partition_id)
    kwargs: dict[str, Any] = {}
    if settings.max_body_bytes:
        kwargs["max_body_bytes"] = settings.max_body_bytes
    return CustomerIOClient(
        settings.api_key,
        region=settings.region,
        endpoint=settings.endpoint,
        timeout=settings.timeout_s,
        strict=True,
        gzip=settings.gzip,
        retry=RetryPolicy(
            max_attempts=settings.max_attempts,
            base_delay=settings.base_delay_s,
            max_delay=settings.max_delay_s,
            retry_after_cap=settings.retry_after_cap_s,
        ),
        rate_limiter=limiter if limiter is not None else False,
        breaker=CircuitBreaker(
            failure_threshold=settings.breaker_threshold,
            recovery_timeout=settings.breaker_recovery_s,
        ),
        on_request=on_request,
        pool_size=2,
        **kwargs,
    )


class _Sender:
    """Packs, sends and journals the messages of one partition attempt."""

    def __init__(self, settings: SendSettings, batch_id: int, partition_id: int) -> None:
        from customerio_sink.packing import DEFAULT_MAX_BODY_BYTES

        self.settings = settings
        self.summary = PartitionSummary(partition_id=partition_id)
        self.max_body = settings.max_body_bytes or DEFAULT_MAX_BODY_BYTES
        self.journal = journal.JournalWriter(
            settings.journal_dir, settings.journal_key, batch_id, partition_id, fsync=settings.fsync
        )
        self.outcomes: dict[str, list[Any]] = {name: [] for name, _ in OUTCOME_FIELDS}
        self.requests: dict[str, list[Any]] = {name: [] for name, _ in REQUEST_LOG_FIELDS}
        self.pending: list[Any] = []  # Arrow batches of sendable rows, in order
        self.pending_bytes = 0
        self.client: Any = None
        if not settings.dry_run:
            self.client = build_client(settings, self._on_request, partition_id)

    # -- journal records -------------------------------------------------------------------
    def _on_request(self, metrics: Any) -> None:
        # Only the request log's columns: the outcome record carries the message ids once.
        record = {name: getattr(metrics, name, None) for name in _REQUEST_FIELDS}
        record["started_at"] = _now_iso()
        self.journal.write({"outcome": "request", **record})
        for name, _ in REQUEST_LOG_FIELDS:
            self.requests[name].append(record.get(name))

    def _record(self, outcome: str, rows: Any, **extra: Any) -> None:
        """Journal one final outcome of ``rows`` (row tuples, or an Arrow batch of input rows)
        and keep it for the attempt's outcome table."""
        if isinstance(rows, list | tuple):
            ids = [r[MID] for r in rows]
            keys = [r[KEY] for r in rows]
            types = [r[TYPE] for r in rows]
            events = [r[EVENT] for r in rows]
            versions = [r[VERSION] for r in rows]
            present = [v for v in versions if v is not None]
            lo, hi = (min(present), max(present)) if present else (None, None)
            payloads = (
                [decode_lenient(bytes(r[PAYLOAD])) for r in rows]
                if outcome != journal.SKIPPED
                else None
            )
        else:
            import pyarrow.compute as pc

            ids = rows.column(MID).to_pylist()
            keys = rows.column(KEY).to_pylist()
            types = rows.column(TYPE).to_pylist()
            events = rows.column(EVENT).to_pylist()
            versions = rows.column(VERSION).to_pylist()
            bounds = pc.min_max(rows.column(VERSION)).as_py()
            lo, hi = bounds["min"], bounds["max"]
            payloads = None
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
        n = len(ids)
        if lo is not None and hi is not None:
            s = self.summary
            s.min_version = lo if s.min_version is None else min(s.min_version, lo)
            s.max_version = hi if s.max_version is None else max(s.max_version, hi)
        out = self.outcomes
        out["outcome"] += [outcome] * n
        out["message_id"] += ids
        out["call_type"] += types
        out["event"] += events
        out["source_key"] += keys
        out["commit_version"] += versions
        out["payload"] += record.get("payloads") or [None] * n
        out["reason"] += record.get("reasons") or [None] * n
        out["related_id"] += record.get("related") or [None] * n
        for name, key in (
            ("http_status", "status"),
            ("attempts", "attempts"),
            ("request_bytes", "request_bytes"),
            ("latency_ms", "latency_ms"),
            ("at", "at"),
            ("error_class", "error_class"),
        ):
            out[name] += [record.get(key)] * n

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

    def drop_duplicates(self, batch: Any) -> Any:
        """``batch`` without rows whose messageId an earlier row of the batch has (skipped as
        duplicates). The check is one hash pass in Arrow; rows are only looked at one by one
        when there is a repeat."""
        import pyarrow as pa
        import pyarrow.compute as pc

        ids = batch.column(MID)
        if batch.num_rows < 2 or pc.count_distinct(ids).as_py() == batch.num_rows:
            return batch
        seen: set[Any] = set()
        keep = []
        for mid in ids.to_pylist():
            keep.append(mid not in seen)
            seen.add(mid)
        mask = pa.array(keep, type=pa.bool_())
        dupes = _tuples(batch.filter(pc.invert(mask)))
        self.skip(dupes, [SKIP_DUPLICATE] * len(dupes), [r[MID] for r in dupes])
        return batch.filter(mask)

    # -- sending ---------------------------------------------------------------------------
    def add(self, batch: Any) -> None:
        """Queue an Arrow batch of sendable rows (in order); send what fills whole bodies."""
        if not batch.num_rows:
            return
        self.pending.append(batch)
        self.pending_bytes += _payload_bytes(batch)
        if self.pending_bytes >= 2 * self.max_body:
            self._flush(keep_last=True)

    def finish(self) -> PartitionSummary:
        self._flush(keep_last=False)
        self.journal.close()
        if self.outcomes["message_id"] or self.requests["endpoint"]:
            import pyarrow as pa

            self.journal.write_tables(
                {
                    "outcomes": pa.table(self.outcomes, schema=_schema(OUTCOME_FIELDS)),
                    "requests": pa.table(self.requests, schema=_schema(REQUEST_LOG_FIELDS)),
                }
            )
        if self.client is not None:
            self.client.close()
        return self.summary

    def _flush(self, *, keep_last: bool) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        from customerio_sink.packing import pack_ranges

        if not self.pending:
            return
        if len(self.pending) == 1:
            batch = self.pending[0]
        else:
            batch = pa.Table.from_batches(self.pending).combine_chunks().to_batches()[0]
        lengths = pc.binary_length(batch.column(PAYLOAD)).to_pylist()
        ranges = pack_ranges(lengths, self.max_body)
        tail = None
        if keep_last and len(ranges) > 1:
            ranges, tail = ranges[:-1], batch.slice(ranges[-1][0])
        cap = self.settings.max_batch_messages
        for start, end in ranges:
            step = cap or (end - start)
            for chunk_start in range(start, end, step):
                self._send(batch.slice(chunk_start, min(end, chunk_start + step) - chunk_start))
        self.pending = [tail] if tail is not None else []
        self.pending_bytes = _payload_bytes(tail) if tail is not None else 0

    def _send(self, rows: Any) -> None:
        """Send one body's rows (an Arrow batch); split it when the API rejects it."""
        from customerio_sink.errors import CircuitOpenError, RejectedError, TransientError
        from customerio_sink.packing import batch_body

        items = rows.column(PAYLOAD).to_pylist()
        if self.settings.dry_run:
            self.summary.would_send += len(items)
            self.summary.requests += 1
            self.summary.request_bytes += len(batch_body(items))
            return
        started = time.monotonic()
        try:
            metrics = self.client.send_encoded(items, rows.column(MID).to_pylist())
        except RejectedError as exc:
            if len(items) > 1:
                # Split to isolate the bad messages; the good halves still go through.
                middle = len(items) // 2
                self._send(rows.slice(0, middle))
                self._send(rows.slice(middle))
                return
            self.dead(
                _tuples(rows),
                ["; ".join(exc.reasons) or str(exc)],
                status=exc.status,
                error_class=type(exc).__name__,
            )
            return
        except (TransientError, CircuitOpenError) as exc:
            if self.settings.on_transient == "park":
                self.park(_tuples(rows), str(exc), type(exc).__name__)
                return
            raise
        self.summary.requests += 1
        self.summary.request_bytes += int(getattr(metrics, "request_bytes", 0) or 0)
        self.summary.acked += len(items)
        self._record(
            journal.ACKED,
            rows,
            status=getattr(metrics, "status", 200),
            attempts=getattr(metrics, "attempts", 1),
            latency_ms=round((time.monotonic() - started) * 1000.0, 3),
            request_bytes=getattr(metrics, "request_bytes", None),
        )


def run_partition(
    batches: Iterable[Any],
    settings: SendSettings,
    batch_id: int,
    partition_id: int,
) -> PartitionSummary:
    """Send one partition of one micro-batch; return its counts.

    ``batches`` are Arrow record batches of the input columns (what ``mapInArrow`` hands over)
    or mappings of column name → values (converted to Arrow).

    Raises:
        TransientError / CircuitOpenError: with ``on_transient="fail"``, after the retries.
        AuthenticationError: always — a wrong key is a configuration error, not a dead letter.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    done = journal.final_message_ids(settings.journal_dir, settings.journal_key, batch_id)
    done_ids = pa.array(sorted(done), type=pa.string()) if done else None
    sender = _Sender(settings, batch_id, partition_id)
    summary = sender.summary
    invalid: list[tuple[Any, ...]] = []
    held: list[tuple[Any, ...]] = []
    try:
        arrow_batches: Iterable[Any]
        if settings.collapse:
            materialised = [r for b in batches for r in _tuples(_as_arrow(b))]
            summary.rows_in = len(materialised)
            # Invalid changes (a missing key among them) are dead letters of their own; they
            # must not supersede, or be superseded by, the valid changes of their key.
            # (Pre-images are never sent; they only tell whether an update changed anything.)
            bad = [
                r for r in materialised if r[ERROR] is not None and r[CHANGE] != "update_preimage"
            ]
            invalid = [r for r in bad if r[MID] not in done]
            summary.already_final += len(bad) - len(invalid)
            bad_ids = {id(r) for r in bad}
            collapsed = collapse_changes(
                (r for r in materialised if id(r) not in bad_ids),
                key=lambda r: r[KEY],
                change=lambda r: r[CHANGE],
                version=lambda r: r[VERSION] or 0,
                mapped_hash=lambda r: r[HASH],
            )
            drops = collapsed.dropped
            sender.skip(
                [r for r, _, _ in drops],
                [why for _, why, _ in drops],
                [None if s is None else s[MID] for _, _, s in drops],
            )
            arrow_batches = [_from_tuples(list(collapsed.rows))]
        else:
            arrow_batches = (_as_arrow(b) for b in batches)
        # Column-wise per batch: no Python object per row on the common path (valid rows).
        for batch in arrow_batches:
            if not settings.collapse:
                summary.rows_in += batch.num_rows
                # Before the journal check: on a replay a repeat is still a duplicate, not a
                # second "already final" row for one message.
                batch = sender.drop_duplicates(batch)
            if done_ids is not None:
                finished = pc.is_in(batch.column(MID), value_set=done_ids)
                n_done = _count(finished)
                if n_done:
                    summary.already_final += n_done
                    batch = batch.filter(pc.invert(finished))
            failed = batch.column(ERROR).is_valid()
            if _count(failed):
                invalid += _tuples(batch.filter(failed))
                batch = batch.filter(pc.invert(failed))
            summary.in_window += _count(batch.column(IN_WINDOW))
            hold = pc.fill_null(batch.column(HOLD), False)
            if _count(hold):
                held += _tuples(batch.filter(hold))
                batch = batch.filter(pc.invert(hold))
            sender.add(batch)
        if invalid and not settings.dry_run:
            sender.dead(invalid, [r[ERROR] for r in invalid], error_class="ValidationError")
        elif invalid:
            summary.dead += len(invalid)
        if held and not settings.dry_run:
            sender.park(held, HELD_REASON, "HeldBack")
        elif held:
            summary.parked += len(held)
        return sender.finish()
    except BaseException:
        sender.journal.close()
        raise
