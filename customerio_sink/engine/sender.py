"""The sender of one partition attempt: packs sendable rows into ``/v1/batch`` bodies near the
size limit, sends each through the task's share of the rate budget, splits a rejected body to
isolate its bad messages, and journals every outcome (see :mod:`customerio_sink.engine.journaling`).

Pure Python at import: the client, pyarrow and the packer are imported when first used.
"""

from __future__ import annotations

import time
from typing import Any

from customerio_sink.engine import journal
from customerio_sink.engine.arrow import MID, PAYLOAD, _payload_bytes, _tuples
from customerio_sink.engine.collapse import SKIP_DUPLICATE
from customerio_sink.engine.journaling import PartitionJournal
from customerio_sink.engine.settings import PartitionSummary, SendSettings


def build_client(settings: SendSettings, on_request: Any = None, partition_id: int = 0) -> Any:
    """A :class:`CustomerIOClient` with this partition's share of the key's rate budget (no
    limiter at all when the budget is off)."""
    from customerio_sink.client.breaker import CircuitBreaker
    from customerio_sink.client.budget import task_limiter
    from customerio_sink.client.pipelines import CustomerIOClient
    from customerio_sink.client.retry import RetryPolicy

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
        allow_cross_region=settings.allow_cross_region or None,  # None: the environment decides
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


class PartitionSender(PartitionJournal):
    """Packs, sends and journals the messages of one partition attempt."""

    def __init__(self, settings: SendSettings, batch_id: int, partition_id: int) -> None:
        from customerio_sink.messages.packing import DEFAULT_MAX_BODY_BYTES

        super().__init__(settings, batch_id, partition_id)
        self.max_body = settings.max_body_bytes or DEFAULT_MAX_BODY_BYTES
        self.pending: list[Any] = []  # Arrow batches of sendable rows, in order
        self.pending_bytes = 0
        self.client: Any = None
        if not settings.dry_run:
            self.client = build_client(settings, self._on_request, partition_id)

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
        self.write_tables()
        if self.client is not None:
            self.client.close()
        return self.summary

    def _flush(self, *, keep_last: bool) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        from customerio_sink.messages.packing import pack_ranges

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
        from customerio_sink.messages.packing import batch_body

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
