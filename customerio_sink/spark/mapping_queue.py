"""The queue calls of the JVM mapping: one append-only row, one call of the declared type
(identify, track, page, screen, group, alias); the row's part of its messageId. See
:func:`customerio_sink.spark.mapping.to_messages`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from customerio_sink.messages.rules import MAX_EVENT_NAME_BYTES, reason
from customerio_sink.spark.mapping_builder import Builder, Check, Message, Row, obj

if TYPE_CHECKING:
    from pyspark.sql import Column

__all__ = ["queue_builders", "queue_message", "queue_row_ident"]

NEED_ID_RULE = "each call needs userId or anonymousId"

Entries = list[tuple[str, "Column"]]
Raw = list[tuple[str, str | None]]


def queue_row_ident(b: Builder, row_hash: Column) -> tuple[Column, Column, list[Check]]:
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


def queue_message(b: Builder, row: Row) -> Message:
    """The declared call of a queue row, with its checks."""
    return _CALLS[b.m.call](b, row)


def _message(
    b: Builder,
    row: Row,
    entries: Entries,
    raw: Raw,
    id_checks: list[Check],
    checks: list[Check],
    event: Column | None = None,
) -> Message:
    """The call's message: type, the common fields, ``entries``, then the raw JSON columns
    (the context, and ``raw``) spliced in; the context's check comes last."""
    F, m = b.F, b.m
    payload = b.with_json(
        [("type", F.lit(m.call)), *row.common, *entries], [("context", m.context_json), *raw]
    )
    return Message(
        type=F.lit(m.call),
        payload=payload,
        event=F.lit(None).cast("string") if event is None else event,
        hash_source=F.lit(None).cast("string"),
        id_checks=id_checks,
        checks=checks + b.json_errors(m.context_json, "context"),
    )


def _need_id(b: Builder, row: Row) -> list[Check]:
    return b.id_errors("userId", b.F.coalesce(row.uid, row.anon), True, NEED_ID_RULE)


def _identify(b: Builder, row: Row) -> Message:
    m = b.m
    entries = [("userId", row.uid), ("anonymousId", row.anon)]
    entries += [("traits", obj(b.fields(m.traits)))] if not m.traits_json else []
    raw = [("traits", m.traits_json)]
    return _message(b, row, entries, raw, _need_id(b, row), b.attribute_errors("traits"))


def _track(b: Builder, row: Row) -> Message:
    F, m = b.F, b.m
    event = F.lit(m.event) if m.event else b.col(m.event_column).cast("string")
    entries = [("userId", row.uid), ("anonymousId", row.anon), ("event", event)]
    entries += [("properties", obj(b.fields(m.properties)))] if not m.properties_json else []
    size = F.octet_length(event)
    checks: list[Check] = [
        (
            (event.isNull()) | (F.trim(event) == ""),
            F.lit(reason("event", "missing or empty (a track call needs one)", "required")),
        ),
        (
            size > MAX_EVENT_NAME_BYTES,
            F.concat(
                F.lit("event: "),
                size.cast("string"),
                F.lit(
                    f" bytes, over the {MAX_EVENT_NAME_BYTES}-byte event name limit"
                    " [max_event_bytes]"
                ),
            ),
        ),
    ]
    checks += b.json_errors(m.properties_json, "properties")
    raw = [("properties", m.properties_json)]
    return _message(b, row, entries, raw, _need_id(b, row), checks, event)


def _page_or_screen(b: Builder, row: Row) -> Message:
    m = b.m
    entries = [("userId", row.uid), ("anonymousId", row.anon), ("name", b.col(m.name_column))]
    entries += [("properties", obj(b.fields(m.properties)))] if not m.properties_json else []
    raw = [("properties", m.properties_json)]
    checks = b.json_errors(m.properties_json, "properties")
    return _message(b, row, entries, raw, _need_id(b, row), checks)


def _group(b: Builder, row: Row) -> Message:
    entries = [
        ("userId", row.uid),
        ("anonymousId", row.anon),
        ("groupId", row.gid),
        ("traits", obj([("objectTypeId", b.object_type()), *b.fields(b.m.traits)])),
    ]
    id_checks = b.id_errors("groupId", row.gid, True, "a group call needs groupId")
    return _message(b, row, entries, [], id_checks, b.attribute_errors("traits"))


def _alias(b: Builder, row: Row) -> Message:
    prev = b.id_col(b.m.previous_id)
    entries = [("previousId", prev), ("userId", row.uid)]
    id_checks = b.id_errors("previousId", prev, True, "alias needs previousId")
    id_checks += b.id_errors("userId", row.uid, True, "alias needs userId")
    return _message(b, row, entries, [], id_checks, [])


_CALLS: dict[str, Callable[[Builder, Row], Message]] = {
    "identify": _identify,
    "track": _track,
    "page": _page_or_screen,
    "screen": _page_or_screen,
    "group": _group,
    "alias": _alias,
}


def queue_builders() -> dict[str, str]:
    """Call type → the name of the function here that builds its message (for the coverage)."""
    return {call: fn.__name__ for call, fn in _CALLS.items()}
