"""Totals that agree with their parts, within :data:`TOLERANCE`: a field and other fields
(:class:`SumOf`), a field and a list's items (:class:`SumOfItems`). Re-exported by
:mod:`customerio_sink.catalog.constraints`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from customerio_sink.catalog.rule_base import Rule, _col, _leaf, _number

TOLERANCE = 0.01
"""How far a total may be from the sum of its parts (one cent, in the event's currency)."""


@dataclass(frozen=True)
class SumOf(Rule):
    """``field`` ≈ Σ ``plus`` - Σ ``minus`` (missing parts count 0), within :data:`TOLERANCE`.

    Applies only when ``field`` and every field of ``when`` are given.
    """

    plus: tuple[str, ...] = ()
    minus: tuple[str, ...] = ()
    when: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        return f"{_leaf(self.field)}_inconsistent"

    @property
    def reason(self) -> str:
        parts = " + ".join(self.plus) + "".join(f" - {m}" for m in self.minus)
        return f"must equal {parts} within {TOLERANCE:g}"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.field, *self.plus, *self.minus, *self.when)

    def passes(self, row: Mapping[str, Any]) -> bool:
        target = row.get(self.field)
        if target is None or any(row.get(w) is None for w in self.when):
            return True
        # Summed in the order the SQL adds, as doubles, so both sides round alike.
        total = 0.0
        for name in self.plus:
            total = total + _number(row.get(name) or 0)
        for name in self.minus:
            total = total - _number(row.get(name) or 0)
        return abs(_number(target) - total) <= TOLERANCE

    def sql(self, prefix: str = "") -> str:
        def term(name: str) -> str:
            return f"CAST(coalesce({_col(prefix, name)}, 0) AS DOUBLE)"

        total = "0D" + "".join(f" + {term(p)}" for p in self.plus)
        total += "".join(f" - {term(m)}" for m in self.minus)
        guards = [f"{_col(prefix, f)} IS NULL" for f in (self.field, *self.when)]
        target = f"CAST({_col(prefix, self.field)} AS DOUBLE)"
        return f"({' OR '.join(guards)} OR abs({target} - ({total})) <= {TOLERANCE!r}D)"


@dataclass(frozen=True)
class SumOfItems(Rule):
    """``field`` ≈ Σ price x quantity over ``items`` (quantity defaults to 1).

    Applies when ``field`` is given and ``items`` is a non-empty list whose every item has a
    price: a partly priced cart says nothing about its total.
    """

    items: str = "products"
    price: str = "price"
    quantity: str = "quantity"

    @property
    def code(self) -> str:
        return f"{_leaf(self.field)}_inconsistent"

    @property
    def reason(self) -> str:
        return f"must equal the sum of {self.items} {self.price} x {self.quantity}"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.field, self.items)

    def passes(self, row: Mapping[str, Any]) -> bool:
        target, items = row.get(self.field), row.get(self.items)
        if target is None or not items:
            return True
        if not all(isinstance(i, Mapping) and i.get(self.price) is not None for i in items):
            return True
        total = 0.0
        for item in items:
            quantity = item.get(self.quantity)
            total = total + _number(item[self.price]) * _number(1 if quantity is None else quantity)
        return abs(_number(target) - total) <= TOLERANCE

    def sql(self, prefix: str = "") -> str:
        target, items = _col(prefix, self.field), _col(prefix, self.items)
        price, quantity = f"p.`{self.price}`", f"p.`{self.quantity}`"
        summed = (
            f"aggregate({items}, 0D, (acc, p) -> acc + CAST({price} AS DOUBLE)"
            f" * CAST(coalesce({quantity}, 1) AS DOUBLE))"
        )
        return (
            f"({target} IS NULL OR {items} IS NULL OR size({items}) = 0"
            f" OR NOT forall({items}, p -> p IS NOT NULL AND {price} IS NOT NULL)"
            f" OR abs(CAST({target} AS DOUBLE) - {summed}) <= {TOLERANCE!r}D)"
        )
