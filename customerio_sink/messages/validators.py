"""Message rules, written once, as plain functions over wire-shaped dicts.

This is the fast path for bulk use: ``check_message(d)`` looks at a camelCase message dict (what
goes on the wire) and returns a list of :class:`~customerio_sink.errors.Violation` — no model is
built, nothing is raised. The pydantic models in :mod:`customerio_sink.messages.models` call the
same
function, so a rule lives in exactly one place.

Rules (codes, limits and semantic events in :mod:`customerio_sink.messages.rules`):

=====================  ========================================================================
rule                   meaning
=====================  ========================================================================
``required``           the field must be present (and not null); ``a or b`` names alternatives
``type_string`` ...    the field must have this JSON type (``type_object``, ``type_integer`` ...)
``not_empty``          ids and event names cannot be empty strings
``max_id_bytes``       ids are at most 150 bytes of UTF-8
``max_event_bytes``    event names are at most 100 bytes of UTF-8
``timestamp_format``   an ISO-8601 date-time with an offset (``Z`` or ``+hh:mm``)
``email_format``       ``local@domain.tld``, no spaces, at most 254 bytes
``max_attributes``     at most 300 traits on one identify
``max_name_bytes``     attribute names are at most 150 bytes
``max_value_bytes``    attribute values are at most 1000 bytes (strings as UTF-8, others as JSON)
``max_event_data``     ``properties`` at most 100,000 bytes of JSON
``max_message_bytes``  the whole message at most 32,768 bytes of JSON
``enum``               one of the documented values (device type, delivery metric, ...)
``json_encodable``     a value JSON cannot hold (an object, bytes, an integer over 64 bits)
``finite_number``      a ``Decimal`` NaN or infinity
``unknown_type``       ``type`` is not identify/track/page/screen/group/alias
=====================  ========================================================================

A violation names the field and the rule, never the value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from customerio_sink.errors import ValidationError, Violation
from customerio_sink.messages import rules
from customerio_sink.messages.encoding import encode, parse_timestamp

__all__ = [
    "MESSAGE_TYPES",
    "SEMANTIC_EVENTS",
    "check_attributes",
    "check_email",
    "check_event_name",
    "check_id",
    "check_message",
    "check_timestamp",
    "semantic_violations",
    "validate_message",
]

MESSAGE_TYPES = frozenset(rules.CALL_TYPES)
# The semantic events and their required/typed fields live in customerio_sink.messages.rules (the
# Spark
# mapping reads the same declarations).
SEMANTIC_EVENTS = rules.SEMANTIC_EVENTS
_SEMANTIC_FIELDS = rules.SEMANTIC_FIELDS
_NAME_IN_FIELD = 40  # attribute names are schema, not data, but keep field paths short

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "object": (Mapping,),
    "integer": (int,),
    "boolean": (bool,),
}


def _utf8_len(text: str) -> int:
    # A UTF-8 character is at most 4 bytes: skip the encode when even the worst case fits.
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _is_type(value: Any, json_type: str) -> bool:
    if json_type == "integer" and isinstance(value, bool):
        return False
    return isinstance(value, _JSON_TYPES[json_type])


def check_id(value: Any, field: str) -> Violation | None:
    """An id (userId, anonymousId, groupId, previousId, messageId): non-empty, ≤150 bytes."""
    if not isinstance(value, str):
        return Violation(field, "type_string", "ids are strings")
    if not value:
        return Violation(field, "not_empty", "ids cannot be empty")
    if len(value) * 4 > rules.MAX_ID_BYTES and _utf8_len(value) > rules.MAX_ID_BYTES:
        return Violation(field, "max_id_bytes", f"at most {rules.MAX_ID_BYTES} bytes")
    return None


def check_event_name(value: Any, field: str = "event") -> Violation | None:
    """An event name: a non-empty string of at most 100 bytes."""
    if not isinstance(value, str):
        return Violation(field, "type_string", "event names are strings")
    if not value:
        return Violation(field, "not_empty", "event names cannot be empty")
    if len(value) * 4 > rules.MAX_EVENT_NAME_BYTES and (
        _utf8_len(value) > rules.MAX_EVENT_NAME_BYTES
    ):
        return Violation(field, "max_event_bytes", f"at most {rules.MAX_EVENT_NAME_BYTES} bytes")
    return None


def check_timestamp(value: Any, field: str = "timestamp") -> Violation | None:
    """A timestamp: a ``datetime``/``date`` object, or an ISO-8601 string with an offset."""
    if isinstance(value, date):
        return None
    try:
        parse_timestamp(value)
    except ValueError:
        return Violation(field, "timestamp_format", "ISO-8601 date-time with an offset")
    return None


def check_email(value: Any, field: str = "traits.email") -> Violation | None:
    """An email address: ``local@domain.tld`` without spaces, at most 254 bytes
    (:func:`customerio_sink.messages.rules.is_email`)."""
    if not isinstance(value, str):
        return Violation(field, "type_string", "emails are strings")
    if not rules.is_email(value):
        return Violation(field, "email_format", "expected local@domain.tld")
    return None


def _field_for(prefix: str, name: str) -> str:
    short = name if len(name) <= _NAME_IN_FIELD else name[:_NAME_IN_FIELD] + "..."
    return f"{prefix}.{short}"


def check_attributes(traits: Mapping[Any, Any], field: str = "traits") -> list[Violation]:
    """Person attributes: ≤300 of them, names ≤150 bytes, each value ≤1000 bytes."""
    out: list[Violation] = []
    if len(traits) > rules.MAX_ATTRIBUTES:
        out.append(Violation(field, "max_attributes", f"at most {rules.MAX_ATTRIBUTES}"))
    for name, value in traits.items():
        key = name if isinstance(name, str) else str(name)
        if len(key) * 4 > rules.MAX_ATTRIBUTE_NAME_BYTES and (
            _utf8_len(key) > rules.MAX_ATTRIBUTE_NAME_BYTES
        ):
            out.append(
                Violation(
                    _field_for(field, key),
                    "max_name_bytes",
                    f"names at most {rules.MAX_ATTRIBUTE_NAME_BYTES} bytes",
                )
            )
        if isinstance(value, str):
            if len(value) * 4 <= rules.MAX_ATTRIBUTE_VALUE_BYTES:
                continue
            size = _utf8_len(value)
        elif value is None or isinstance(value, bool | int | float):
            continue
        else:
            try:
                size = len(encode(value))
            except ValidationError as exc:
                out.append(Violation(_field_for(field, key), exc.rule, "not JSON-encodable"))
                continue
        if size > rules.MAX_ATTRIBUTE_VALUE_BYTES:
            out.append(
                Violation(
                    _field_for(field, key),
                    "max_value_bytes",
                    f"values at most {rules.MAX_ATTRIBUTE_VALUE_BYTES} bytes",
                )
            )
    return out


def _get_path(msg: Mapping[str, Any], path: str) -> Any:
    node: Any = msg
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def semantic_violations(msg: Mapping[str, Any], event: str) -> list[Violation]:
    """The rules of Customer.io's semantic event ``event`` (a key of ``SEMANTIC_EVENTS``) that
    ``msg`` breaks, in :func:`check_message`'s order."""
    out: list[Violation] = []
    _check_semantic(msg, event, out)
    return out


