"""What Customer.io accepts in one message, declared once: sizes, call types, the semantic events
and their required fields, the email rule, and the code of every rule a row can break.

Two readers use these declarations:

* :mod:`customerio_sink.messages.validators` checks wire-shaped dicts in Python (the client,
  replays);
* :mod:`customerio_sink.spark.mapping` checks source rows in the JVM, as Spark SQL, before a
  message is built.

``tests/spark/test_rules_agree.py`` feeds the same values to both and requires the same verdict.

**Reasons.** Every reason the sink writes for a row it does not send reads
``<field>: <what is wrong> [<rule>]`` — :func:`reason` builds it, :func:`split_reason` (Python)
and :data:`REASON_FIELD_PATTERN` / :data:`REASON_RULE_PATTERN` (SQL, in the ledger) take it
apart into the ``error_field`` and ``error_rule`` columns of the dead-letter table. A rule code
is one of :data:`RULES`; a reason from somewhere else (a 400 from Customer.io, a transport
error) gets its rule from the error class (:data:`RULE_OF_ERROR_CLASS`).

Sizes come from the reference (``customerio-api.md`` §2.5, §6): the Pipelines API takes at most
32 KB per call; the Track API documents the identity and attribute limits that apply once the
data reaches the workspace. They are bytes of UTF-8, not characters.
"""

from __future__ import annotations

import re

__all__ = [
    "CALL_TYPES",
    "COMPLETENESS_RULES",
    "EMAIL",
    "EMAIL_SQL",
    "FUTURE_LIMIT_HOURS",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_NAME_BYTES",
    "MAX_ATTRIBUTE_VALUE_BYTES",
    "MAX_EMAIL_BYTES",
    "MAX_EMAIL_LOCAL_BYTES",
    "MAX_EVENT_DATA_BYTES",
    "MAX_EVENT_NAME_BYTES",
    "MAX_ID_BYTES",
    "MAX_MESSAGE_BYTES",
    "REASON_FIELD_PATTERN",
    "REASON_RULE_PATTERN",
    "RULES",
    "RULE_OF_ERROR_CLASS",
    "SCHEMA_RULES",
    "SEMANTIC_EVENTS",
    "SEMANTIC_FIELDS",
    "TRIGGER_WINDOW_HOURS",
    "is_email",
    "reason",
    "split_reason",
]

# -- sizes -----------------------------------------------------------------------------------

MAX_MESSAGE_BYTES = 32 * 1024
"""One call (a single-endpoint body, or one item of a batch), JSON-encoded. The official client
uses 32 << 10 and accepts exactly 32768 bytes; so do we."""
MAX_ID_BYTES = 150
"""An id (userId, anonymousId, groupId, previousId, messageId), in bytes of UTF-8."""
MAX_EVENT_NAME_BYTES = 100
"""An event name, in bytes of UTF-8."""
MAX_ATTRIBUTES = 300
"""Attributes (traits) on one identify or group call."""
MAX_ATTRIBUTE_NAME_BYTES = 150
"""An attribute name, in bytes of UTF-8."""
MAX_ATTRIBUTE_VALUE_BYTES = 1000
"""An attribute value: strings as UTF-8 bytes, other values as their JSON."""
MAX_EVENT_DATA_BYTES = 100_000
"""The JSON-encoded ``properties`` of one event ("event data 100000 bytes")."""

# -- time ------------------------------------------------------------------------------------

TRIGGER_WINDOW_HOURS = 72
"""Customer.io triggers campaigns from events at most this many hours old: a backfill can hold
back rows inside the window instead of sending them."""
FUTURE_LIMIT_HOURS = 24
"""A timestamp further ahead than this is a dead letter (a wrong unit or time zone, mostly)."""

# -- calls -----------------------------------------------------------------------------------

CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")
"""The calls of the Data Pipelines API, as the ``type`` of a message."""

