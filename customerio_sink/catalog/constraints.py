"""Data-quality rules of the semantic catalogue, declared once, rendered as Python and as SQL.

Each rule is one small frozen object with two renderings of the same meaning:

* :meth:`Rule.violations` checks a *row* — a flat mapping whose keys are the event's property
  names (``price``, ``products``, ``user_id`` …), absent or ``None`` meaning "not given" — and
  returns :class:`~customerio_sink.errors.Violation` objects (field, rule code, reason);
* :meth:`Rule.sql` gives a Spark SQL boolean expression over columns of the same names, true
  when the row passes. It never evaluates to NULL, so it can be handed as it is to
  ``@dlt.expect_all`` / ``expect_all_or_drop`` (a Lakeflow/DLT pipeline) or to ``selectExpr``.

A rule's :attr:`Rule.name` (``"products[].price:price_negative"``) is the constraint name:
``field:code``, so a failed expectation splits back into ``error_field`` and ``error_rule``.
A violation found in an array item names the item (``products[2].price``);
:func:`constraint_name` maps it back to the rule's name.

Sums and totals are compared as doubles within :data:`TOLERANCE` on both sides (Python floats
and JVM doubles round alike), so the two renderings agree; the wire keeps ``Decimal`` exact.
Patterns are read with Unicode classes on both sides (``(?U)`` on the JVM). String literals are
written for Spark's default parser (``spark.sql.parser.escapedStringLiterals=false``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from customerio_sink.catalog.iso4217 import CURRENCIES
from customerio_sink.errors import Violation
from customerio_sink.rules import EMAIL_SQL, MAX_EMAIL_BYTES, MAX_EMAIL_LOCAL_BYTES
from customerio_sink.validators import check_email

__all__ = [
    "DEEP_LINK",
    "TOLERANCE",
    "WEB_URL",
    "Bound",
    "Each",
    "InSet",
    "Matches",
    "NotAfter",
    "Required",
    "Rule",
    "SumOf",
    "SumOfItems",
    "at_least_one",
    "check_rules",
    "constraint_name",
    "currency",
    "deep_link",
    "email",
    "non_negative",
    "one_of",
    "sql_literal",
    "url",
]

TOLERANCE = 0.01
"""How far a total may be from the sum of its parts (one cent, in the event's currency)."""

WEB_URL = r"^https?://[^\s/?#]+([/?#]\S*)?$"
"""An absolute http(s) URL: scheme, a host without spaces, then anything without spaces."""

DEEP_LINK = r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$"
"""An absolute URI of any scheme (``myapp://product/42``), as mobile deep links are."""


def sql_literal(value: Any) -> str:
    """``value`` as a Spark SQL literal (strings quoted and escaped, numbers as they are)."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return repr(value) if isinstance(value, float) else str(value)


def _col(prefix: str, field: str) -> str:
    return f"{prefix}`{field}`"


def _leaf(field: str) -> str:
    return field.rsplit(".", 1)[-1]


def _number(value: Any) -> float:
    return float(value)


@dataclass(frozen=True)
class Rule:
    """A rule on one field (``field`` may name alternatives joined by ``|``)."""

    field: str

    @property
    def code(self) -> str:
        """The machine-readable rule code (``price_negative``, ``currency_iso4217`` …)."""
        raise NotImplementedError

    @property
    def reason(self) -> str:
        """The rule in words; never quotes a value."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        """The constraint name: ``field:code``."""
        return f"{self.field}:{self.code}"

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the SQL reads (a table must have them all)."""
        return tuple(self.field.split("|"))

    def passes(self, row: Mapping[str, Any]) -> bool:
        """True when ``row`` keeps the rule (absent values keep every rule but ``Required``)."""
        raise NotImplementedError

    def violations(self, row: Mapping[str, Any], prefix: str = "") -> list[Violation]:
        """The violations of ``row`` (empty when it passes); fields are prefixed by ``prefix``."""
        if self.passes(row):
            return []
        return [Violation(prefix + self.field, self.code, self.reason)]

    def sql(self, prefix: str = "") -> str:
        """A Spark SQL expression, true when the row passes, never NULL."""
        raise NotImplementedError


@dataclass(frozen=True)
class Required(Rule):
    """One of the ``|``-separated string fields is present and not empty."""

    @property
    def code(self) -> str:
        return "required"

    @property
    def reason(self) -> str:
        return "needs " + " or ".join(self.field.split("|"))

    def passes(self, row: Mapping[str, Any]) -> bool:
        return any(row.get(f) not in (None, "") for f in self.field.split("|"))

    def sql(self, prefix: str = "") -> str:
        present = [
            f"coalesce(CAST({_col(prefix, f)} AS STRING), '') <> ''" for f in self.field.split("|")
        ]
        return f"({' OR '.join(present)})"


@dataclass(frozen=True)
class Bound(Rule):
    """A number between ``low`` and ``high`` (inclusive; ``None`` leaves a side open)."""

    low: float | None = None
    high: float | None = None
    rule_code: str = ""

    @property
    def code(self) -> str:
        return self.rule_code

    @property
    def reason(self) -> str:
        if self.high is None:
            return f"at least {self.low:g}"
        if self.low is None:
            return f"at most {self.high:g}"
        return f"between {self.low:g} and {self.high:g}"

    def passes(self, row: Mapping[str, Any]) -> bool:
        value = row.get(self.field)
        if value is None:
            return True
        low_ok = self.low is None or value >= self.low
        return low_ok and (self.high is None or value <= self.high)

    def sql(self, prefix: str = "") -> str:
        column = _col(prefix, self.field)
        tests = []
        if self.low is not None:
            tests.append(f"{column} >= {self.low:g}")
        if self.high is not None:
            tests.append(f"{column} <= {self.high:g}")
        return f"({column} IS NULL OR ({' AND '.join(tests)}))"


@dataclass(frozen=True)
class InSet(Rule):
    """One of a fixed set of values (an enum, ISO 4217 currency codes)."""

    values: frozenset[Any] = frozenset()
    rule_code: str = "enum"
    what: str = ""

    @property
    def code(self) -> str:
        return self.rule_code

    @property
    def reason(self) -> str:
        if self.what:
            return self.what
        return "one of " + ", ".join(str(v) for v in sorted(self.values))

    def passes(self, row: Mapping[str, Any]) -> bool:
        value = row.get(self.field)
        return value is None or value in self.values

    def sql(self, prefix: str = "") -> str:
        column = _col(prefix, self.field)
        listed = ", ".join(sql_literal(v) for v in sorted(self.values))
        return f"({column} IS NULL OR {column} IN ({listed}))"


@dataclass(frozen=True)
class Matches(Rule):
    """A string matching ``pattern`` (searched, Unicode classes) of at most ``max_bytes``."""

    pattern: str = ""
    rule_code: str = ""
    what: str = ""
    max_bytes: int | None = None

    @property
    def code(self) -> str:
        return self.rule_code

    @property
    def reason(self) -> str:
        return self.what

    def passes(self, row: Mapping[str, Any]) -> bool:
        value = row.get(self.field)
        if value is None:
            return True
        if self.max_bytes is not None and len(value.encode("utf-8")) > self.max_bytes:
            return False
        return re.search(self.pattern, value) is not None

    def sql(self, prefix: str = "") -> str:
        column = _col(prefix, self.field)
        test = f"{column} RLIKE {sql_literal('(?U)' + self.pattern)}"
        if self.max_bytes is not None:
            test = f"octet_length({column}) <= {self.max_bytes} AND {test}"
        return f"({column} IS NULL OR ({test}))"


@dataclass(frozen=True)
class _Email(Matches):
    """An email address: :func:`customerio_sink.validators.check_email`, rendered for SQL."""

    def passes(self, row: Mapping[str, Any]) -> bool:
        value = row.get(self.field)
        return value is None or check_email(value, self.field) is None

    def sql(self, prefix: str = "") -> str:
        # customerio_sink.rules.is_email in SQL: the pattern (anchored for Java) and both lengths.
        column = _col(prefix, self.field)
        local = f"substring_index({column}, '@', 1)"
        test = (
            f"{column} RLIKE {sql_literal(self.pattern)} AND octet_length({column}) <= "
            f"{MAX_EMAIL_BYTES} AND octet_length({local}) <= {MAX_EMAIL_LOCAL_BYTES}"
        )
        return f"({column} IS NULL OR ({test}))"


@dataclass(frozen=True)
class NotAfter(Rule):
    """``field`` is at most ``limit`` (another field) when both are given."""

    limit: str = ""
    rule_code: str = ""

    @property
    def code(self) -> str:
        return self.rule_code

    @property
    def reason(self) -> str:
        return f"at most {self.limit}"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.field, self.limit)

    def passes(self, row: Mapping[str, Any]) -> bool:
        value, limit = row.get(self.field), row.get(self.limit)
        return value is None or limit is None or value <= limit

    def sql(self, prefix: str = "") -> str:
        value, limit = _col(prefix, self.field), _col(prefix, self.limit)
        return f"({value} IS NULL OR {limit} IS NULL OR {value} <= {limit})"


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


