"""The base of every catalogue event: a pydantic model of the properties, its rules, its builder.

A catalogue model holds one event's *properties* under their wire names (snake_case, as the
Segment-derived specs spell them). Types are checked by pydantic; every business rule is a
:mod:`~customerio_sink.catalog.constraints` rule listed in ``RULES``, so the Python verdict and
the SQL constraints come from the same declaration. Properties the spec does not name are
allowed and passed through as they are (the specs invite custom properties).

Input may be a mapping, a pydantic object or a Spark ``Row`` (anything with ``asDict``). The
identity and call fields — ``user_id``/``userId``, ``anonymous_id``/``anonymousId``,
``message_id``/``messageId``, ``timestamp``, ``context``, ``integrations``, ``event`` — are
taken out of the input before the rest is read as properties; ``None`` means absent. Failures
raise :class:`~customerio_sink.errors.ValidationError` carrying every violation.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, model_validator

from customerio_sink.catalog.constraints import Required, Rule, check_rules
from customerio_sink.errors import ValidationError, Violation
from customerio_sink.messages.models import Track

__all__ = [
    "IDENTITY_RULE",
    "CatalogEvent",
    "Family",
    "Item",
    "as_row",
    "spark_ddl",
    "split_row",
]

Family = Literal["ab_test", "ecommerce", "email", "live_chat", "mobile", "video"]

IDENTITY_RULE = Required("user_id|anonymous_id")
"""Every catalogue call is a person's ``track``: it needs a ``userId`` or an ``anonymousId``."""

# Input keys that are not properties: the call's own fields, in both spellings.
_CALL_KEYS = {
    "user_id": "user_id",
    "userId": "user_id",
    "anonymous_id": "anonymous_id",
    "anonymousId": "anonymous_id",
    "message_id": "message_id",
    "messageId": "message_id",
    "timestamp": "timestamp",
    "context": "context",
    "integrations": "integrations",
    "event": "event",
    "type": "type",
}

# pydantic error types → rule codes (anything else keeps pydantic's type as the code).
_TYPE_RULES = {
    "missing": "required",
    "string_type": "type_string",
    "int_type": "type_integer",
    "int_parsing": "type_integer",
    "int_from_float": "type_integer",
    "float_type": "type_number",
    "float_parsing": "type_number",
    "decimal_type": "type_number",
    "decimal_parsing": "type_number",
    "finite_number": "finite_number",
    "bool_type": "type_boolean",
    "bool_parsing": "type_boolean",
    "list_type": "type_array",
    "dict_type": "type_object",
    "model_type": "type_object",
}


def _type_violations(exc: pydantic.ValidationError) -> list[Violation]:
    out = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        # products.2.price → products[2].price, as rule violations name array items.
        field = ""
        for part in err["loc"]:
            field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else part)
        rule = _TYPE_RULES.get(err["type"], err["type"])
        out.append(Violation(field or "properties", rule, "wrong type or missing"))
    return out


def as_row(data: Any) -> dict[str, Any]:
    """A plain dict of ``data``: a mapping, a pydantic object, or a Spark ``Row``."""
    if isinstance(data, BaseModel):
        return data.model_dump(exclude_none=True)
    if hasattr(data, "asDict"):  # a pyspark Row, read without importing pyspark
        return dict(data.asDict(recursive=True))
    if isinstance(data, Mapping):
        return dict(data)
    raise ValidationError("properties", "type_object", "a mapping, a pydantic model or a Row")


