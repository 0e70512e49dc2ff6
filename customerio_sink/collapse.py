"""Collapse the changes of one key within a micro-batch to its net change.

Customer.io does not promise to apply calls in the order they are sent, so the sink never sends
two calls for one key in one micro-batch: a person updated then deleted ends deleted (one
``User Deleted``), deleted then re-inserted ends present (one ``identify``). An update whose
mapped columns did not change (the first pre-image equals the last post-image) sends nothing.

Pure Python over plain rows, so both front doors (foreachBatch and the Data Source) share it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["CHANGE_RANK", "Collapsed", "collapse_changes"]

#: Order of change types inside one commit version: a pre-image precedes its post-image, and a
#: delete precedes an insert of the same key (how Delta reports an overwrite).
CHANGE_RANK = {"update_preimage": 0, "delete": 1, "insert": 2, "update_postimage": 3, "append": 4}

SKIP_PREIMAGE = "update_preimage"
SKIP_SUPERSEDED = "superseded"
SKIP_UNCHANGED = "unchanged"

R = TypeVar("R")


@dataclass(frozen=True)
class Collapsed(Generic[R]):
    """The rows to send (one per key at most) and the count of rows skipped, by reason."""

    rows: list[R]
    skipped: dict[str, int]


def collapse_changes(
    rows: Iterable[R],
    *,
    key: Callable[[R], str],
    change: Callable[[R], str],
    version: Callable[[R], int],
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
    skipped = {SKIP_PREIMAGE: 0, SKIP_SUPERSEDED: 0, SKIP_UNCHANGED: 0}
    for group in groups.values():
        ordered: Sequence[R] = sorted(group, key=lambda r: (version(r), CHANGE_RANK[change(r)]))
        changes = [r for r in ordered if change(r) != "update_preimage"]
        skipped[SKIP_PREIMAGE] += len(ordered) - len(changes)
        if not changes:
            continue  # only pre-images (cannot happen in a well-formed feed): all counted
        skipped[SKIP_SUPERSEDED] += len(changes) - 1
        last = changes[-1]
        pure_update = change(ordered[0]) == "update_preimage" and all(
            change(r) == "update_postimage" for r in changes
        )
        if pure_update and mapped_hash(ordered[0]) == mapped_hash(last):
            skipped[SKIP_UNCHANGED] += 1
            continue
        out.append(last)
    return Collapsed(out, {k: v for k, v in skipped.items() if v})