@dataclass(frozen=True)
class Each(Rule):
    """``rule`` holds for every item of the list ``field`` (null items are skipped)."""

    rule: Rule = Required("")

    @property
    def code(self) -> str:
        return self.rule.code

    @property
    def reason(self) -> str:
        return self.rule.reason

    @property
    def name(self) -> str:
        return f"{self.field}[].{self.rule.field}:{self.code}"

    def passes(self, row: Mapping[str, Any]) -> bool:
        return not self.violations(row)

    def violations(self, row: Mapping[str, Any], prefix: str = "") -> list[Violation]:
        items = row.get(self.field)
        out: list[Violation] = []
        for index, item in enumerate(items or ()):
            if isinstance(item, Mapping):
                out += self.rule.violations(item, f"{prefix}{self.field}[{index}].")
        return out

    def sql(self, prefix: str = "") -> str:
        column = _col(prefix, self.field)
        return f"({column} IS NULL OR forall({column}, x -> x IS NULL OR {self.rule.sql('x.')}))"


# -- the rules the catalogue uses, by what they mean --------------------------------------------


def non_negative(field: str) -> Bound:
    """Prices, amounts, durations: ≥ 0 (``<field>_negative``)."""
    return Bound(field, low=0, rule_code=f"{_leaf(field)}_negative")


