"""Declared mapping from source rows to Customer.io messages, built as Spark expressions.

The message JSON, the deterministic ``messageId`` and the validation of each row are computed in
the JVM (``to_json``, ``sha1``, ``octet_length``…) so the Python side only packs bytes and posts
them. :func:`to_messages` returns the engine's input columns (see
:data:`customerio_sink.engine.partition.INPUT_COLUMNS`) and works on streaming and batch DataFrames
alike.

Two source kinds:

* ``queue`` — an append-only table: one row, one call of the declared type.
* ``cdf`` — the change data feed of an entity table: inserts and post-images become the upsert
  call (identify for people, group for objects and relationships, ``Device Created or Updated``
  for devices); deletes become the semantic delete event; pre-images are carried only so the
  engine can skip updates that did not change the mapped columns.

:func:`to_messages` stages a row's ids, time and messageId (:func:`_stage`), hands it to the
builder of its kind of mapping (:mod:`~customerio_sink.spark.mapping_queue` for the six queue
calls, :mod:`~customerio_sink.spark.mapping_cdf` for the four change-feed entities; shared pieces
in :mod:`~customerio_sink.spark.mapping_builder`) and selects the engine's columns
(:func:`_output`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from customerio_sink.messages.message_id import composite_key_sql
from customerio_sink.messages.rules import CALL_TYPES, MAX_MESSAGE_BYTES, TRIGGER_WINDOW_HOURS
from customerio_sink.messages.rules import (
    SEMANTIC_EVENTS as SEMANTIC_EVENTS,  # re-exported: read from here by spark.order
)
from customerio_sink.spark.compat import make_valid_utf8
from customerio_sink.spark.dedupe import check_latest
from customerio_sink.spark.mapping_builder import Builder, Message, Row, column_pairs, first_error
from customerio_sink.spark.mapping_builder import (
    is_email_sql as is_email_sql,  # re-exported: the tests compare it with rules.is_email
)
from customerio_sink.spark.mapping_cdf import cdf_message
from customerio_sink.spark.mapping_ids import stage_message_id
from customerio_sink.spark.mapping_queue import queue_message, queue_row_ident
from customerio_sink.spark.mapping_semantic import semantic_checks
from customerio_sink.spark.mapping_time import iso_text, message_time_text, micros_text

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
        family: for ``track`` queues, a family of the semantic catalogue (``ecommerce``,
            ``video``… or ``all``): each row of its events is checked against the catalogue's
            rules before it is sent (:mod:`customerio_sink.spark.quality`).
        latest_per_key: for ``identify``/``group`` queues of snapshots: of a key's rows in one
            micro-batch only the latest by ``timestamp`` is sent; the others are skipped as
            ``superseded`` (naming the row sent instead).
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
    family: str | None = None
    latest_per_key: bool = False

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
        if self.family and (self.source != "queue" or self.call != "track"):
            raise ConfigError("family: the catalogue's rules apply to track calls of a queue")
        if self.latest_per_key:
            check_latest(self.source, self.call, self.timestamp)

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
    names += [c for _, c in column_pairs(m.traits)] + [c for _, c in column_pairs(m.properties)]
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


def to_messages(
    df: DataFrame,
    mapping: MessageMapping,
    *,
    job: str,
    backfill: bool = False,
    hold_recent: bool = False,
    engine_json: bool = False,
    engine_ids: bool = False,
) -> DataFrame:
    """Map source rows to the engine's input columns (one output row per input row).

    ``backfill`` makes a missing or unparsable timestamp an error (dead letter) instead of
    falling back to the commit time / now. ``hold_recent`` flags rows whose timestamp falls in
    Customer.io's 72-hour campaign-trigger window so the engine parks them instead of sending.
    ``engine_json`` leaves the check of raw JSON columns (exactly one object, valid UTF-8) to
    the engine, which parses each as it is sent (one strict parse in Python, instead of two
    lenient ones in the JVM): the ``raw_json`` column then holds where they are in the payload.
    Without it the ``error`` column is complete (for callers that read it, not send).
    ``engine_ids`` leaves the messageId's base-32 to the engine: no ``message_id`` column, but
    its time and hash, and a placeholder in each payload (:mod:`customerio_sink.engine.ids`);
    likewise the text of most times (:mod:`customerio_sink.engine.times`).
    Works on streaming DataFrames (no aggregation, no window).
    """
    b = Builder(df, mapping, job, backfill, engine_json, engine_ids)
    check_source_columns(mapping, list(b.types))
    row = _stage(b, df)
    message = cdf_message(b, row) if b.is_cdf else queue_message(b, row)
    return _output(b, row, message, hold_recent)


def _stage(b: Builder, df: DataFrame) -> Row:
    """Stage a row's id parts, time and messageId as columns of ``df``, so the messageId is one
    SQL expression over names and each is computed once; with the checks every row gets."""
    F, m = b.F, b.m
    ts, ts_error = b.timestamp()
    stamp_now = not b.is_cdf and not b.backfill
    change = F.col("_change_type") if b.is_cdf else F.lit("append")
    version = F.col("_commit_version").cast("long") if b.is_cdf else F.lit(None).cast("long")

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
        row_ident, kind, row_checks = queue_row_ident(b, row_hash)
    df = df.select(
        "*",
        F.lit(b.job).alias("__cio_job"),
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
    ts_text = message_time_text(ts, b.engine_ids)  # the engine writes most times
    # Only a queue row outside a backfill can lack a time: it is stamped when sent (as
    # Customer.io would stamp it). The batch's "now" reaches the generated code as a string
    # literal, which Spark passes by reference — a timestamp or number literal would be inlined,
    # making every micro-batch compile (and JIT) the mapping's code anew.
    if stamp_now:
        ts_text = F.coalesce(ts_text, iso_text(F.current_timestamp()))
    if b.is_cdf:
        parts = ["__cio_job", "__cio_key", "__cio_version", "__cio_change", "__cio_row"]
    else:
        parts = ["__cio_job", "__cio_kind", "__cio_key", "__cio_row"]
    # Each stage is computed once and referenced by name (the id is in the payload and its
    # own column; the payload in the size check, the error column and the output).
    df, mid, id_columns = stage_message_id(df, parts, "__cio_ts", b.engine_ids)
    # Text with bad bytes first: no other rule can be read, or sent, safely.
    id_names = [m.user_id, m.anonymous_id, m.group_id, m.previous_id, m.key, m.device_token]
    others = [c for c in referenced_columns(m) if c not in id_names and c != m.row_id]
    return Row(
        df=df,
        uid=uid,
        anon=anon,
        gid=gid,
        key=key,
        ts=ts,
        ts_error=ts_error,
        mid=mid,
        id_columns=id_columns,
        change=change,
        version=version,
        is_delete=change == F.lit("delete"),
        stamp_now=stamp_now,
        common=[("messageId", mid), ("timestamp", ts_text)],
        id_checks=b.utf8_errors([*id_names, m.row_id]) + row_checks,
        checks=b.utf8_errors(others),
    )


def _output(b: Builder, row: Row, message: Message, hold_recent: bool) -> DataFrame:
    """The engine's input columns of the staged ``row`` and its ``message``."""
    F = b.F
    ts, is_delete, event, msg_type = row.ts, row.is_delete, message.event, message.type
    id_checks = row.id_checks + message.id_checks
    checks = id_checks + row.checks + message.checks + [(row.ts_error.isNotNull(), row.ts_error)]
    # The catalogue's rules of a declared family, then Customer.io's own semantic events' fields.
    df, more = semantic_checks(row.df, b.m, event)
    checks += more
    df = df.select("*", message.payload.alias("__cio_payload"))
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
    # passes by reference, so the generated code is the same for every batch (see _stage).
    # (A number or timestamp literal would be inlined; a cast to decimal is unwrapped again.)
    recent = micros_text(ts) >= micros_text(
        F.current_timestamp() - F.expr(f"INTERVAL {TRIGGER_WINDOW_HOURS} HOURS")
    )
    # A row stamped "now" when sent is inside the window too.
    stamped = ts.isNull() & F.lit(row.stamp_now)
    in_window = is_event & (F.coalesce(recent, F.lit(False)) | stamped)
    return df.select(
        # Valid UTF-8 as the engine reads them (a row with bad bytes is already an error).
        make_valid_utf8(row.key).alias("key"),
        *row.id_columns,
        msg_type.alias("type"),
        make_valid_utf8(event.cast("string")).alias("event"),
        # A string column: its Arrow form is the UTF-8 bytes the engine sends, viewed as binary
        # on the Python side without a copy (``encode`` would re-validate every byte).
        payload.alias("payload"),
        # A delete needs only its ids: a stale attribute must not keep a person from leaving.
        F.when(is_delete, first_error(id_checks)).otherwise(first_error(checks)).alias("error"),
        row.change.alias("change"),
        row.version.alias("version"),
        # Only change feeds use the hash (to skip updates that change nothing mapped): a queue's
        # rows carry none, 40 bytes less per row to move to Python.
        (
            F.sha1(F.coalesce(message.hash_source, F.lit("")))
            if b.is_cdf
            else F.lit(None).cast("string")
        ).alias("hash"),
        (in_window & F.lit(hold_recent)).alias("hold"),
        in_window.alias("in_window"),
        raw_json.alias("raw_json"),
    )
