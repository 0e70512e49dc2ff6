"""Declared mapping from source rows to Customer.io messages, built as Spark expressions.

The message JSON, the deterministic ``messageId`` and the validation of each row are computed in
the JVM (``to_json``, ``sha1``, ``octet_length``…) so the Python side only packs bytes and posts
them. :func:`to_messages` returns the engine's input columns (see
:data:`customerio_sink.engine.INPUT_COLUMNS`) and works on streaming and batch DataFrames alike.

Two source kinds:

* ``queue`` — an append-only table: one row, one call of the declared type.
* ``cdf`` — the change data feed of an entity table: inserts and post-images become the upsert
  call (identify for people, group for objects and relationships, ``Device Created or Updated``
  for devices); deletes become the semantic delete event; pre-images are carried only so the
  engine can skip updates that did not change the mapped columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from customerio_sink.message_id import composite_key_sql
from customerio_sink.rules import (
    CALL_TYPES,
    EMAIL_SQL,
    MAX_ATTRIBUTE_NAME_BYTES,
    MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_ATTRIBUTES,
    MAX_EMAIL_BYTES,
    MAX_EMAIL_LOCAL_BYTES,
    MAX_EVENT_NAME_BYTES,
    MAX_ID_BYTES,
    MAX_MESSAGE_BYTES,
    SEMANTIC_EVENTS,
    TRIGGER_WINDOW_HOURS,
    reason,
)
from customerio_sink.spark.mapping_json import (
    exact_object_errors,
    placeholder,
    raw_spans,
    splice_tail,
    utf8_errors,
)
from customerio_sink.spark.mapping_time import future_error, iso_text, micros_text, parse_time

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = [
    "MessageMapping",
    "check_source_columns",
    "raw_json_columns",
    "referenced_columns",
    "to_messages",
]

CALLS = CALL_TYPES
ENTITIES = ("person", "object", "relationship", "device")
MAX_EVENT_BYTES = MAX_EVENT_NAME_BYTES
MAX_ATTR_VALUE_BYTES = MAX_ATTRIBUTE_VALUE_BYTES
MAX_ATTR_NAME_BYTES = MAX_ATTRIBUTE_NAME_BYTES


@dataclass(frozen=True)
class MessageMapping:
    """Which columns become which parts of a Customer.io call. All names are source columns.

    Attributes:
        source: ``"queue"`` (append-only rows) or ``"cdf"`` (a change data feed).
        call: for ``queue`` sources, the call type (identify, track, page, screen, group, alias).
        entity: for ``cdf`` sources, what the table holds: person, object, relationship, device.
        user_id / anonymous_id / group_id / previous_id: id columns.
        object_type_id: constant object type for objects and relationships (default "1").
        key: the column whose value identifies the source entity/row (default: the id column).
        traits / properties: columns copied into ``traits`` / ``properties`` (same names), or
            a mapping of output name → column.
        traits_json / properties_json: a column holding a JSON object string used as-is.
        event / event_column: constant event name, or the column holding it.
        name_column: page/screen name column.
        timestamp: event-time column (timestamp, or an ISO-8601 string). ``cdf`` sources fall
            back to the change's commit timestamp.
        email: the trait checked as an email address (when present).
        device_token / device_platform: columns for device tables.
        context_json: a column holding a JSON object used as the call's ``context``.
        row_id: for ``queue`` sources, a column that identifies the row (an event id); it feeds
            the deterministic messageId. Default: a hash of the whole row.
    """

    source: str = "queue"
    call: str = "track"
    entity: str = "person"
    user_id: str | None = None
    anonymous_id: str | None = None
    group_id: str | None = None
    previous_id: str | None = None
    object_type_id: str = "1"
    key: str | None = None
    traits: tuple[str, ...] | dict[str, str] = ()
    traits_json: str | None = None
    properties: tuple[str, ...] | dict[str, str] = ()
    properties_json: str | None = None
    event: str | None = None
    event_column: str | None = None
    name_column: str | None = None
    timestamp: str | None = None
    email: str = "email"
    device_token: str | None = None
    device_platform: str | None = None
    context_json: str | None = None
    row_id: str | None = None

    def __post_init__(self) -> None:
        from customerio_sink.errors import ConfigError

        if self.source not in ("queue", "cdf"):
            raise ConfigError(f"mapping.source must be 'queue' or 'cdf', got {self.source!r}")
        if self.source == "queue" and self.call not in CALLS:
            raise ConfigError(f"mapping.call must be one of {CALLS}, got {self.call!r}")
        if self.source == "cdf" and self.entity not in ENTITIES:
            raise ConfigError(f"mapping.entity must be one of {ENTITIES}, got {self.entity!r}")
        composite = self.entity == "relationship" and self.user_id and self.group_id
        if self.source == "cdf" and self.key_column is None and not composite:
            raise ConfigError("a cdf mapping needs a key column (key, user_id or group_id)")
        if (
            self.call == "track"
            and self.source == "queue"
            and not (self.event or self.event_column)
        ):
            raise ConfigError("a track mapping needs event (constant) or event_column")
        if self.traits_json and self.source == "cdf" and self.entity != "person":
            raise ConfigError(
                f"traits_json is supported for people and queue tables, not cdf {self.entity} "
                "tables: list the trait columns instead"
            )
        if self.traits and self.traits_json:
            raise ConfigError("give traits columns or traits_json, not both")
        if self.properties and self.properties_json:
            raise ConfigError("give properties columns or properties_json, not both")

    @property
    def key_column(self) -> str | None:
        if self.key:
            return self.key
        if self.source == "cdf" and self.entity == "object":
            return self.group_id
        if (
            self.source == "cdf"
            and self.entity == "relationship"
            and self.user_id
            and self.group_id
        ):
            return None  # composite: handled by _key_expr
        if self.source == "cdf" and self.entity == "device":
            return self.device_token
        return self.user_id or self.anonymous_id or self.group_id

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (for job options and the Data Source ``mapping`` option)."""
        out = {k: v for k, v in self.__dict__.items() if v not in (None, (), {})}
        for name in ("traits", "properties"):
            if isinstance(out.get(name), tuple):
                out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MessageMapping:
        data = dict(data)
        for name in ("traits", "properties"):
            if isinstance(data.get(name), list):
                data[name] = tuple(data[name])
        return cls(**data)