def at_least_one(field: str) -> Bound:
    """Quantities, steps, positions in a pod: ≥ 1 (``<field>_below_one``)."""
    return Bound(field, low=1, rule_code=f"{_leaf(field)}_below_one")


def one_of(field: str, *values: Any) -> InSet:
    """A documented enum (``enum``)."""
    return InSet(field, values=frozenset(values))


def currency(field: str = "currency") -> InSet:
    """An ISO 4217 code, upper case (``currency_iso4217``)."""
    return InSet(field, CURRENCIES, "currency_iso4217", "an ISO 4217 code such as USD")


def url(field: str) -> Matches:
    """An absolute http(s) URL (``url_format``)."""
    return Matches(field, WEB_URL, "url_format", "an absolute http(s) URL")


def deep_link(field: str) -> Matches:
    """An absolute URI of any scheme, as deep links are (``url_format``)."""
    return Matches(field, DEEP_LINK, "url_format", "an absolute URI (scheme://...)")


def email(field: str = "email") -> Matches:
    """An email address, by :func:`~customerio_sink.validators.check_email` (``email_format``)."""
    # The rule is validators.check_email; its own pattern and byte limit are rendered for SQL.
    return _Email(field, EMAIL_SQL, "email_format", "local@domain.tld", MAX_EMAIL_BYTES)


def check_rules(rules: Iterable[Rule], row: Mapping[str, Any]) -> list[Violation]:
    """Every violation of ``rules`` in ``row``, in rule order."""
    out: list[Violation] = []
    for rule in rules:
        out += rule.violations(row)
    return out


_INDEX = re.compile(r"\[\d+\]")


def constraint_name(violation: Violation) -> str:
    """The name of the constraint a violation breaks (``products[2].price`` → ``products[]…``)."""
    return f"{_INDEX.sub('[]', violation.field)}:{violation.rule}"
