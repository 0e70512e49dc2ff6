"""Moving an existing pipeline onto the sink without sending anything twice.

* :func:`import_messages` — Segment/Customer.io-format exports (JSON lines, as the official
  client sends them) into a Delta queue table, original ``messageId`` and ``timestamp`` kept;
* :func:`backfill` — a history table through the sink: original timestamps, available-now, a
  share of the rate budget, resumable, the 72-hour window reported, and what the old pipeline
  already delivered (the imported table) left out and recorded as ``already_delivered``;
* :func:`rekey` — a change of user id scheme: ``alias`` then ``identify`` per person, and the
  ledger's ``key_map`` so :func:`customerio_sink.trace` follows people across it;
* :func:`cutover_check` — the sink in a dry run over the old pipeline's source, compared call by
  call with what the old pipeline sent.

Names are imported on first use (no pyspark import until a function is called).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from customerio_sink.migrate.backfill import BackfillReport, backfill
    from customerio_sink.migrate.cutover import CutoverReport, cutover_check
    from customerio_sink.migrate.exports import ImportResult, import_messages
    from customerio_sink.migrate.rekey import RekeyResult, rekey

__all__ = [
    "BackfillReport",
    "CutoverReport",
    "ImportResult",
    "RekeyResult",
    "backfill",
    "cutover_check",
    "import_messages",
    "rekey",
]

_WHERE = {
    "backfill": "backfill",
    "BackfillReport": "backfill",
    "cutover_check": "cutover",
    "CutoverReport": "cutover",
    "import_messages": "exports",
    "ImportResult": "exports",
    "rekey": "rekey",
    "RekeyResult": "rekey",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'customerio_sink.migrate' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"customerio_sink.migrate.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
