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

The parts: :mod:`~customerio_sink.engine.arrow` (the input columns as Arrow),
:mod:`~customerio_sink.engine.settings` (what a task is given and reports back),
:mod:`~customerio_sink.engine.sender` (packing and sending) and
:mod:`~customerio_sink.engine.journaling` (the journal of outcomes); this module runs them.

Pure Python: no pyspark import, so it is tested without Spark.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

from customerio_sink.engine import journal
from customerio_sink.engine.arrow import (
    CHANGE,
    ERROR,
    HASH,
    HOLD,
    IN_WINDOW,
    INPUT_COLUMNS,
    KEY,
    MID,
    VERSION,
    _as_arrow,
    _count,
    _from_tuples,
    _tuples,
)
from customerio_sink.engine.arrow import EVENT as EVENT
from customerio_sink.engine.arrow import PAYLOAD as PAYLOAD
from customerio_sink.engine.arrow import TYPE as TYPE
from customerio_sink.engine.collapse import collapse_changes
from customerio_sink.engine.journaling import OUTCOME_FIELDS as OUTCOME_FIELDS
from customerio_sink.engine.journaling import REQUEST_LOG_FIELDS as REQUEST_LOG_FIELDS
from customerio_sink.engine.sender import PartitionSender
from customerio_sink.engine.sender import build_client as build_client
from customerio_sink.engine.settings import PartitionSummary, SendSettings

# The ``X as X`` imports above are re-exports: callers and tests import them from here.
__all__ = ["INPUT_COLUMNS", "PartitionSummary", "SendSettings", "run_partition"]

HELD_REASON = "held back: timestamp inside Customer.io's 72-hour campaign-trigger window"


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

    started = time.perf_counter()
    done = journal.final_message_ids(settings.journal_dir, settings.journal_key, batch_id)
    done_ids = pa.array(sorted(done), type=pa.string()) if done else None
    sender = PartitionSender(settings, batch_id, partition_id)
    summary = sender.summary
    batches = _timed(batches, summary)
    invalid: list[tuple[Any, ...]] = []
    held: list[tuple[Any, ...]] = []
    try:
        arrow_batches: Iterable[Any]
        if settings.collapse:
            invalid, collapsed = _collapse(batches, done, sender)
            arrow_batches = [collapsed]
        else:
            arrow_batches = (
                _as_arrow(b, settings.raw_json_columns, settings.semantic_guard) for b in batches
            )
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
        _set_aside(sender, invalid, held)
        finished = sender.finish()
        finished.task_s = time.perf_counter() - started
        return finished
    except BaseException:
        sender.journal.close()
        sender.journal.discard_parts()
        raise


def _timed(batches: Iterable[Any], summary: PartitionSummary) -> Iterator[Any]:
    """``batches``, adding the time spent waiting for each to ``summary.input_s`` (the rows are
    read and mapped in the JVM while the task asks for them)."""
    it = iter(batches)
    while True:
        asked = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            summary.input_s += time.perf_counter() - asked
            return
        summary.input_s += time.perf_counter() - asked
        yield batch


def _collapse(
    batches: Iterable[Any], done: Collection[Any], sender: PartitionSender
) -> tuple[list[tuple[Any, ...]], Any]:
    """A change feed's partition, collapsed to one net change per key: (its invalid rows not
    already final, an Arrow batch of the rows to send). Superseded changes are skipped."""
    summary, settings = sender.summary, sender.settings
    arrows = [_as_arrow(b, settings.raw_json_columns, settings.semantic_guard) for b in batches]
    summary.rows_in = sum(b.num_rows for b in arrows)
    order: Callable[[tuple[Any, ...]], Any] = lambda r: r[VERSION] or 0  # noqa: E731
    if settings.latest_by_time:
        # A queue of snapshots: a repeated row is a duplicate, not an older snapshot; a key's
        # rows are ordered by the time in their message (messageId breaks a tie, so a replay
        # picks the same row).
        arrows = [sender.drop_duplicates(b) for b in arrows]
        order = _message_time
    materialised = [r for b in arrows for r in _tuples(b)]
    # Invalid changes (a missing key among them) are dead letters of their own; they
    # must not supersede, or be superseded by, the valid changes of their key.
    # (Pre-images are never sent; they only tell whether an update changed anything.)
    bad = [r for r in materialised if r[ERROR] is not None and r[CHANGE] != "update_preimage"]
    invalid = [r for r in bad if r[MID] not in done]
    summary.already_final += len(bad) - len(invalid)
    bad_ids = {id(r) for r in bad}
    collapsed = collapse_changes(
        (r for r in materialised if id(r) not in bad_ids),
        key=lambda r: r[KEY],
        change=lambda r: r[CHANGE],
        version=order,
        mapped_hash=lambda r: r[HASH],
    )
    drops = collapsed.dropped
    sender.skip(
        [r for r, _, _ in drops],
        [why for _, why, _ in drops],
        [None if s is None else s[MID] for _, _, s in drops],
    )
    return invalid, _from_tuples(list(collapsed.rows))


_TIME = re.compile(rb'"timestamp":"([^"]*)"')


def _message_time(row: tuple[Any, ...]) -> tuple[bytes, str]:
    """A queue row's order among its key's rows: the ISO-8601 UTC text of its message's
    ``timestamp`` (fixed width, so it sorts as the time does), then its messageId. The mapping
    writes ``timestamp`` before any field a source fills, so the first match is its own."""
    found = _TIME.search(bytes(row[PAYLOAD][:200]))
    return (found.group(1) if found else b""), row[MID]


def _set_aside(
    sender: PartitionSender, invalid: list[tuple[Any, ...]], held: list[tuple[Any, ...]]
) -> None:
    """Dead-letter the invalid rows and park the held-back ones (a dry run only counts them)."""
    summary, dry_run = sender.summary, sender.settings.dry_run
    if invalid and not dry_run:
        sender.dead(invalid, [r[ERROR] for r in invalid], error_class="ValidationError")
    elif invalid:
        summary.dead += len(invalid)
    if held and not dry_run:
        sender.park(held, HELD_REASON, "HeldBack")
    elif held:
        summary.parked += len(held)
