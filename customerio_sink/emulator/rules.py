"""Built-in message rules: always checked first, and all that is checked without the OpenAPI file.

They give short, exact reasons for the mistakes a sink actually makes (a missing id, a semantic
event without its key field). Rules deliberately stricter than the OpenAPI file, each because
the call would otherwise be accepted and silently do nothing:

* ids (``userId``/``anonymousId``/``groupId``/``previousId``) must be non-empty strings — except
  that ``identify`` may carry an empty ``userId`` next to ``traits.email`` (documented);
* ``group`` needs ``groupId`` and a ``userId`` or ``anonymousId`` (as the file's batch-item
  schema says, though its ``group`` schema does not);
* ``Object Deleted`` needs ``properties.objectId`` (listed in the file, not required by it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CALL_TYPES", "SEMANTIC_EVENTS", "SemanticEvent", "builtin_errors", "get_path"]

CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")

_STRING_FIELDS = (
    "userId",
    "anonymousId",
    "previousId",
    "groupId",
    "event",
    "name",
    "category",
    "messageId",
    "timestamp",
    "sentAt",
    "originalTimestamp",
)
_OBJECT_FIELDS = ("traits", "properties", "context", "integrations")


@dataclass(frozen=True)
class SemanticEvent:
    """A Customer.io semantic ``track`` event: its OpenAPI schema and required field paths.

    Each entry of ``required`` is a tuple of alternative dotted paths; one must be present.
    """

    schema: str
    required: tuple[tuple[str, ...], ...]


SEMANTIC_EVENTS: dict[str, SemanticEvent] = {
    "Device Created or Updated": SemanticEvent(
        "create_update_device", (("userId",), ("context.device.token",))
    ),
    "Device Deleted": SemanticEvent("delete_device", (("userId",), ("context.device.token",))),
    "User Deleted": SemanticEvent("delete_person", (("userId",),)),
    "User Suppressed": SemanticEvent("suppress_person", (("userId",),)),
    "User Unsuppressed": SemanticEvent("unsuppress_person", (("userId",),)),
    "Relationship Deleted": SemanticEvent(
        "relationship_deleted", (("userId",), ("properties.objectId",))
    ),
    "Object Deleted": SemanticEvent("group_deleted", (("anonymousId",), ("properties.objectId",))),
    "Report Delivery Event": SemanticEvent("report_delivery_event", (("properties",),)),
    "Report Content Event": SemanticEvent(
        "report_content_event",
        (("properties",), ("properties.actionType", "properties.activityType")),
    ),
}
"""Semantic event name → the OpenAPI schema it is checked against and the fields it requires."""

_MISSING = object()


def get_path(message: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted path, or ``None`` when any step is missing or not an object."""
    value: Any = message
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _present(value: Any) -> bool:
    return value is not None and value != ""


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), type(value).__name__
    )


def _has_id(message: Mapping[str, Any], *names: str) -> bool:
    return any(isinstance(message.get(n), str) and message.get(n) != "" for n in names)


def builtin_errors(message: Mapping[str, Any], kind: str) -> list[str]:
    """Reasons ``message`` (nulls already dropped) breaks the built-in rules for call ``kind``."""
    errors: list[str] = []
    for name in _STRING_FIELDS:
        value = message.get(name, _MISSING)
        if value is not _MISSING and not isinstance(value, str):
            errors.append(f"'{name}' must be a string, not {_type_name(value)}")
    for name in _OBJECT_FIELDS:
        value = message.get(name, _MISSING)
        if value is not _MISSING and not isinstance(value, dict):
            errors.append(f"'{name}' must be an object, not {_type_name(value)}")
    if errors:
        return errors

    if kind == "alias":
        errors += [
            f"'{n}' is a required property"
            for n in ("previousId", "userId")
            if not _has_id(message, n)
        ]
    elif kind == "group":
        if not _has_id(message, "groupId"):
            errors.append("'groupId' is a required property")
        if not _has_id(message, "userId", "anonymousId"):
            errors.append("'userId' or 'anonymousId' is required")
    elif kind == "track":
        event = message.get("event")
        if not event:
            errors.append("'event' is a required property")
        elif event in SEMANTIC_EVENTS:
            for alternatives in SEMANTIC_EVENTS[event].required:
                values = {path: get_path(message, path) for path in alternatives}
                if not any(_present(v) for v in values.values()):
                    names = " or ".join(f"'{p}'" for p in alternatives)
                    errors.append(f"{names} is required for event '{event}'")
                    continue
                errors += [
                    f"'{path}' must be a string, not {_type_name(value)}"
                    for path, value in values.items()
                    if path != "properties" and _present(value) and not isinstance(value, str)
                ]
        elif not _has_id(message, "userId", "anonymousId", "groupId"):
            errors.append("'userId' or 'anonymousId' is required")
    elif kind == "identify":
        traits = message.get("traits") or {}
        by_email = message.get("userId") == "" and isinstance(traits.get("email"), str)
        if not by_email and not _has_id(message, "userId", "anonymousId"):
            errors.append("'userId' or 'anonymousId' is required")
    elif kind in ("page", "screen") and not _has_id(message, "userId", "anonymousId"):
        errors.append("'userId' or 'anonymousId' is required")
    return errors