def _check_semantic(msg: Mapping[str, Any], event: str, out: list[Violation]) -> None:
    for alternatives in SEMANTIC_EVENTS[event]:
        if all(_get_path(msg, path) is None for path in alternatives):
            out.append(Violation(" or ".join(alternatives), "required", f"{event!r} needs it"))
    for path, (json_type, allowed) in _SEMANTIC_FIELDS.get(event, {}).items():
        value = _get_path(msg, path)
        if value is None:
            continue
        if not _is_type(value, json_type):
            out.append(Violation(path, f"type_{json_type}", f"{event!r} wants a {json_type}"))
        elif allowed is not None and value not in allowed:
            out.append(Violation(path, "enum", "one of " + ", ".join(allowed)))


def _check_object(msg: Mapping[str, Any], field: str, out: list[Violation]) -> Any:
    value = msg.get(field)
    if value is not None and not isinstance(value, Mapping):
        out.append(Violation(field, "type_object", "must be a JSON object"))
        return None
    return value


def _check_ids(msg: Mapping[str, Any], fields: tuple[str, ...], out: list[Violation]) -> None:
    for field in fields:
        value = msg.get(field)
        if value is not None and (bad := check_id(value, field)):
            out.append(bad)


def _check_envelope(msg: Mapping[str, Any], kind: str, out: list[Violation]) -> None:
    """What every call shares: its ids, timestamps, ``context`` and ``integrations``."""
    traits = msg.get("traits")
    # "you can pass an empty userId ... and identify people by their email trait" (§3.2).
    by_email = (
        kind == "identify"
        and msg.get("userId") == ""
        and isinstance(traits, Mapping)
        and isinstance(traits.get("email"), str)
    )
    _check_ids(
        msg,
        ("anonymousId", "messageId") if by_email else ("userId", "anonymousId", "messageId"),
        out,
    )
    for field in ("timestamp", "sentAt", "originalTimestamp"):
        value = msg.get(field)
        if value is not None and (bad := check_timestamp(value, field)):
            out.append(bad)
    _check_object(msg, "context", out)
    integrations = _check_object(msg, "integrations", out)
    if integrations and not all(isinstance(v, bool) for v in integrations.values()):
        out.append(Violation("integrations", "type_boolean", "integration switches are booleans"))