# -- expression helpers ---------------------------------------------------------------------


def _F() -> Any:
    from pyspark.sql import functions

    return functions


def _obj(entries: list[tuple[str, Column]]) -> Column:
    """A struct whose ``to_json`` is a JSON object; null fields are left out of the JSON."""
    F = _F()
    return F.struct(*[col.alias(name) for name, col in entries])


def _columns(spec: tuple[str, ...] | dict[str, str]) -> list[tuple[str, str]]:
    if isinstance(spec, dict):
        return list(spec.items())
    return [(c, c) for c in spec]


def _message_id(parts: list[str], time_col: str) -> Column:
    """ULID-shaped deterministic id over staged columns (names), the same algorithm as
    :func:`customerio_sink.message_id.message_id` — one definition, two engines."""
    from customerio_sink.message_id import message_id_sql

    return _F().expr(
        message_id_sql(
            *[f"`{p}`" for p in parts],
            # The id's time field holds 0 … 2^48-1 ms: a time before 1970 counts as 0.
            time_ms=f"greatest(coalesce(unix_millis(`{time_col}`), 0), 0)",
        )
    )


# -- the mapping ----------------------------------------------------------------------------


def referenced_columns(m: MessageMapping) -> list[str]:
    """Every source column ``m`` reads (ids, attributes, JSON, event, time, device, row id)."""
    names = [
        m.user_id,
        m.anonymous_id,
        m.group_id,
        m.previous_id,
        m.key,
        m.traits_json,
        m.properties_json,
        m.event_column,
        m.name_column,
        m.timestamp,
        m.device_token,
        m.device_platform,
        m.context_json,
        m.row_id,
    ]
    names += [c for _, c in _columns(m.traits)] + [c for _, c in _columns(m.properties)]
    return [n for n in names if n]


def raw_json_columns(m: MessageMapping) -> tuple[tuple[str, str], ...]:
    """(message field, source column) of each raw JSON column ``m`` splices into messages —
    what the engine names when one is not exactly one JSON object."""
    fields = (("context", m.context_json), ("properties", m.properties_json))
    return tuple((f, c) for f, c in (*fields, ("traits", m.traits_json)) if c)


