"""Customer.io's own semantic events (``Device Created or Updated``, ``Relationship Deleted``…)
checked in the engine, on the rows that carry one, before anything is sent.

A ``track`` queue whose event name comes from a column may hold any of them. Checking them all
in the JVM made the mapping's plan many times bigger (a JSON probe per field and type for every
event), and every micro-batch paid for planning it, whether or not a single such row came. Here
the common batch pays one vectorised name test; each row that names a semantic event has its
payload parsed and gets :func:`~customerio_sink.messages.validators.semantic_violations`'s first
verdict as its error (``<field>: <what> [<rule>]``), so it becomes a dead letter without a
request. A mapping whose event is one constant semantic event is checked in the JVM instead
(:mod:`customerio_sink.spark.mapping_semantic`), with the same rules.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from customerio_sink.messages.rules import SEMANTIC_EVENTS, reason
from customerio_sink.messages.validators import semantic_violations

__all__ = ["guard_semantic"]


@lru_cache(maxsize=1)
def _names() -> Any:
    import pyarrow as pa

    return pa.array(sorted(SEMANTIC_EVENTS), type=pa.string())


def guard_semantic(
    batch: Any, type_column: int, event_column: int, payload: int, error: int
) -> Any:
    """``batch`` with an error on each ``track`` row whose semantic event's fields are wrong.

    Rows that already have an error keep it. A batch without semantic events is returned as it
    is, after one ``is_in`` over its event names.
    """
    import orjson
    import pyarrow as pa
    import pyarrow.compute as pc

    candidates = pc.and_(
        pc.is_in(batch.column(event_column), value_set=_names()),
        pc.and_(pc.equal(batch.column(type_column), "track"), batch.column(error).is_null()),
    )
    if not pc.any(candidates).as_py():
        return batch
    rows = pc.indices_nonzero(pc.fill_null(candidates, False)).to_pylist()
    payloads, events = batch.column(payload), batch.column(event_column)
    errors = batch.column(error).to_pylist()
    for i in rows:
        try:
            message = orjson.loads(payloads[i].as_py())
        except orjson.JSONDecodeError:
            continue  # the raw JSON guard has named the column already
        found = semantic_violations(message, events[i].as_py())
        if found:
            first = found[0]
            errors[i] = reason(first.field, first.detail, first.rule)
    arrays = batch.columns
    arrays[error] = pa.array(errors, type=pa.string())
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)