def split_row(
    row: Mapping[str, Any], own: Collection[str] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(call fields, properties)`` of a row; ``None`` values are dropped from both.

    Keys in ``own`` are properties even where they spell a call field (a live chat message's
    ``message_id`` is the chat message, not the call's ``messageId``).
    """
    call: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for key, value in row.items():
        if value is None:
            continue
        if key in _CALL_KEYS and key not in own:
            call[_CALL_KEYS[key]] = value
        else:
            properties[key] = value
    return call, properties


class Item(BaseModel):
    """A nested object of a property (a product, a filter): typed, extra keys kept."""

    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)


class CatalogEvent(Item):
    """One semantic event's properties. Subclasses set ``EVENT``, ``FAMILY`` and ``RULES``.

    ``CONFIRMED`` is False for events taken from Segment's spec that Customer.io does not list
    itself. ``CONTEXT`` maps property names that travel in ``context`` instead (dotted path).
    """

    EVENT: ClassVar[str] = ""
    FAMILY: ClassVar[Family]
    RULES: ClassVar[tuple[Rule, ...]] = ()
    CONFIRMED: ClassVar[bool] = True
    CONTEXT: ClassVar[Mapping[str, str]] = {}

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise ValidationError.from_violations(_type_violations(exc)) from None

    @model_validator(mode="after")
    def _check_rules(self) -> CatalogEvent:
        violations = check_rules(self.RULES, self.row())
        if violations:
            raise ValidationError.from_violations(violations)
        return self

    def row(self) -> dict[str, Any]:
        """The properties as a flat row (absent fields left out; ``Decimal`` kept)."""
        return self.model_dump(exclude_none=True)

    @classmethod
    def parse(cls, data: Any) -> CatalogEvent:
        """The model of ``data`` (call fields are ignored); raises ``ValidationError``."""
        if isinstance(data, cls):
            return data
        _, properties = split_row(as_row(data), cls.model_fields)
        return cls(**properties)

    @classmethod
    def check(cls, data: Any) -> list[Violation]:
        """Every violation of ``data`` — identity, types and rules — without raising."""
        call, properties = split_row(as_row(data), cls.model_fields)
        out = IDENTITY_RULE.violations(call)
        try:
            cls(**properties)
        except ValidationError as exc:
            out += exc.violations
        return out

    @classmethod
    def build_call(cls, data: Any, **call: Any) -> dict[str, Any]:
        """The ``track`` call for ``data`` as a wire dict, like
        :mod:`customerio_sink.messages.models`.

        ``call`` may give ``user_id``, ``anonymous_id``, ``message_id``, ``timestamp``,
        ``context`` and ``integrations``; they win over the same fields in ``data``. The
        message is checked by the package's message rules too (ids, sizes); raises
        ``ValidationError``. ``messageId`` stays absent unless given (the client fills it).
        """
        row = as_row(data)
        given, _ = split_row(row, cls.model_fields)
        given.update({k: v for k, v in call.items() if v is not None})
        event = given.pop("event", cls.EVENT)
        given.pop("type", None)
        if event != cls.EVENT:
            raise ValidationError("event", "enum", f"this builder makes {cls.EVENT!r}")
        model = cls.parse(data)
        if "user_id" not in given and "anonymous_id" not in given:
            raise ValidationError("user_id|anonymous_id", "required", IDENTITY_RULE.reason)
        properties, context = model._wire_properties(given.pop("context", None))
        if context is not None:
            given["context"] = context
        return Track(event=cls.EVENT, properties=properties, **given).to_wire()

    def _wire_properties(
        self, context: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        properties = self.row()
        moved = {name: properties.pop(name) for name in self.CONTEXT if name in properties}
        if not moved:
            return properties, dict(context) if context is not None else None
        merged: dict[str, Any] = dict(context or {})
        for name, value in moved.items():
            *parents, leaf = self.CONTEXT[name].split(".")
            node = merged
            for parent in parents:
                node[parent] = dict(node.get(parent) or {})
                node = node[parent]
            node[leaf] = value
        return properties, merged


# -- Spark schema of a model (pure strings: no pyspark here) ------------------------------------

_SCALARS: dict[Any, str] = {
    str: "STRING",
    int: "BIGINT",
    float: "DOUBLE",
    bool: "BOOLEAN",
    Decimal: "DECIMAL(38,9)",
}


def _ddl_type(annotation: Any) -> str | None:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        if len(args) == 1:
            return _ddl_type(args[0])
        # A string or an object (a search query, an ad id or ids): the table holds the string.
        return "STRING" if str in args else None
    if origin is list:
        inner = _ddl_type(args[0]) if args else None
        return f"ARRAY<{inner}>" if inner else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"STRUCT<{_ddl_fields(annotation, ':')}>"
    return _SCALARS.get(annotation)


def _ddl_fields(model: type[BaseModel], separator: str) -> str:
    fields = []
    for name, info in model.model_fields.items():
        kind = _ddl_type(info.annotation)
        if kind is not None:
            fields.append(f"`{name}`{separator} {kind}" if separator else f"`{name}` {kind}")
    return ", ".join(fields)


def spark_ddl(model: type[CatalogEvent]) -> str:
    """The Spark DDL schema of a table of ``model`` rows: identity columns, then properties.

    Properties of free shape (objects, strings-or-objects) have no column; the rules never
    read them.
    """
    own = _ddl_fields(model, "")
    return "`user_id` STRING, `anonymous_id` STRING" + (f", {own}" if own else "")