SEMANTIC_EVENTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "User Deleted": (("userId",),),
    "User Suppressed": (("userId",),),
    "User Unsuppressed": (("userId",),),
    "Device Created or Updated": (("userId",), ("context.device.token",)),
    "Device Deleted": (("userId",), ("context.device.token",)),
    "Relationship Deleted": (("userId",), ("properties.objectId",)),
    "Object Deleted": (("anonymousId",), ("properties.objectId",)),
    "Report Delivery Event": (("properties.deliveryId",), ("properties.metric",)),
    # The spec requires "activityType", a property it never defines; "actionType" is the
    # documented one. Either is accepted.
    "Report Content Event": (("properties.actionType", "properties.activityType"),),
}
"""Customer.io's semantic events and the fields each must carry.

Event name → fields that must be present; each entry is a tuple of alternative dotted paths, one
of which must be there (``context.device.token`` means ``msg["context"]["device"]["token"]``).
Beyond the spec's own required lists, an event must carry the field without which it does
nothing (the object to delete, the delivery and metric to report, the content action), since
Customer.io answers 200 to it and does nothing."""

_Fields = dict[str, tuple[str, tuple[str, ...] | None]]
_DEVICE: _Fields = {
    "context.device.token": ("string", None),
    "context.device.type": ("string", ("ios", "android")),
}
_OBJECT: _Fields = {
    "properties.objectId": ("string", None),
    "properties.objectTypeId": ("integer", None),
}
_CONTENT_ACTIONS: tuple[str, ...] = ("viewed_content", "clicked_content")

SEMANTIC_FIELDS: dict[str, _Fields] = {
    "Device Created or Updated": _DEVICE,
    "Device Deleted": _DEVICE,
    "Relationship Deleted": _OBJECT,
    "Object Deleted": _OBJECT,
    "Report Delivery Event": {
        "properties.deliveryId": ("string", None),
        "properties.metric": ("string", ("delivered", "clicked", "converted", "opened")),
        "properties.recipient": ("string", None),
        "properties.reason": ("string", None),
        "properties.actionValue": ("string", None),
        "properties.href": ("string", None),
    },
    "Report Content Event": {
        "properties.actionType": ("string", _CONTENT_ACTIONS),
        "properties.activityType": ("string", _CONTENT_ACTIONS),
        "properties.contentId": ("integer", None),
        "properties.templateId": ("integer", None),
    },
}
"""Typed fields of the semantic events: event → path → (JSON type, allowed values or None)."""

# -- the email rule ----------------------------------------------------------------------------

MAX_EMAIL_BYTES = 254
"""An email address, in bytes of UTF-8."""
MAX_EMAIL_LOCAL_BYTES = 64
"""The part of an email address before the ``@``, in bytes of UTF-8."""
# No "@", no white space, no control character, in any part; the domain has at least one dot.
# Written so Python's ``re`` and Java's ``Pattern`` read it alike: control characters are listed
# (Python's \s holds \x1c-\x1f, Java's does not), and the anchors differ only in spelling
# (Python: fullmatch; Java: ^…\z, because Java's $ also matches before a final newline).
_NOT = r"@\s\x00-\x1f\x7f"
_EMAIL_BODY = rf"[^{_NOT}]+@[^{_NOT}.]+(?:\.[^{_NOT}.]+)+"
EMAIL = re.compile(_EMAIL_BODY)
"""The email pattern for Python, used with ``fullmatch`` (see :func:`is_email`)."""
EMAIL_SQL = rf"(?U)^(?:{_EMAIL_BODY})\z"
"""The email pattern for Spark's ``rlike`` (Java regex, with Unicode classes as in Python)."""


def is_email(value: str) -> bool:
    """``local@domain.tld`` with no white space or control character, at most 254 bytes, the
    local part at most 64. SQL form: :data:`EMAIL_SQL` plus the same two byte lengths."""
    if EMAIL.fullmatch(value) is None:
        return False
    data = value.encode("utf-8", "surrogatepass")
    return len(data) <= MAX_EMAIL_BYTES and data.index(b"@") <= MAX_EMAIL_LOCAL_BYTES


# -- rule codes and reasons -------------------------------------------------------------------

