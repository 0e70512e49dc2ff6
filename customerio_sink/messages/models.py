"""Pydantic models of the six Data Pipelines calls: identify, track, page, screen, group, alias.

Fields are snake_case in Python and camelCase on the wire (``user_id`` ↔ ``userId``); both
spellings are accepted on input. ``to_wire()`` gives exactly the JSON object Customer.io gets:
absent fields are left out (``None`` never becomes ``null`` at the top level, while ``None``
inside ``traits`` stays ``null`` because that is how an attribute is cleared), timestamps are
ISO-8601 with milliseconds and an offset, and ``to_json()`` writes ``Decimal`` as a JSON number.

Every model checks itself with :func:`customerio_sink.messages.validators.check_message` once
built, so
the rules are the same ones the bulk path applies to plain dicts. Every failure — a wrong type
as well as a broken limit — raises :class:`customerio_sink.errors.ValidationError` naming the
field and the rule; a pydantic error never escapes (its text would quote the input).

``messageId`` and ``timestamp`` stay absent unless given: the client fills them when it sends.
The Customer.io semantic events (``User Deleted`` and friends) are in
:mod:`customerio_sink.messages.semantic`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, ClassVar

import pydantic
from pydantic import BaseModel, ConfigDict, StrictBool, field_validator, model_validator
from pydantic.alias_generators import to_camel

from customerio_sink.errors import ValidationError, Violation
from customerio_sink.messages.encoding import encode, format_timestamp
from customerio_sink.messages.validators import check_message

__all__ = [
    "Alias",
    "Group",
    "Identify",
    "Message",
    "Page",
    "Screen",
    "Track",
    "parse_message",
]

# pydantic error types → our rule names (anything else keeps pydantic's type as the rule).
_RULES = {
    "missing": "required",
    "string_type": "type_string",
    "dict_type": "type_object",
    "int_type": "type_integer",
    "int_parsing": "type_integer",
    "bool_type": "type_boolean",
    "bool_parsing": "type_boolean",
    "literal_error": "enum",
    "extra_forbidden": "unknown_field",
}


def _violations_from_pydantic(exc: pydantic.ValidationError) -> list[Violation]:
    out = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        # Name fields as the wire does (userId, not user_id), like check_message's violations.
        loc = [str(part) for part in err["loc"]]
        if loc:
            loc[0] = to_camel(loc[0])
        field = ".".join(loc) or "message"
        out.append(Violation(field, _RULES.get(err["type"], err["type"]), ""))
    return out


def stringify_id(value: Any) -> Any:
    """Numbers become strings, as the official client sends ids; anything else is unchanged."""
    # bools are ints in Python, but not ids.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _wire_time(value: datetime | date | str) -> str:
    return value if isinstance(value, str) else format_timestamp(value)


class Message(BaseModel):
    """Fields every call shares. Subclasses set ``TYPE`` and add their own."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    TYPE: ClassVar[str] = ""

    user_id: str | None = None
    anonymous_id: str | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, StrictBool] | None = None
    timestamp: datetime | date | str | None = None
    message_id: str | None = None

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise ValidationError.from_violations(_violations_from_pydantic(exc)) from None

    @field_validator("user_id", "anonymous_id", "message_id", mode="before")
    @classmethod
    def _ids_as_strings(cls, value: Any) -> Any:
        return stringify_id(value)

    @model_validator(mode="after")
    def _check_rules(self) -> Message:
        violations = check_message(self.to_wire())
        if violations:
            ids = (self.message_id,) if self.message_id else ()
            raise ValidationError.from_violations(violations, message_ids=ids)
        return self

    def _fields(self, wire: dict[str, Any]) -> None:
        """Add the type-specific fields (subclasses)."""

    def _wire_context(self) -> dict[str, Any] | None:
        return self.context

    def to_wire(self) -> dict[str, Any]:
        """The message as Customer.io receives it: camelCase keys, absent fields left out."""
        wire: dict[str, Any] = {"type": self.TYPE}
        if self.user_id is not None:
            wire["userId"] = self.user_id
        if self.anonymous_id is not None:
            wire["anonymousId"] = self.anonymous_id
        self._fields(wire)
        context = self._wire_context()
        if context is not None:
            wire["context"] = context
        if self.integrations is not None:
            wire["integrations"] = self.integrations
        if self.timestamp is not None:
            wire["timestamp"] = _wire_time(self.timestamp)
        if self.message_id is not None:
            wire["messageId"] = self.message_id
        return wire

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON of :meth:`to_wire` (``Decimal`` kept exact)."""
        return encode(self.to_wire())


class Identify(Message):
    """Create or update a person (``userId`` or ``anonymousId``) with ``traits``."""

    TYPE: ClassVar[str] = "identify"
    traits: dict[str, Any] | None = None

    def _fields(self, wire: dict[str, Any]) -> None:
        if self.traits is not None:
            wire["traits"] = self.traits


class Track(Message):
    """Record the event ``event`` (≤100 bytes) with ``properties`` for a person."""

    TYPE: ClassVar[str] = "track"
    event: str
    properties: dict[str, Any] | None = None
    group_id: str | None = None

    @field_validator("group_id", mode="before")
    @classmethod
    def _group_as_string(cls, value: Any) -> Any:
        return stringify_id(value)

    def _fields(self, wire: dict[str, Any]) -> None:
        if self.group_id is not None:
            wire["groupId"] = self.group_id
        wire["event"] = self.event
        if self.properties is not None:
            wire["properties"] = self.properties


class Page(Message):
    """A page view. ``category`` travels as ``properties.category``, where the spec puts it."""

    TYPE: ClassVar[str] = "page"
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] | None = None

    def _fields(self, wire: dict[str, Any]) -> None:
        if self.name is not None:
            wire["name"] = self.name
        properties = dict(self.properties or {})
        if self.category is not None:
            properties.setdefault("category", self.category)
        if properties or self.properties is not None:
            wire["properties"] = properties


class Screen(Message):
    """A mobile screen view."""

    TYPE: ClassVar[str] = "screen"
    name: str | None = None
    properties: dict[str, Any] | None = None

    def _fields(self, wire: dict[str, Any]) -> None:
        if self.name is not None:
            wire["name"] = self.name
        if self.properties is not None:
            wire["properties"] = self.properties


class Group(Message):
    """Create or update an object (``groupId``) and relate the person to it.

    ``traits`` are the object's attributes; ``traits.objectTypeId`` picks the object type
    (Customer.io assumes 1 when it is absent) and ``traits.relationshipAttributes`` describe the
    person↔object relationship.
    """

    TYPE: ClassVar[str] = "group"
    group_id: str
    traits: dict[str, Any] | None = None

    @field_validator("group_id", mode="before")
    @classmethod
    def _group_as_string(cls, value: Any) -> Any:
        return stringify_id(value)

    def _fields(self, wire: dict[str, Any]) -> None:
        wire["groupId"] = self.group_id
        if self.traits is not None:
            wire["traits"] = self.traits


class Alias(Message):
    """Merge ``previous_id`` (an anonymousId or userId) into the profile ``user_id``."""

    TYPE: ClassVar[str] = "alias"
    previous_id: str

    @field_validator("previous_id", mode="before")
    @classmethod
    def _previous_as_string(cls, value: Any) -> Any:
        return stringify_id(value)

    def _fields(self, wire: dict[str, Any]) -> None:
        wire["previousId"] = self.previous_id


MODELS: dict[str, type[Message]] = {
    model.TYPE: model for model in (Identify, Track, Page, Screen, Group, Alias)
}

# Set by the server or the batch envelope; accepted on input, never part of a model.
_IGNORED_ON_INPUT = ("type", "sentAt", "receivedAt", "version", "originalTimestamp")


def parse_message(data: Mapping[str, Any]) -> Message:
    """Build the model for a wire dict, chosen by its ``type``.

    Raises :class:`ValidationError` (rule ``unknown_type``) for a missing or unknown type.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("message", "type_object", "a message is a JSON object")
    kind = data.get("type")
    model = MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ValidationError("type", "unknown_type", "identify/track/page/screen/group/alias")
    fields = {key: value for key, value in data.items() if key not in _IGNORED_ON_INPUT}
    return model(**fields)
