"""Collapse the changes of one key within a micro-batch to its net change.

Customer.io does not promise to apply calls in the order they are sent, so the sink never sends
two calls for one key in one micro-batch: a person updated then deleted ends deleted (one
``User Deleted``), deleted then re-inserted ends present (one ``identify``). An update whose
mapped columns did not change (the first pre-image equals the last post-image) sends nothing.

Pure Python over plain rows, so both front doors (foreachBatch and the Data Source) share it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["CHANGE_RANK", "Collapsed", "collapse_changes"]

#: Order of change types inside one commit version: a pre-image precedes its post-image, and a
#: delete precedes an insert of the same key (how Delta reports an overwrite).
CHANGE_RANK = {"update_preimage": 0, "delete": 1, "insert": 2, "update_postimage": 3, "append": 4}

SKIP_PREIMAGE = "update_preimage"
SKIP_SUPERSEDED = "superseded"
SKIP_UNCHANGED = "unchanged"
#: Not collapse reasons, but skips the engine records beside them (see the ``skipped`` table).
SKIP_DUPLICATE = "duplicate"
SKIP_ALREADY_DELIVERED = "already_delivered"

R = TypeVar("R")


@dataclass(frozen=True)
class Collapsed(Generic[R]):
    """The rows to send (one per key at most), the count of rows skipped by reason, and the
    skipped rows themselves: ``(row, reason, survivor)`` with the row sent for its key instead
    (None when the key sends nothing)."""

    rows: list[R]
    skipped: dict[str, int]
    dropped: list[tuple[R, str, R | None]] = field(default_factory=list)


def collapse_changes(
    rows: Iterable[R],
    *,
    key: Callable[[R], str],
    change: Callable[[R], str],
    version: Callable[[R], Any],
    mapped_hash: Callable[[R], str | None],
) -> Collapsed[R]:
    """Reduce each key's changes to its net change, keeping first-seen key order.

    Every input row is accounted for: it is either returned or counted in ``skipped`` under
    ``update_preimage``, ``superseded`` or ``unchanged``.
    """
    groups: dict[str, list[R]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)

    out: list[R] = []
    dropped: list[tuple[R, str, R | None]] = []
    for group in groups.values():
        ordered: Sequence[R] = sorted(group, key=lambda r: (version(r), CHANGE_RANK[change(r)]))
        changes = [r for r in ordered if change(r) != "update_preimage"]
        last = changes[-1] if changes else None
        pure_update = change(ordered[0]) == "update_preimage" and all(
            change(r) == "update_postimage" for r in changes
        )
        unchanged = (
            last is not None and pure_update and mapped_hash(ordered[0]) == mapped_hash(last)
        )
        survivor = None if unchanged else last
        # Only pre-images (cannot happen in a well-formed feed): all counted, nothing sent.
        dropped += [(r, SKIP_PREIMAGE, survivor) for r in ordered if change(r) == "update_preimage"]
        dropped += [(r, SKIP_SUPERSEDED, survivor) for r in changes[:-1]]
        if last is None:
            continue
        if unchanged:
            dropped.append((last, SKIP_UNCHANGED, None))
            continue
        out.append(last)
    skipped: dict[str, int] = {}
    for _, reason, _ in dropped:
        skipped[reason] = skipped.get(reason, 0) + 1
    return Collapsed(out, skipped, dropped)
