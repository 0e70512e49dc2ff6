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

The rule classes live in :mod:`~customerio_sink.catalog.rule_base` (:class:`Rule`,
:class:`Required`, :class:`Each`), :mod:`~customerio_sink.catalog.value_rules` (one field's
value) and :mod:`~customerio_sink.catalog.total_rules` (totals); they are imported from here,
with the functions below that build the rules the catalogue uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from customerio_sink.catalog.iso4217 import CURRENCIES
from customerio_sink.catalog.rule_base import Each, Required, Rule, _leaf, sql_literal
from customerio_sink.catalog.total_rules import TOLERANCE, SumOf, SumOfItems
from customerio_sink.catalog.value_rules import Bound, InSet, Matches, NotAfter, _Email
from customerio_sink.errors import Violation
from customerio_sink.messages.rules import EMAIL_SQL, MAX_EMAIL_BYTES

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

WEB_URL = r"^https?://[^\s/?#]+([/?#]\S*)?$"
"""An absolute http(s) URL: scheme, a host without spaces, then anything without spaces."""

DEEP_LINK = r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$"
"""An absolute URI of any scheme (``myapp://product/42``), as mobile deep links are."""


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
    """An email address, by :func:`~customerio_sink.messages.validators.check_email`
    (``email_format``)."""
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
