"""The change feeds of the JVM mapping: inserts and post-images of an entity table become the
upsert call (identify for people, group for objects and relationships, ``Device Created or
Updated`` for devices); deletes become the semantic delete event. Each change also carries the
text hashed to skip updates that change nothing mapped. See
:func:`customerio_sink.spark.mapping.to_messages`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from customerio_sink.spark.mapping_builder import Builder, Check, Message, Row, obj, with_nulls

if TYPE_CHECKING:
    from pyspark.sql import Column

__all__ = ["cdf_message"]


def cdf_message(b: Builder, row: Row) -> Message:
    """The upsert or delete message of a change to the mapping's entity, with its checks."""
    return _ENTITIES[b.m.entity](b, row)


def _change(
    b: Builder,
    row: Row,
    upsert: tuple[str, Column],
    delete: Column,
    event: Column,
    hash_source: Column,
    id_checks: list[Check],
    checks: list[Check],
) -> Message:
    """A change's message: ``delete`` (a track) for a delete, else the ``upsert`` (type, JSON)."""
    F = b.F
    upsert_type, upsert_json = upsert
    return Message(
        type=F.when(row.is_delete, F.lit("track")).otherwise(F.lit(upsert_type)),
        payload=F.when(row.is_delete, delete).otherwise(upsert_json),
        event=event,
        hash_source=hash_source,
        id_checks=id_checks,
        checks=checks,
    )


def _object_ref(b: Builder, row: Row) -> Column:
    """The properties of an object's or relationship's delete event."""
    return obj([("objectId", row.gid), ("objectTypeId", b.object_type().cast("int"))])


def _person(b: Builder, row: Row) -> Message:
    F, m = b.F, b.m
    traits = obj(b.fields(m.traits))
    hash_source = F.to_json(traits) if not m.traits_json else F.trim(b.col(m.traits_json))
    upsert = b.with_json(
        [("type", F.lit("identify")), *row.common, ("userId", row.uid), ("anonymousId", row.anon)],
        [("traits", m.traits_json or with_nulls(traits))],
    )
    delete = b.with_json(
        [
            ("type", F.lit("track")),
            *row.common,
            ("userId", row.uid),
            ("event", F.lit("User Deleted")),
        ],
        [],
    )
    event = F.when(row.is_delete, F.lit("User Deleted"))
    id_checks = b.id_errors("userId", row.uid, True, "a person change needs its userId")
    checks = b.attribute_errors("traits")
    return _change(b, row, ("identify", upsert), delete, event, hash_source, id_checks, checks)


def _object(b: Builder, row: Row) -> Message:
    F = b.F
    anon = F.coalesce(row.anon, F.concat(F.lit("object:"), b.object_type(), F.lit(":"), row.gid))
    traits = obj([("objectTypeId", b.object_type()), *b.fields(b.m.traits)])
    upsert = b.with_json(
        [
            ("type", F.lit("group")),
            *row.common,
            ("anonymousId", anon),
            ("userId", row.uid),
            ("groupId", row.gid),
        ],
        [("traits", with_nulls(traits))],
    )
    delete = b.with_json(
        [
            ("type", F.lit("track")),
            *row.common,
            ("anonymousId", anon),
            ("event", F.lit("Object Deleted")),
            ("properties", _object_ref(b, row)),
        ],
        [],
    )
    event = F.when(row.is_delete, F.lit("Object Deleted"))
    id_checks = b.id_errors("groupId", row.gid, True, "an object change needs its object id")
    checks = b.attribute_errors("traits")
    return _change(b, row, ("group", upsert), delete, event, F.to_json(traits), id_checks, checks)


def _relationship(b: Builder, row: Row) -> Message:
    F = b.F
    rel = obj(
        [
            ("objectTypeId", b.object_type()),
            ("relationshipAttributes", obj(b.fields(b.m.traits))),
        ]
    )
    upsert = b.with_json(
        [("type", F.lit("group")), *row.common, ("userId", row.uid), ("groupId", row.gid)],
        [("traits", with_nulls(rel))],
    )
    delete = b.with_json(
        [
            ("type", F.lit("track")),
            *row.common,
            ("userId", row.uid),
            ("event", F.lit("Relationship Deleted")),
            ("properties", _object_ref(b, row)),
        ],
        [],
    )
    event = F.when(row.is_delete, F.lit("Relationship Deleted"))
    id_checks = b.id_errors("userId", row.uid, True, "a relationship needs its person")
    id_checks += b.id_errors("groupId", row.gid, True, "a relationship needs its object")
    return _change(b, row, ("group", upsert), delete, event, F.to_json(rel), id_checks, [])


def _device(b: Builder, row: Row) -> Message:
    F, m = b.F, b.m
    token = b.id_col(m.device_token)
    platform = b.col(m.device_platform).cast("string") if m.device_platform else F.lit(None)
    device = obj([("token", token), ("type", platform)])
    attributes = obj(b.fields(m.traits))
    hash_source = F.to_json(obj([("device", device), ("p", attributes)]))
    upsert = b.with_json(
        [
            ("type", F.lit("track")),
            *row.common,
            ("userId", row.uid),
            ("event", F.lit("Device Created or Updated")),
            ("context", obj([("device", device)])),
            ("properties", attributes),
        ],
        [],
    )
    delete = b.with_json(
        [
            ("type", F.lit("track")),
            *row.common,
            ("userId", row.uid),
            ("event", F.lit("Device Deleted")),
            ("context", obj([("device", obj([("token", token)]))])),
        ],
        [],
    )
    event = F.when(row.is_delete, F.lit("Device Deleted")).otherwise(
        F.lit("Device Created or Updated")
    )
    id_checks = b.id_errors("userId", row.uid, True, "a device belongs to a person")
    id_checks += b.id_errors("context.device.token", token, True, "a device needs its token")
    return _change(b, row, ("track", upsert), delete, event, hash_source, id_checks, [])


_ENTITIES: dict[str, Callable[[Builder, Row], Message]] = {
    "person": _person,
    "object": _object,
    "relationship": _relationship,
    "device": _device,
}
