"""Deterministic App API fixtures: campaigns, newsletters, broadcasts, customers, metrics, and
the customer filter grammar.

Small on purpose (3 campaigns, 2 newsletters, 2 broadcasts, 25 customers — ``limit=10`` pages
customers in 3 pages) and identical on every run, so reporting code can assert exact numbers.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BROADCASTS",
    "CAMPAIGNS",
    "FIXTURE_CUSTOMERS",
    "METRIC_NAMES",
    "NEWSLETTERS",
    "Customer",
    "FilterError",
    "cio_id_for",
    "matches",
    "metric_series",
]

_T0 = 1_700_000_000  # 2023-11-14T22:13:20Z: fixed, so every run reports the same times

CAMPAIGNS: tuple[dict[str, Any], ...] = tuple(
    {
        "id": n,
        "name": name,
        "type": kind,
        "state": state,
        "active": state == "running",
        "created": _T0 + n * 3600,
        "updated": _T0 + n * 7200,
        "tags": tags,
        "actions": [{"id": n * 10 + 1, "type": "email"}, {"id": n * 10 + 2, "type": "push"}],
    }
    for n, name, kind, state, tags in (
        (1, "Welcome series", "segment", "running", ["onboarding"]),
        (2, "Abandoned cart", "event", "running", ["ecommerce"]),
        (3, "Renewal reminder", "date", "draft", []),
    )
)
NEWSLETTERS: tuple[dict[str, Any], ...] = tuple(
    {
        "id": n,
        "name": name,
        "type": "email",
        "created": _T0 + n * 60,
        "updated": _T0 + n * 120,
        "sent_at": _T0 + n * 86400,
        "tags": [],
        "content_ids": [n * 10 + 1],
    }
    for n, name in ((101, "November product update"), (102, "Holiday hours"))
)
BROADCASTS: tuple[dict[str, Any], ...] = tuple(
    {
        "id": n,
        "name": name,
        "type": "triggered_broadcast",
        "state": "running",
        "active": True,
        "created": _T0 + n * 60,
        "updated": _T0 + n * 120,
        "tags": [],
    }
    for n, name in ((201, "Service incident notice"), (202, "Flash sale"))
)

METRIC_NAMES = ("sent", "delivered", "opened", "clicked", "converted", "bounced", "unsubscribed")
_STEP_SECONDS = {"hours": 3600, "days": 86400, "weeks": 7 * 86400, "months": 30 * 86400}
_DEFAULT_STEPS = {"hours": 24, "days": 7, "weeks": 4, "months": 12}
_MAX_STEPS = {"hours": 24 * 45, "days": 400, "weeks": 104, "months": 121}
RESOLUTIONS = {
    **{name: name for name in _STEP_SECONDS},
    "hourly": "hours",
    "daily": "days",
    "weekly": "weeks",
    "monthly": "months",
}


def cio_id_for(customer_id: str) -> str:
    """A stable stand-in for Customer.io's internal id of a person."""
    return hashlib.sha1(f"cio:{customer_id}".encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Customer:
    """A person as the App API shows them."""

    id: str
    email: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def cio_id(self) -> str:
        return cio_id_for(self.id)

    def identifiers(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "cio_id": self.cio_id}


FIXTURE_CUSTOMERS: tuple[Customer, ...] = tuple(
    Customer(
        id=f"fixture-{n:02d}",
        email=f"fixture{n:02d}@example.com",
        attributes={
            "first_name": f"Fixture {n}",
            "plan": ("free", "pro", "enterprise")[n % 3],
            "created_at": _T0 + n * 86400,
        },
    )
    for n in range(1, 26)
)


def metric_series(
    kind_id: int, resolution: str, steps: int | None, start: int | None, end: int | None
) -> dict[str, list[int]]:
    """Deterministic per-bucket numbers (oldest first) with sent ≥ delivered ≥ opened ≥ clicked
    ≥ converted. Bucket count: ``steps``, else from ``start``/``end`` (unix seconds), else a
    default per resolution; capped per resolution."""
    if steps is None and start is not None and end is not None:
        steps = math.ceil(max(end - start, 1) / _STEP_SECONDS[resolution])
    count = min(max(steps or _DEFAULT_STEPS[resolution], 1), _MAX_STEPS[resolution])
    sent = [100 + (kind_id * 7 + i * 13) % 50 for i in range(count)]
    delivered = [s - (i % 3) for i, s in enumerate(sent)]
    opened = [d * 6 // 10 for d in delivered]
    clicked = [o // 3 for o in opened]
    return {
        "sent": sent,
        "delivered": delivered,
        "opened": opened,
        "clicked": clicked,
        "converted": [c // 4 for c in clicked],
        "bounced": [s - d for s, d in zip(sent, delivered, strict=True)],
        "unsubscribed": [i % 2 for i in range(count)],
    }


class FilterError(ValueError):
    """Raised for a filter the emulator does not understand (answered with 400)."""


def _field_value(customer: Customer, name: str) -> Any:
    identifiers = customer.identifiers()
    return identifiers[name] if name in identifiers else customer.attributes.get(name)


def matches(flt: Mapping[str, Any] | None, customer: Customer) -> bool:
    """Whether ``customer`` passes an App API filter: ``and``/``or`` (lists), ``not``, and
    ``attribute`` with operators ``eq`` (string comparison; emails case-insensitive) and
    ``exists``. Raises :class:`FilterError` for anything else (``segment`` included)."""
    if not flt:
        return True
    if not isinstance(flt, Mapping) or len(flt) != 1:
        raise FilterError("a filter is an object with exactly one of and, or, not, attribute")
    op, arg = next(iter(flt.items()))
    if op in ("and", "or"):
        if not isinstance(arg, list):
            raise FilterError(f"'{op}' takes a list of filters")
        results = (matches(sub, customer) for sub in arg)
        return all(results) if op == "and" else any(results)
    if op == "not":
        return not matches(arg, customer)
    if op == "attribute" and isinstance(arg, Mapping):
        name, operator = arg.get("field"), arg.get("operator")
        value = _field_value(customer, str(name))
        if operator == "exists":
            return value is not None
        if operator == "eq":
            if name == "email" and isinstance(value, str):
                return value.casefold() == str(arg.get("value")).casefold()
            return value is not None and str(value) == str(arg.get("value"))
        raise FilterError(f"attribute operator {operator!r} is not emulated (use eq or exists)")
    raise FilterError(f"filter {op!r} is not emulated (use and, or, not, attribute)")
