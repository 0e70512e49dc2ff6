"""The shared pieces of the JVM mapping: the :class:`Builder` of one mapping over one DataFrame
(ids, time, JSON, attributes and their checks), expression helpers, and the two records that
pass between :func:`customerio_sink.spark.mapping.to_messages` and the builders of each kind of
mapping (:mod:`~customerio_sink.spark.mapping_queue`, :mod:`~customerio_sink.spark.mapping_cdf`):
the staged :class:`Row` and the built :class:`Message`.

A check is a ``(condition, reason)`` pair of columns; a row's error is the reason of the first
check whose condition holds (:func:`first_error`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from customerio_sink.messages.rules import (
    EMAIL_SQL,
    MAX_ATTRIBUTE_NAME_BYTES,
    MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_ATTRIBUTES,
    MAX_EMAIL_BYTES,
    MAX_EMAIL_LOCAL_BYTES,
    MAX_ID_BYTES,
    reason,
)
from customerio_sink.spark.mapping_json import (
    Check,
    exact_object_errors,
    placeholder,
    raw_spans,
    splice_tail,
    utf8_errors,
)
from customerio_sink.spark.mapping_time import future_error, parse_time

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from customerio_sink.spark.mapping import MessageMapping

__all__ = [
    "EMAIL",
    "Builder",
    "Check",
    "Message",
    "Row",
    "column_pairs",
    "first_error",
    "is_email_sql",
    "obj",
    "with_nulls",
]

EMAIL = "email_format"


def _F() -> Any:
    from pyspark.sql import functions

    return functions


def obj(entries: list[tuple[str, Column]]) -> Column:
    """A struct whose ``to_json`` is a JSON object; null fields are left out of the JSON."""
    F = _F()
    return F.struct(*[col.alias(name) for name, col in entries])


def with_nulls(struct: Column) -> Column:
    """JSON text of a struct that keeps null fields: a NULL column is sent as ``null``, which
    removes the attribute in Customer.io (``to_json`` would leave the field out, keeping the
    old value)."""
    return _F().to_json(struct, {"ignoreNullFields": "false"})


def column_pairs(spec: tuple[str, ...] | dict[str, str]) -> list[tuple[str, str]]:
    """(output name, source column) of a ``traits`` / ``properties`` declaration."""
    if isinstance(spec, dict):
        return list(spec.items())
    return [(c, c) for c in spec]


def is_email_sql(text: Column) -> Column:
    """:func:`customerio_sink.messages.rules.is_email` as a Spark expression (true for a valid
    address)."""
    F = _F()
    local = F.substring_index(text, "@", 1)
    return (
        text.rlike(EMAIL_SQL)
        & (F.octet_length(text) <= MAX_EMAIL_BYTES)
        & (F.octet_length(local) <= MAX_EMAIL_LOCAL_BYTES)
    )


def first_error(checks: list[Check]) -> Column:
    """The reason of the first check whose condition holds (NULL when none does)."""
    F = _F()
    out: Any = None
    for cond, message in checks:
        out = F.when(cond, message) if out is None else out.when(cond, message)
    return out if out is not None else F.lit(None).cast("string")


@dataclass
class Row:
    """A source row staged for its message: ``df`` with the id parts, time and messageId as
    columns, and the expressions every kind of message is built from."""

    df: DataFrame
    uid: Column
    anon: Column
    gid: Column
    key: Column
    ts: Column
    ts_error: Column
    mid: Column
    # The output columns of the id: ``message_id``, or its time and hash (``engine_ids``).
    id_columns: list[Column]
    change: Column
    version: Column
    is_delete: Column
    stamp_now: bool
    # The fields every message starts with: messageId and timestamp.
    common: list[tuple[str, Column]]
    # Checks before any of the kind's own: bad bytes in ids (and the row id), then in the
    # other columns read.
    id_checks: list[Check]
    checks: list[Check]


@dataclass
class Message:
    """What the builder of one kind of mapping makes of a staged :class:`Row`."""

    type: Column
    payload: Column
    event: Column
    # Change feeds only: the text whose hash tells an update that changes nothing mapped.
    hash_source: Column
    # The kind's checks, after the row's own: on ids (all a delete needs), then the others.
    id_checks: list[Check]
    checks: list[Check]


class Builder:
    """Builds the message columns for one mapping over one DataFrame (whose columns the caller
    has checked: :func:`customerio_sink.spark.mapping.check_source_columns`)."""

    def __init__(
        self,
        df: DataFrame,
        m: MessageMapping,
        job: str,
        backfill: bool,
        engine_json: bool,
        engine_ids: bool = False,
    ) -> None:
        self.F = _F()
        # Raw JSON columns checked by the engine as sent (see to_messages), not here.
        self.engine_json = engine_json
        # The messageId's base-32 left to the engine (see to_messages).
        self.engine_ids = engine_ids
        # The message's spliced raw values: (name, column) in message order, and whether each
        # is a source column (user text to check) — set by with_json for the upsert message.
        self.spliced: list[tuple[str, Column, bool]] = []
        self.df = df
        self.m = m
        self.job = job
        self.backfill = backfill
        self.types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
        self.is_cdf = m.source == "cdf"

    def col(self, name: str | None) -> Column:
        F = self.F
        return F.col(f"`{name}`") if name else F.lit(None)

    def id_col(self, name: str | None) -> Column:
        F = self.F
        if not name:
            return F.lit(None).cast("string")
        value = F.trim(self.col(name).cast("string"))
        return F.when(value == "", F.lit(None)).otherwise(value)

    # -- pieces --
    def timestamp(self) -> tuple[Column, Column]:
        """(timestamp column, error column) — error set when the row has no usable time."""
        F, m = self.F, self.m
        # A queue row without a time is sent stamped "now" (see to_messages), but its time here
        # stays NULL: the messageId must not change when the batch is replayed later.
        fallback = F.col("_commit_timestamp") if self.is_cdf else F.lit(None).cast("timestamp")
        if not m.timestamp:
            if self.backfill and not self.is_cdf:
                err = F.lit(
                    reason("timestamp", "no timestamp column declared", "timestamp_required")
                )
                return F.lit(None).cast("timestamp"), err
            return fallback, F.lit(None).cast("string")
        raw = self.col(m.timestamp)
        ts, unparsable, rule = parse_time(raw, self.types[m.timestamp])
        missing_msg = reason(
            "timestamp",
            "missing (a backfill sends each row's original time; without one Customer.io would "
            "stamp it 'now' and could trigger campaigns)",
            "timestamp_required",
        )
        err = F.when(
            unparsable,
            F.concat(
                F.lit(f"{m.timestamp}: '"),
                F.substring(raw.cast("string"), 1, 40),
                F.lit(f"' {rule} [timestamp_format]"),
            ),
        )
        if self.backfill:
            err = err.when(raw.isNull(), F.lit(missing_msg))
        err = F.coalesce(err, future_error(ts, m.timestamp))
        return (ts, err) if self.backfill else (F.coalesce(ts, fallback), err)

    def fields(self, spec: tuple[str, ...] | dict[str, str]) -> list[tuple[str, Column]]:
        return [(out, self.col(src)) for out, src in column_pairs(spec)]

    def with_json(
        self, entries: list[tuple[str, Column]], raw: Sequence[tuple[str, str | Column | None]]
    ) -> Column:
        """``to_json`` of ``entries`` with the ``raw`` fields (a JSON column's name, or a
        Column of JSON text) spliced in as written, last."""
        F = self.F
        given = sorted(((name, c) for name, c in raw if c is not None), key=lambda item: item[0])
        spliced = [(name, self.col(c) if isinstance(c, str) else c) for name, c in given]
        names = {name for name, _ in spliced}
        entries = [(n, c) for n, c in entries if n not in names]
        entries += [(name, F.lit(placeholder(name))) for name, _ in spliced]
        out = F.to_json(obj(entries))
        if spliced:
            out = splice_tail(out, spliced)
        if any(isinstance(c, str) for _, c in given):
            self.spliced = [
                (name, col, isinstance(c, str))
                for (name, col), (_, c) in zip(spliced, given, strict=True)
            ]
        return out

    def raw_json_spans(self, message: Column) -> Column:
        """The byte spans of the source columns' raw JSON in ``message`` as one ``array<int>``
        (start, end, start, end…), for the engine to check; NULL when it checks none."""
        F = self.F
        if not (self.engine_json and self.spliced):
            return F.lit(None).cast("array<int>")
        pairs = raw_spans(message, [(name, col) for name, col, _ in self.spliced])
        kept = [
            bound
            for (start, end), (_, _, user) in zip(pairs, self.spliced, strict=True)
            if user
            for bound in (start, end)
        ]
        return F.array(*kept).cast("array<int>")

    def object_type(self) -> Column:
        return self.F.lit(str(self.m.object_type_id))

    # -- validation --
    def attribute_errors(self, field_name: str) -> list[Check]:
        """Checks on the attribute values of traits (identify/group)."""
        checks = self.trait_column_errors(field_name)
        if self.m.traits_json:
            checks += self.traits_json_errors(field_name, self.m.traits_json)
        return checks

    def trait_column_errors(self, field_name: str) -> list[Check]:
        """Size (and, for the email trait, format) of each trait column's value."""
        F, m = self.F, self.m
        checks: list[Check] = []
        for out, src in column_pairs(m.traits):
            kind = self.types[src]
            text = self.col(src).cast("string") if "<" not in kind else F.to_json(self.col(src))
            size = F.octet_length(text)
            checks.append(
                (
                    size > MAX_ATTRIBUTE_VALUE_BYTES,
                    F.concat(
                        F.lit(f"{field_name}.{out}: "),
                        size.cast("string"),
                        F.lit(
                            f" bytes, over the {MAX_ATTRIBUTE_VALUE_BYTES}-byte attribute"
                            " value limit [max_value_bytes]"
                        ),
                    ),
                )
            )
            if out == m.email:
                checks.append(
                    (
                        self.col(src).isNotNull() & ~is_email_sql(text),
                        F.lit(reason(f"{field_name}.{out}", "not a valid email address", EMAIL)),
                    )
                )
        return checks

    def traits_json_errors(self, field_name: str, column: str) -> list[Check]:
        """Attribute count, value sizes, name sizes and email of a ``traits_json`` column (and,
        unless the engine checks it, that it is exactly one JSON object)."""
        F, m = self.F, self.m
        checks: list[Check] = []
        raw = self.col(column)
        parsed = F.from_json(raw, "map<string,string>")
        too_big = F.map_keys(
            F.map_filter(parsed, lambda k, v: F.octet_length(v) > MAX_ATTRIBUTE_VALUE_BYTES)
        )
        long_names = F.filter(
            F.map_keys(parsed), lambda k: F.octet_length(k) > MAX_ATTRIBUTE_NAME_BYTES
        )
        email = F.get_json_object(raw, f"$.{m.email}")
        if not self.engine_json:
            checks += exact_object_errors(raw, column, "traits")
        checks += [
            (
                F.size(parsed) > MAX_ATTRIBUTES,
                F.concat(
                    F.lit(f"{field_name}: "),
                    F.size(parsed).cast("string"),
                    F.lit(
                        f" attributes, over the {MAX_ATTRIBUTES}-attribute limit [max_attributes]"
                    ),
                ),
            ),
            (
                F.size(too_big) > 0,
                F.concat(
                    F.lit(f"{field_name}."),
                    F.element_at(too_big, 1),
                    F.lit(
                        f": over the {MAX_ATTRIBUTE_VALUE_BYTES}-byte attribute value limit"
                        " [max_value_bytes]"
                    ),
                ),
            ),
            (
                F.size(long_names) > 0,
                F.lit(
                    reason(
                        field_name,
                        f"an attribute name is over {MAX_ATTRIBUTE_NAME_BYTES} bytes",
                        "max_name_bytes",
                    )
                ),
            ),
            (
                email.isNotNull() & ~is_email_sql(email),
                F.lit(reason(f"{field_name}.{m.email}", "not a valid email address", EMAIL)),
            ),
        ]
        return checks

    def json_errors(self, column: str | None, field_name: str) -> list[Check]:
        if not column or self.engine_json:
            return []
        return exact_object_errors(self.col(column), column, field_name)

    def utf8_errors(self, names: Sequence[str | None]) -> list[Check]:
        """Valid UTF-8 in each named string column (other types cannot hold bad bytes). Raw
        JSON checked by the engine is left out: its parse rejects bad bytes too."""
        m = self.m
        raw = {m.traits_json, m.properties_json, m.context_json} if self.engine_json else set()
        seen = dict.fromkeys(n for n in names if n and n not in raw and self.types[n] == "string")
        return utf8_errors([(name, self.col(name)) for name in seen])

    @staticmethod
    def id_errors(name: str, value: Column, required: bool, rule: str) -> list[Check]:
        F = _F()
        checks: list[Check] = []
        if required:
            checks.append(
                (value.isNull(), F.lit(reason(name, f"missing or empty ({rule})", "required")))
            )
        size = F.octet_length(value)
        checks.append(
            (
                size > MAX_ID_BYTES,
                F.concat(
                    F.lit(f"{name}: "),
                    size.cast("string"),
                    F.lit(f" bytes, over the {MAX_ID_BYTES}-byte id limit [max_id_bytes]"),
                ),
            )
        )
        return checks
