"""The catalogue: every semantic event of the six families, by name, with its rules.

:data:`CATALOG` maps an event name to its model; the model's ``build_call`` is the event's builder,
its ``RULES`` (plus :data:`~customerio_sink.catalog.base.IDENTITY_RULE`) the rules that
:func:`constraints` renders as SQL. Customer.io's own semantic events (``User Deleted`` and
friends) are in :mod:`customerio_sink.messages.semantic`, not here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from customerio_sink.catalog import ab_test, ecommerce, email, live_chat, mobile, video
from customerio_sink.catalog.base import IDENTITY_RULE, CatalogEvent
from customerio_sink.catalog.constraints import Rule, sql_literal
from customerio_sink.errors import ValidationError, Violation

__all__ = [
    "CATALOG",
    "FAMILIES",
    "build",
    "catalog_constraints",
    "check",
    "constraints",
    "model_for",
    "rules_for",
]

FAMILIES: dict[str, tuple[type[CatalogEvent], ...]] = {
    "ab_test": ab_test.EVENTS,
    "ecommerce": ecommerce.EVENTS,
    "email": email.EVENTS,
    "live_chat": live_chat.EVENTS,
    "mobile": mobile.EVENTS,
    "video": video.EVENTS,
}
"""Family name (``ecommerce``, ``video``, ...) → the event models of that family."""

CATALOG: dict[str, type[CatalogEvent]] = {
    model.EVENT: model for models in FAMILIES.values() for model in models
}
"""Event name (``Order Completed``) → its model; every event of every family."""


def model_for(event: str) -> type[CatalogEvent]:
    """The model of ``event``; raises ``ValidationError`` (rule ``unknown_event``)."""
    model = CATALOG.get(event)
    if model is None:
        raise ValidationError("event", "unknown_event", "not an event of the catalogue")
    return model


def rules_for(event: str) -> tuple[Rule, ...]:
    """Every rule a row of ``event`` must keep: the identity rule, then the event's own."""
    return (IDENTITY_RULE, *model_for(event).RULES)


def check(event: str, row: Any) -> list[Violation]:
    """Every violation of ``row`` (a mapping, a pydantic object or a Spark ``Row``) as ``event``."""
    return model_for(event).check(row)


def build(event: str, row: Any, **call: Any) -> dict[str, Any]:
    """The ``track`` call of ``event`` for ``row``; see :meth:`CatalogEvent.build_call`."""
    return model_for(event).build_call(row, **call)


def constraints(event: str) -> dict[str, str]:
    """Constraint name → Spark SQL expression for a table of ``event`` rows.

    Columns are named as the properties (plus ``user_id`` and ``anonymous_id``). The mapping
    goes as it is to ``@dlt.expect_all``/``expect_all_or_drop``; each expression is true for
    a passing row and never NULL.
    """
    return {rule.name: rule.sql() for rule in rules_for(event)}


def catalog_constraints(
    events: Iterable[str] | None = None, *, event_column: str = "event"
) -> dict[str, str]:
    """Constraints for one table holding several events, told apart by ``event_column``.

    Names are ``"<event>/<field>:<code>"``; each expression holds for rows of other events.
    Every column an expression names must exist in the table.
    """
    out: dict[str, str] = {}
    for event in CATALOG if events is None else events:
        guard = f"NOT (`{event_column}` <=> {sql_literal(event)})"
        for name, sql in constraints(event).items():
            out[f"{event}/{name}"] = f"({guard} OR {sql})"
    return out