def check_source_columns(m: MessageMapping, columns: list[str]) -> None:
    """Raise :class:`ConfigError` when ``m`` reads a column that is not in ``columns`` — the
    check :func:`to_messages` makes, without building (and analysing) the mapping's plan."""
    missing = [c for c in referenced_columns(m) if c not in columns]
    if missing:
        from customerio_sink.errors import ConfigError

        raise ConfigError(
            f"mapping names columns the source does not have: {', '.join(missing)} "
            f"(source columns: {', '.join(sorted(columns))})"
        )


class _Builder:
    """Builds the message columns for one mapping over one DataFrame."""

    def __init__(
        self, df: DataFrame, m: MessageMapping, job: str, backfill: bool, engine_json: bool
    ) -> None:
        self.F = _F()
        # Raw JSON columns checked by the engine as sent (see to_messages), not here.
        self.engine_json = engine_json
        # The message's spliced raw values: (name, column) in message order, and whether each
        # is a source column (user text to check) — set by with_json for the upsert message.
        self.spliced: list[tuple[str, Column, bool]] = []
        self.df = df
        self.m = m
        self.job = job
        self.backfill = backfill
        self.types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
        check_source_columns(m, list(self.types))
        self.is_cdf = m.source == "cdf"

    def referenced(self) -> list[str]:
        return referenced_columns(self.m)

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
        return [(out, self.col(src)) for out, src in _columns(spec)]

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
        out = F.to_json(_obj(entries))
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
    def attribute_errors(self, field_name: str) -> list[tuple[Column, Column]]:
        """Checks on the attribute values of traits (identify/group)."""
        F, m = self.F, self.m
        checks: list[tuple[Column, Column]] = []
        for out, src in _columns(m.traits):
            kind = self.types[src]
            text = self.col(src).cast("string") if "<" not in kind else F.to_json(self.col(src))
            size = F.octet_length(text)
            checks.append(
                (
                    size > MAX_ATTR_VALUE_BYTES,
                    F.concat(
                        F.lit(f"{field_name}.{out}: "),
                        size.cast("string"),
                        F.lit(
                            f" bytes, over the {MAX_ATTR_VALUE_BYTES}-byte attribute value limit"
                            " [max_value_bytes]"
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
        if m.traits_json:
            raw = self.col(m.traits_json)
            parsed = F.from_json(raw, "map<string,string>")
            too_big = F.map_keys(
                F.map_filter(parsed, lambda k, v: F.octet_length(v) > MAX_ATTR_VALUE_BYTES)
            )
            long_names = F.filter(
                F.map_keys(parsed), lambda k: F.octet_length(k) > MAX_ATTR_NAME_BYTES
            )
            email = F.get_json_object(raw, f"$.{m.email}")
            if not self.engine_json:
                checks += exact_object_errors(raw, m.traits_json, "traits")
            checks += [
                (
                    F.size(parsed) > MAX_ATTRIBUTES,
                    F.concat(
                        F.lit(f"{field_name}: "),
                        F.size(parsed).cast("string"),
                        F.lit(
                            f" attributes, over the {MAX_ATTRIBUTES}-attribute limit"
                            " [max_attributes]"
                        ),
                    ),
                ),
                (
                    F.size(too_big) > 0,
                    F.concat(
                        F.lit(f"{field_name}."),
                        F.element_at(too_big, 1),
                        F.lit(
                            f": over the {MAX_ATTR_VALUE_BYTES}-byte attribute value limit"
                            " [max_value_bytes]"
                        ),
                    ),
                ),
                (
                    F.size(long_names) > 0,
                    F.lit(
                        reason(
                            field_name,
                            f"an attribute name is over {MAX_ATTR_NAME_BYTES} bytes",
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

    def json_errors(self, column: str | None, field_name: str) -> list[tuple[Column, Column]]:
        if not column or self.engine_json:
            return []
        return exact_object_errors(self.col(column), column, field_name)

    def utf8_errors(self, names: list[str | None]) -> list[tuple[Column, Column]]:
        """Valid UTF-8 in each named string column (other types cannot hold bad bytes). Raw
        JSON checked by the engine is left out: its parse rejects bad bytes too."""
        m = self.m
        raw = {m.traits_json, m.properties_json, m.context_json} if self.engine_json else set()
        seen = dict.fromkeys(n for n in names if n and n not in raw and self.types[n] == "string")
        return utf8_errors([(name, self.col(name)) for name in seen])

    @staticmethod
    def id_errors(
        name: str, value: Column, required: bool, rule: str
    ) -> list[tuple[Column, Column]]:
        F = _F()
        checks: list[tuple[Column, Column]] = []
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


def _with_nulls(obj: Column) -> Column:
    """JSON text of a struct that keeps null fields: a NULL column is sent as ``null``, which
    removes the attribute in Customer.io (``to_json`` would leave the field out, keeping the
    old value)."""
    return _F().to_json(obj, {"ignoreNullFields": "false"})


def _queue_row_ident(b: _Builder, row_hash: Column) -> tuple[Column, Column, list[Any]]:
    """(row part, kind part, checks) of a queue row's messageId.

    The declared row id column identifies the row; without one, a hash of the whole row does
    (two rows equal in every column are one row). A row whose row id is NULL or empty is a
    dead letter; its id uses the row hash under a kind no declared row id can produce, so it
    shares its id with no other row."""
    F, m = b.F, b.m
    if not m.row_id:
        return row_hash, F.lit(m.call), []
    given = b.col(m.row_id).cast("string")
    missing = given.isNull() | (given == "")
    rule = reason(m.row_id, "missing (the row id column identifies each row)", "row_id_required")
    return (
        F.when(missing, row_hash).otherwise(given),
        F.when(missing, F.lit(f"{m.call}#no-row-id")).otherwise(F.lit(m.call)),
        [(missing, F.lit(rule))],
    )


EMAIL = "email_format"


def is_email_sql(text: Column) -> Column:
    """:func:`customerio_sink.rules.is_email` as a Spark expression (true for a valid address)."""
    F = _F()
    local = F.substring_index(text, "@", 1)
    return (
        text.rlike(EMAIL_SQL)
        & (F.octet_length(text) <= MAX_EMAIL_BYTES)
        & (F.octet_length(local) <= MAX_EMAIL_LOCAL_BYTES)
    )


def _first_error(checks: list[tuple[Column, Column]]) -> Column:
    F = _F()
    out: Any = None
    for cond, message in checks:
        out = F.when(cond, message) if out is None else out.when(cond, message)
    return out if out is not None else F.lit(None).cast("string")


def to_messages(
    df: DataFrame,
    mapping: MessageMapping,
    *,
    job: str,
    backfill: bool = False,
    hold_recent: bool = False,
    engine_json: bool = False,
) -> DataFrame:
    """Map source rows to the engine's input columns (one output row per input row).

    ``backfill`` makes a missing or unparsable timestamp an error (dead letter) instead of
    falling back to the commit time / now. ``hold_recent`` flags rows whose timestamp falls in
    Customer.io's 72-hour campaign-trigger window so the engine parks them instead of sending.
    ``engine_json`` leaves the check of raw JSON columns (exactly one object, valid UTF-8) to
    the engine, which parses each as it is sent (one strict parse in Python, instead of two
    lenient ones in the JVM): the ``raw_json`` column then holds where they are in the payload.
    Without it the ``error`` column is complete (for callers that read it, not send).
    Works on streaming DataFrames (no aggregation, no window).
    """
    F = _F()
    b = _Builder(df, mapping, job, backfill, engine_json)
    m = mapping
    ts, ts_error = b.timestamp()
    stamp_now = not b.is_cdf and not backfill
    change = F.col("_change_type") if b.is_cdf else F.lit("append")
    version = F.col("_commit_version").cast("long") if b.is_cdf else F.lit(None).cast("long")
    is_delete = change == F.lit("delete")

    uid = b.id_col(m.user_id)
    anon = b.id_col(m.anonymous_id)
    gid = b.id_col(m.group_id)

    row_hash = F.sha1(F.to_json(F.struct(*[b.col(c) for c in df.columns])))
    if m.key_column:
        key = b.id_col(m.key_column)
    else:  # a relationship: person and object, escaped and joined (see composite_key)
        df = df.select("*", uid.alias("__cio_uid"), gid.alias("__cio_gid"))
        key = F.expr(composite_key_sql("`__cio_uid`", "`__cio_gid`"))
    # A change without a key is a dead letter; its id still has to be unique per row.
    row_ident = F.when(key.isNull(), row_hash).otherwise(F.lit(None).cast("string"))
    kind = F.lit(m.call if not b.is_cdf else m.entity)
    row_checks: list[tuple[Column, Column]] = []
    if not b.is_cdf:
        row_ident, kind, row_checks = _queue_row_ident(b, row_hash)
    # Stage the id parts as columns so the messageId is one SQL expression over names.
    df = df.select(
        "*",
        F.lit(job).alias("__cio_job"),
        kind.alias("__cio_kind"),
        key.alias("__cio_key"),
        ts.alias("__cio_ts"),
        # Staged once: the time is parsed here only, and the error chain below refers to a
        # column, not to the whole parse and message (which made the generated code too big
        # for the JIT and slowed every column of the stage).
        ts_error.alias("__cio_ts_error"),
        row_ident.alias("__cio_row"),
        version.alias("__cio_version"),
        change.alias("__cio_change"),
    )
    key, ts, ts_error = F.col("__cio_key"), F.col("__cio_ts"), F.col("__cio_ts_error")
    ts_text = iso_text(ts)
    # Only a queue row outside a backfill can lack a time: it is stamped when sent (as
    # Customer.io would stamp it). The batch's "now" reaches the generated code as a string
    # literal, which Spark passes by reference — a timestamp or number literal would be inlined,
    # making every micro-batch compile (and JIT) the mapping's code anew.
    if stamp_now:
        ts_text = F.coalesce(ts_text, iso_text(F.current_timestamp()))
    if b.is_cdf:
        mid = _message_id(
            ["__cio_job", "__cio_key", "__cio_version", "__cio_change", "__cio_row"], "__cio_ts"
        )
    else:
        mid = _message_id(["__cio_job", "__cio_kind", "__cio_key", "__cio_row"], "__cio_ts")
    # Each stage is computed once and referenced by name (the id is in the payload and its
    # own column; the payload in the size check, the error column and the output).
    df = df.select("*", mid.alias("__cio_mid"))
    mid = F.col("__cio_mid")

    traits_entries = b.fields(m.traits)
    props_entries = b.fields(m.properties)
    common = [("messageId", mid), ("timestamp", ts_text)]
    # Text with bad bytes first: no other rule can be read, or sent, safely.
    id_names = [m.user_id, m.anonymous_id, m.group_id, m.previous_id, m.key, m.device_token]
    id_checks = b.utf8_errors([*id_names, m.row_id]) + row_checks
    checks = b.utf8_errors([c for c in b.referenced() if c not in id_names and c != m.row_id])
    need_id_rule = "each call needs userId or anonymousId"
    ident = F.coalesce(uid, anon)
    hash_source: Column = F.lit(None).cast("string")

    if b.is_cdf:
        traits_obj = _obj(traits_entries)
        hash_source = F.to_json(traits_obj) if not m.traits_json else F.trim(b.col(m.traits_json))
        if m.entity == "person":
            upsert_type, upsert = (
                F.lit("identify"),
                b.with_json(
                    [
                        ("type", F.lit("identify")),
                        *common,
                        ("userId", uid),
                        ("anonymousId", anon),
                    ],
                    [("traits", m.traits_json or _with_nulls(traits_obj))],
                ),
            )
            delete = b.with_json(
                [
                    ("type", F.lit("track")),
                    *common,
                    ("userId", uid),
                    ("event", F.lit("User Deleted")),
                ],
                [],
            )
            event = F.when(is_delete, F.lit("User Deleted"))
            id_checks += b.id_errors("userId", uid, True, "a person change needs its userId")
            checks += b.attribute_errors("traits")
        elif m.entity == "object":
            anon_obj = F.coalesce(
                anon, F.concat(F.lit("object:"), b.object_type(), F.lit(":"), gid)
            )
            obj_traits = _obj([("objectTypeId", b.object_type()), *traits_entries])
            hash_source = F.to_json(obj_traits)
            upsert_type, upsert = (
                F.lit("group"),
                b.with_json(
                    [
                        ("type", F.lit("group")),
                        *common,
                        ("anonymousId", anon_obj),
                        ("userId", uid),
                        ("groupId", gid),
                    ],
                    [("traits", _with_nulls(obj_traits))],
                ),
            )
            delete = b.with_json(
                [
                    ("type", F.lit("track")),
                    *common,
                    ("anonymousId", anon_obj),
                    ("event", F.lit("Object Deleted")),
                    (
                        "properties",
                        _obj([("objectId", gid), ("objectTypeId", b.object_type().cast("int"))]),
                    ),
                ],
                [],
            )
            event = F.when(is_delete, F.lit("Object Deleted"))
            id_checks += b.id_errors("groupId", gid, True, "an object change needs its object id")
            checks += b.attribute_errors("traits")
        elif m.entity == "relationship":
            rel = _obj(
                [
                    ("objectTypeId", b.object_type()),
                    ("relationshipAttributes", _obj(traits_entries)),
                ]
            )
            hash_source = F.to_json(rel)
            upsert_type, upsert = (
                F.lit("group"),
                b.with_json(
                    [
                        ("type", F.lit("group")),
                        *common,
                        ("userId", uid),
                        ("groupId", gid),
                    ],
                    [("traits", _with_nulls(rel))],
                ),
            )
            delete = b.with_json(
                [
                    ("type", F.lit("track")),
                    *common,
                    ("userId", uid),
                    ("event", F.lit("Relationship Deleted")),
                    (
                        "properties",
                        _obj([("objectId", gid), ("objectTypeId", b.object_type().cast("int"))]),
                    ),
                ],
                [],
            )
            event = F.when(is_delete, F.lit("Relationship Deleted"))
            id_checks += b.id_errors("userId", uid, True, "a relationship needs its person")
            id_checks += b.id_errors("groupId", gid, True, "a relationship needs its object")
        else:  # device
            token = b.id_col(m.device_token)
            platform = b.col(m.device_platform).cast("string") if m.device_platform else F.lit(None)
            device = _obj([("token", token), ("type", platform)])
            hash_source = F.to_json(_obj([("device", device), ("p", _obj(traits_entries))]))
            upsert_type = F.lit("track")
            upsert = b.with_json(
                [
                    ("type", F.lit("track")),
                    *common,
                    ("userId", uid),
                    ("event", F.lit("Device Created or Updated")),
                    ("context", _obj([("device", device)])),
                    ("properties", _obj(traits_entries)),
                ],
                [],
            )
            delete = b.with_json(
                [
                    ("type", F.lit("track")),
                    *common,
                    ("userId", uid),
                    ("event", F.lit("Device Deleted")),
                    ("context", _obj([("device", _obj([("token", token)]))])),
                ],
                [],
            )
            event = F.when(is_delete, F.lit("Device Deleted")).otherwise(
                F.lit("Device Created or Updated")
            )
            id_checks += b.id_errors("userId", uid, True, "a device belongs to a person")
            id_checks += b.id_errors(
                "context.device.token", token, True, "a device needs its token"
            )
        msg_type = F.when(is_delete, F.lit("track")).otherwise(upsert_type)
        payload = F.when(is_delete, delete).otherwise(upsert)
    else:
        call = m.call
        event = F.lit(None).cast("string")
        raw: list[tuple[str, str | None]] = [("context", m.context_json)]
        if call == "identify":
            entries = [("userId", uid), ("anonymousId", anon)]
            entries += [("traits", _obj(traits_entries))] if not m.traits_json else []
            raw.append(("traits", m.traits_json))
            id_checks += b.id_errors("userId", ident, True, need_id_rule)
            checks += b.attribute_errors("traits")
        elif call == "track":
            event = F.lit(m.event) if m.event else b.col(m.event_column).cast("string")
            entries = [("userId", uid), ("anonymousId", anon), ("event", event)]
            entries += [("properties", _obj(props_entries))] if not m.properties_json else []
            raw.append(("properties", m.properties_json))
            id_checks += b.id_errors("userId", ident, True, need_id_rule)
            size = F.octet_length(event)
            checks += [
                (
                    (event.isNull()) | (F.trim(event) == ""),
                    F.lit(reason("event", "missing or empty (a track call needs one)", "required")),
                ),
                (
                    size > MAX_EVENT_BYTES,
                    F.concat(
                        F.lit("event: "),
                        size.cast("string"),
                        F.lit(
                            f" bytes, over the {MAX_EVENT_BYTES}-byte event name limit"
                            " [max_event_bytes]"
                        ),
                    ),
                ),
            ]
            checks += b.json_errors(m.properties_json, "properties")
        elif call in ("page", "screen"):
            entries = [("userId", uid), ("anonymousId", anon), ("name", b.col(m.name_column))]
            entries += [("properties", _obj(props_entries))] if not m.properties_json else []
            raw.append(("properties", m.properties_json))
            id_checks += b.id_errors("userId", ident, True, need_id_rule)
            checks += b.json_errors(m.properties_json, "properties")
        elif call == "group":
            entries = [
                ("userId", uid),
                ("anonymousId", anon),
                ("groupId", gid),
                ("traits", _obj([("objectTypeId", b.object_type()), *traits_entries])),
            ]
            id_checks += b.id_errors("groupId", gid, True, "a group call needs groupId")
            checks += b.attribute_errors("traits")
        else:  # alias
            prev = b.id_col(m.previous_id)
            entries = [("previousId", prev), ("userId", uid)]
            id_checks += b.id_errors("previousId", prev, True, "alias needs previousId")
            id_checks += b.id_errors("userId", uid, True, "alias needs userId")
        checks += b.json_errors(m.context_json, "context")
        msg_type = F.lit(call)
        payload = b.with_json([("type", F.lit(call)), *common, *entries], raw)

    checks = id_checks + checks + [(ts_error.isNotNull(), ts_error)]
    df = df.select("*", payload.alias("__cio_payload"))
    payload = F.col("__cio_payload")
    raw_json = b.raw_json_spans(payload)
    if b.is_cdf:
        raw_json = F.when(is_delete, F.lit(None).cast("array<int>")).otherwise(raw_json)
    size = F.octet_length(payload)
    checks.append(
        (
            size > MAX_MESSAGE_BYTES,
            F.concat(
                F.lit("message: "),
                size.cast("string"),
                F.lit(
                    f" bytes, over the {MAX_MESSAGE_BYTES}-byte message limit [max_message_bytes]"
                ),
            ),
        )
    )
    # The 72-hour rule is about events (they can trigger campaigns); attribute changes and the
    # semantic calls (deletes, devices…) are not held back or counted.
    is_event = msg_type.isin("track", "page", "screen") & ~F.coalesce(
        event.isin(*SEMANTIC_EVENTS), F.lit(False)
    )

    # Compared as zero-padded decimal text: the threshold is then a string literal, which Spark
    # passes by reference, so the generated code is the same for every batch (see stamp_now).
    # (A number or timestamp literal would be inlined; a cast to decimal is unwrapped again.)
    recent = micros_text(ts) >= micros_text(
        F.current_timestamp() - F.expr(f"INTERVAL {TRIGGER_WINDOW_HOURS} HOURS")
    )
    # A row stamped "now" when sent is inside the window too.
    in_window = is_event & (F.coalesce(recent, F.lit(False)) | (ts.isNull() & F.lit(stamp_now)))
    return df.select(
        # Valid UTF-8 as the engine reads them (a row with bad bytes is already an error).
        F.make_valid_utf8(key).alias("key"),
        mid.alias("message_id"),
        msg_type.alias("type"),
        F.make_valid_utf8(event.cast("string")).alias("event"),
        # A string column: its Arrow form is the UTF-8 bytes the engine sends, viewed as binary
        # on the Python side without a copy (``encode`` would re-validate every byte).
        payload.alias("payload"),
        # A delete needs only its ids: a stale attribute must not keep a person from leaving.
        F.when(is_delete, _first_error(id_checks)).otherwise(_first_error(checks)).alias("error"),
        change.alias("change"),
        version.alias("version"),
        # Only change feeds use the hash (to skip updates that change nothing mapped): a queue's
        # rows carry none, 40 bytes less per row to move to Python.
        (
            F.sha1(F.coalesce(hash_source, F.lit(""))) if b.is_cdf else F.lit(None).cast("string")
        ).alias("hash"),
        (in_window & F.lit(hold_recent)).alias("hold"),
        in_window.alias("in_window"),
        raw_json.alias("raw_json"),
    )