RULES: dict[str, str] = {
    "required": "the field must be present and not null",
    "not_empty": "ids and event names cannot be empty",
    "type_string": "the field must be a string",
    "type_object": "the field must be a JSON object",
    "type_integer": "the field must be an integer",
    "type_boolean": "the field must be true or false",
    "unknown_type": "the call type must be identify, track, page, screen, group or alias",
    "max_id_bytes": f"ids are at most {MAX_ID_BYTES} bytes of UTF-8",
    "max_event_bytes": f"event names are at most {MAX_EVENT_NAME_BYTES} bytes of UTF-8",
    "max_attributes": f"at most {MAX_ATTRIBUTES} attributes on one call",
    "max_name_bytes": f"attribute names are at most {MAX_ATTRIBUTE_NAME_BYTES} bytes",
    "max_value_bytes": f"attribute values are at most {MAX_ATTRIBUTE_VALUE_BYTES} bytes",
    "max_event_data": f"properties are at most {MAX_EVENT_DATA_BYTES} bytes of JSON",
    "max_message_bytes": f"one message is at most {MAX_MESSAGE_BYTES} bytes of JSON",
    "email_format": f"local@domain.tld, no spaces, at most {MAX_EMAIL_BYTES} bytes",
    "timestamp_format": "an ISO-8601 date-time with an offset, or epoch seconds/milliseconds",
    "timestamp_required": "a backfill sends each row's original time",
    "timestamp_future": f"at most {FUTURE_LIMIT_HOURS} hours in the future",
    "json_object": "a raw JSON column holds exactly one JSON object",
    "utf8": "text must be valid UTF-8",
    "row_id_required": "the row id column identifies each row",
    "enum": "one of the documented values",
    "json_encodable": "a value JSON can hold",
    "finite_number": "a finite number",
    "rejected": "Customer.io answered 400 for this message",
    "unknown": "no rule recorded",
}
"""Every rule a row can break: stable code → what it asks. Validators and mapping use these."""

RULE_OF_ERROR_CLASS: dict[str, str] = {
    "RejectedError": "rejected",
    "PayloadTooLargeError": "max_message_bytes",
}
"""The rule of a reason that carries no ``[rule]`` of its own, by error class."""

COMPLETENESS_RULES = frozenset({"required", "not_empty", "row_id_required", "timestamp_required"})
"""Rules broken by a value that is missing: the quality metric ``completeness`` counts them."""
SCHEMA_RULES = frozenset(
    {
        "type_string",
        "type_object",
        "type_integer",
        "type_boolean",
        "unknown_type",
        "json_object",
        "utf8",
        "timestamp_format",
        "max_id_bytes",
        "max_event_bytes",
        "max_attributes",
        "max_name_bytes",
        "max_value_bytes",
        "max_event_data",
        "max_message_bytes",
    }
)
"""Rules broken by a value of the wrong shape or size: ``schema_compliance`` counts them."""

REASON_FIELD_PATTERN = r"^([^\s:][^:]*?): "
"""The field of a reason (the text before the first ``": "``), for ``regexp_extract``."""
REASON_RULE_PATTERN = r"\[([a-z0-9_]+)\]$"
"""The rule code of a reason (the ``[code]`` that ends it), for ``regexp_extract``."""

_FIELD = re.compile(REASON_FIELD_PATTERN)
_RULE = re.compile(REASON_RULE_PATTERN)


def reason(field: str, detail: str, rule: str) -> str:
    """``<field>: <detail> [<rule>]`` — the one form of a reason; ``rule`` must be in RULES."""
    if rule not in RULES:
        raise ValueError(
            f"unknown rule code {rule!r}; add it to customerio_sink.messages.rules.RULES"
        )
    return f"{field}: {detail} [{rule}]"


def split_reason(text: str | None, error_class: str | None = None) -> tuple[str | None, str]:
    """``(error_field, error_rule)`` of a reason (the ledger does the same in SQL)."""
    field = _FIELD.match(text or "")
    rule = _RULE.search(text or "")
    code = rule.group(1) if rule else RULE_OF_ERROR_CLASS.get(error_class or "", "unknown")
    return (field.group(1) if field else None), code
