"""Customer.io's own semantic events checked in Spark, before sending.

A ``track`` queue whose constant event is one of
:data:`customerio_sink.messages.rules.SEMANTIC_EVENTS` (``Device Created or Updated``,
``Relationship Deleted``…) must carry that event's fields: a device token
in the context, an object id in the properties, a ``userId``. Customer.io answers 200 to such a
call without them and does nothing, or (strict) rejects the whole request. Here each row gets the
same verdict as :func:`customerio_sink.messages.validators.check_message` — required fields, their
JSON
types and the documented values — as the reason ``<field>: <what> [<rule>]`` in
:data:`SEMANTIC_COLUMN`, and a row that breaks one becomes a dead letter without a request.

(A queue whose event comes from a column has those rows checked by the engine instead, with the
same rules: :mod:`customerio_sink.engine.semantic_guard`.)

The fields are read where the mapping puts them: ``userId``/``anonymousId`` from the id columns,
``properties.*`` from the raw JSON properties column or the mapped property columns, and
``context.*`` from the raw JSON context column. JSON types are told apart by parsing the value
with probe schemas (a JSON string parses as neither a number, a boolean, an object nor an array).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from customerio_sink.messages.rules import SEMANTIC_EVENTS, SEMANTIC_FIELDS, reason

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from customerio_sink.spark.mapping import MessageMapping

__all__ = ["SEMANTIC_COLUMN", "semantic_checks", "with_semantic_errors"]

#: The column :func:`with_semantic_errors` adds: the first broken rule's reason, or NULL.
SEMANTIC_COLUMN = "__cio_semantic"

# Spark parses unquoted NaN/Infinity as doubles; JSON has no such numbers, so those texts came
# from strings.
_NOT_NUMBERS = ("NaN", "Infinity", "+Infinity", "-Infinity", "INF", "+INF", "-INF")


@dataclass(frozen=True)
class _Value:
    """One wire field of a row: its text (NULL when absent or JSON null) and its JSON type."""

    text: Column
    json_type: Column  # "string" | "integer" | "number" | "boolean" | "object" | "array"


def _nested(path: list[str], leaf: str) -> str:
    """A from_json schema (DDL) holding ``leaf`` at ``path``: ``device STRUCT<token: BIGINT>``."""
    ddl = f"`{path[-1]}` {leaf}"
    for part in reversed(path[:-1]):
        ddl = f"`{part}` STRUCT<{ddl}>"
    return ddl


def _probe(F: Any, column: Column, path: list[str], leaf: str) -> Column:
    node = F.from_json(column, _nested(path, leaf))
    for part in path:
        node = node.getField(part)
    return node


def _json_value(F: Any, column: Column, path: list[str]) -> _Value:
    """The field at ``path`` of a JSON object text, with its JSON type told apart by probes."""
    text = F.get_json_object(column, "$." + ".".join(path))
    number = _probe(F, column, path, "DOUBLE").isNotNull() & ~text.isin(*_NOT_NUMBERS)
    json_type = (
        F.when(text.isNull(), F.lit(None))
        .when(_probe(F, column, path, "BIGINT").isNotNull(), F.lit("integer"))
        .when(number, F.lit("number"))
        .when(_probe(F, column, path, "BOOLEAN").isNotNull(), F.lit("boolean"))
        .when(_probe(F, column, path, "MAP<STRING, STRING>").isNotNull(), F.lit("object"))
        .when(_probe(F, column, path, "ARRAY<STRING>").isNotNull(), F.lit("array"))
        .otherwise(F.lit("string"))
    )
    return _Value(text, json_type)


def _column_value(F: Any, df: DataFrame, name: str) -> _Value:
    """A mapped source column, typed by its Spark type as the wire will carry it."""
    from pyspark.sql.types import BooleanType, IntegralType, MapType, NumericType, StructType

    kind = df.schema[name].dataType
    json_type = (
        "boolean"
        if isinstance(kind, BooleanType)
        else "integer"
        if isinstance(kind, IntegralType)
        else "number"
        if isinstance(kind, NumericType)
        else "object"
        if isinstance(kind, (MapType, StructType))
        else "string"
    )
    column = F.col(f"`{name}`")
    text = column.cast("string") if json_type != "object" else F.to_json(column)
    return _Value(text, F.when(column.isNotNull(), F.lit(json_type)))


def _value(F: Any, df: DataFrame, m: MessageMapping, ids: dict[str, Column], path: str) -> _Value:
    """Where the mapping puts wire field ``path`` (NULL when it puts nothing there)."""
    head, *rest = path.split(".")
    none = _Value(F.lit(None).cast("string"), F.lit(None).cast("string"))
    if not rest:
        text = ids.get(head)
        return none if text is None else _Value(text, F.when(text.isNotNull(), F.lit("string")))
    if head == "context":
        return _json_value(F, F.col(f"`{m.context_json}`"), rest) if m.context_json else none
    if head != "properties":
        return none
    if m.properties_json:
        return _json_value(F, F.col(f"`{m.properties_json}`"), rest)
    spec = m.properties
    sent = dict(spec.items()) if isinstance(spec, dict) else {c: c for c in spec or ()}
    if len(rest) == 1 and rest[0] in sent:
        return _column_value(F, df, sent[rest[0]])
    return none


def _event_errors(
    F: Any, df: DataFrame, m: MessageMapping, ids: dict[str, Column], event: str
) -> list[tuple[Column, Column]]:
    """The checks of one semantic event, in :func:`validators.check_message`'s order."""
    checks = []
    for alternatives in SEMANTIC_EVENTS[event]:
        values = [_value(F, df, m, ids, path) for path in alternatives]
        absent = values[0].text.isNull()
        for value in values[1:]:
            absent = absent & value.text.isNull()
        field = " or ".join(alternatives)
        checks.append((absent, F.lit(reason(field, f"{event!r} needs it", "required"))))
    for path, (json_type, allowed) in SEMANTIC_FIELDS.get(event, {}).items():
        value = _value(F, df, m, ids, path)
        wrong_type = value.json_type != F.lit(json_type)
        checks.append(
            (wrong_type, F.lit(reason(path, f"{event!r} wants a {json_type}", f"type_{json_type}")))
        )
        if allowed is not None:
            checks.append(
                (
                    ~value.text.isin(*allowed),
                    F.lit(reason(path, "one of " + ", ".join(allowed), "enum")),
                )
            )
    return checks


