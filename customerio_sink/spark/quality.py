"""The semantic catalogue's rules in Spark, before sending: a family's events checked per row.

An events mapping that declares a family (``cio.Events(..., family="ecommerce")``) gets every row
checked against the rules of its event — the same named constraints ``catalog.constraints`` gives
to ``@dlt.expect_all`` — in the JVM, before a message is built. A row that breaks one becomes a
dead letter, without a request, with the reason ``properties.<field>: <rule in words> [<code>]``
(so ``error_field`` and ``error_rule`` are filled like every other reason).

The rules read the event's properties as columns: the mapping's property columns (renamed as
they are sent), or the fields of its raw JSON properties column parsed with the family's schema.
Rows of events outside the family are not checked here (their names may be anything).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from customerio_sink.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from customerio_sink.spark.mapping import MessageMapping

__all__ = ["QUALITY_COLUMN", "family_events", "with_quality_errors"]

#: The column :func:`with_quality_errors` adds: the first broken rule's reason, or NULL.
QUALITY_COLUMN = "__cio_quality"
_ROW = "__cio_q"


def family_events(family: str) -> dict[str, Any]:
    """Event name → model of one family of the catalogue, or of every family for ``"all"``
    (``ConfigError`` for an unknown name)."""
    from customerio_sink.catalog import CATALOG, FAMILIES

    if family == "all":
        return dict(CATALOG)
    if family not in FAMILIES:
        raise ConfigError(f"family: 'all' or one of {', '.join(sorted(FAMILIES))}, got {family!r}")
    return {model.EVENT: model for model in FAMILIES[family]}


def _schema(spark: Any, models: list[Any]) -> Any:
    """One struct type with every property field of ``models`` (first declaration wins)."""
    from pyspark.sql.types import StructType

    from customerio_sink.catalog.base import spark_ddl

    merged: dict[str, Any] = {}
    for model in models:
        for f in spark.createDataFrame([], spark_ddl(model)).schema.fields:
            merged.setdefault(f.name, f)
    return StructType(list(merged.values()))


def _properties(m: MessageMapping, schema: Any) -> list[Column]:
    """Every property field of ``schema`` as a column: from the raw JSON column, or the mapped
    column sent under that name (NULL when the mapping sends none, so "required" fails)."""
    from pyspark.sql import functions as F

    fields = [f for f in schema.fields if f.name not in ("user_id", "anonymous_id")]
    if m.properties_json:
        parsed = F.from_json(F.col(f"`{m.properties_json}`"), schema)
        return [parsed.getField(f.name).alias(f.name) for f in fields]
    spec = m.properties
    sent = dict(spec.items()) if isinstance(spec, dict) else {c: c for c in spec or ()}
    return [
        (F.col(f"`{sent[f.name]}`") if f.name in sent else F.lit(None).cast(f.dataType)).alias(
            f.name
        )
        for f in fields
    ]


def _reason(field: str, words: str, code: str) -> str:
    where = "userId" if field == "user_id|anonymous_id" else f"properties.{field}"
    return f"{where}: {words} [{code}]"


def with_quality_errors(df: DataFrame, m: MessageMapping) -> DataFrame:
    """``df`` with :data:`QUALITY_COLUMN`: the reason of the first catalogue rule a row breaks
    (NULL when it keeps them all, or when its mapping declares no family)."""
    from pyspark.sql import functions as F

    from customerio_sink.catalog import rules_for

    family = getattr(m, "family", None)
    if not family:
        return df
    events = family_events(family)
    if m.event and m.event not in events:
        raise ConfigError(
            f"family={family!r}: event {m.event!r} is not one of its events ({', '.join(events)})"
        )
    names = [m.event] if m.event else list(events)
    schema = _schema(df.sparkSession, [events[n] for n in names])
    ident = [
        F.col(f"`{m.user_id}`").cast("string") if m.user_id else F.lit(None).cast("string"),
        F.col(f"`{m.anonymous_id}`").cast("string")
        if m.anonymous_id
        else F.lit(None).cast("string"),
    ]
    row = F.struct(
        ident[0].alias("user_id"), ident[1].alias("anonymous_id"), *_properties(m, schema)
    )
    event = F.lit(m.event) if m.event else F.col(f"`{m.event_column}`").cast("string")
    error: Any = None
    for name in names:
        for rule in rules_for(name):
            broken = (event == F.lit(name)) & ~F.expr(rule.sql(prefix=f"`{_ROW}`."))
            reason = F.lit(_reason(rule.field, rule.reason, rule.code))
            error = F.when(broken, reason) if error is None else error.when(broken, reason)
    if error is None:
        return df
    return df.withColumn(_ROW, row).withColumn(QUALITY_COLUMN, error).drop(_ROW)