def _check_identify(msg: Mapping[str, Any], has_person: bool, out: list[Violation]) -> None:
    if not has_person:
        out.append(Violation("userId", "required", "userId or anonymousId"))
    traits = _check_object(msg, "traits", out)
    if traits:
        out.extend(check_attributes(traits))
        email = traits.get("email")
        if email is not None and (bad := check_email(email)):
            out.append(bad)


def _check_track(msg: Mapping[str, Any], has_person: bool, out: list[Violation]) -> None:
    event = msg.get("event")
    if event is None:
        out.append(Violation("event", "required", "track calls name their event"))
    elif bad := check_event_name(event):
        out.append(bad)
    _check_object(msg, "properties", out)
    if isinstance(event, str) and event in SEMANTIC_EVENTS:
        _check_semantic(msg, event, out)
    elif not has_person and msg.get("groupId") is None:
        out.append(Violation("userId", "required", "userId, anonymousId or groupId"))
    _check_ids(msg, ("groupId",), out)


def _check_page(msg: Mapping[str, Any], has_person: bool, out: list[Violation]) -> None:
    """``page`` and ``screen`` calls."""
    if not has_person:
        out.append(Violation("userId", "required", "userId or anonymousId"))
    name = msg.get("name")
    if name is not None and not isinstance(name, str):
        out.append(Violation("name", "type_string", "page and screen names are strings"))
    _check_object(msg, "properties", out)


def _check_group(msg: Mapping[str, Any], has_person: bool, out: list[Violation]) -> None:
    if msg.get("groupId") is None:
        out.append(Violation("groupId", "required", "the object's id"))
    # The spec's batch-item schema relates the object to a person; without one the call
    # has nobody to relate.
    if not has_person:
        out.append(Violation("userId", "required", "userId or anonymousId"))
    _check_ids(msg, ("groupId",), out)
    _check_object(msg, "traits", out)


def _check_alias(msg: Mapping[str, Any], has_person: bool, out: list[Violation]) -> None:
    for field in ("previousId", "userId"):
        if msg.get(field) is None:
            out.append(Violation(field, "required", "alias needs previousId and userId"))
    _check_ids(msg, ("previousId",), out)


#: The checks of each call type's own fields (after the envelope's).
_CALL_CHECKS: dict[str, Callable[[Mapping[str, Any], bool, list[Violation]], None]] = {
    "identify": _check_identify,
    "track": _check_track,
    "page": _check_page,
    "screen": _check_page,
    "group": _check_group,
    "alias": _check_alias,
}


def check_message(
    msg: Mapping[str, Any], *, size: int | None = None, message_type: str | None = None
) -> list[Violation]:
    """Every rule ``msg`` breaks, in field order; an empty list means it may be sent.

    ``msg`` is the wire dict (camelCase keys). ``message_type`` stands in for a missing ``type``
    (single endpoints imply it). ``size`` is the message's JSON size in bytes when the caller
    has already encoded it; otherwise it is measured here (one ``orjson`` encode).
    """
    if not isinstance(msg, Mapping):
        return [Violation("message", "type_object", "a message is a JSON object")]
    out: list[Violation] = []
    kind = msg.get("type", message_type)
    if kind not in MESSAGE_TYPES:
        out.append(Violation("type", "unknown_type", "identify/track/page/screen/group/alias"))
        return out
    _check_envelope(msg, kind, out)
    has_person = msg.get("userId") is not None or msg.get("anonymousId") is not None
    _CALL_CHECKS[kind](msg, has_person, out)
    if size is None:
        try:
            size = len(encode(msg))
        except ValidationError as exc:
            out.append(Violation("message", exc.rule, "holds a value JSON cannot encode"))
            return out
    if size > rules.MAX_MESSAGE_BYTES:
        out.append(
            Violation("message", "max_message_bytes", f"at most {rules.MAX_MESSAGE_BYTES} bytes")
        )
    # The event data is part of the message, so it can only pass 100 KB if the message does.
    properties = msg.get("properties")
    if (
        size > rules.MAX_EVENT_DATA_BYTES
        and isinstance(properties, Mapping)
        and len(encode(properties)) > rules.MAX_EVENT_DATA_BYTES
    ):
        out.append(
            Violation("properties", "max_event_data", f"at most {rules.MAX_EVENT_DATA_BYTES} bytes")
        )
    return out


def validate_message(
    msg: Mapping[str, Any], *, size: int | None = None, message_type: str | None = None
) -> None:
    """:func:`check_message`, raising :class:`ValidationError` for the first violation."""
    violations = check_message(msg, size=size, message_type=message_type)
    if violations:
        message_id = msg.get("messageId") if isinstance(msg, Mapping) else None
        ids = (message_id,) if isinstance(message_id, str) else ()
        raise ValidationError.from_violations(violations, message_ids=ids)