def with_semantic_errors(df: DataFrame, m: MessageMapping, event: Column) -> DataFrame:
    """``df`` with :data:`SEMANTIC_COLUMN`, for a ``track`` queue whose constant event is a
    semantic event (``df`` unchanged otherwise)."""
    from pyspark.sql import functions as F

    if m.source != "queue" or m.call != "track" or m.event not in SEMANTIC_EVENTS:
        # An event named by a column is checked by the engine on the rows that carry a semantic
        # event (customerio_sink.engine.semantic_guard): checking every semantic event here
        # would make each batch's plan many times bigger for rows that seldom come.
        return df
    names = [m.event]
    ids: dict[str, Column] = {}
    if m.user_id:
        ids["userId"] = F.col(f"`{m.user_id}`").cast("string")
    if m.anonymous_id:
        ids["anonymousId"] = F.col(f"`{m.anonymous_id}`").cast("string")
    error: Any = None
    for name in names:
        for broken, why in _event_errors(F, df, m, ids, name):
            # A NULL condition (a field that is not there, for a type or value rule) holds not.
            cond = (event == F.lit(name)) & F.coalesce(broken, F.lit(False))
            error = F.when(cond, why) if error is None else error.when(cond, why)
    # Rows of other events skip every probe: one test of the name decides.
    guarded = F.when(event.isin(*names), error)
    return df.withColumn(SEMANTIC_COLUMN, guarded)


def semantic_checks(
    df: DataFrame, m: MessageMapping, event: Column
) -> tuple[DataFrame, list[tuple[Column, Column]]]:
    """``df`` with the columns of the row's semantic checks, and those checks (condition,
    reason): the catalogue's rules when the mapping declares a family
    (:mod:`customerio_sink.spark.quality`), then Customer.io's own semantic events' fields."""
    from pyspark.sql import functions as F

    from customerio_sink.spark.quality import QUALITY_COLUMN, with_quality_errors

    checks = []
    if m.family:
        df = with_quality_errors(df, m)
        checks.append((F.col(QUALITY_COLUMN).isNotNull(), F.col(QUALITY_COLUMN)))
    if m.source != "cdf":
        df = with_semantic_errors(df, m, event)
        if SEMANTIC_COLUMN in df.columns:
            checks.append((F.col(SEMANTIC_COLUMN).isNotNull(), F.col(SEMANTIC_COLUMN)))
    return df, checks
