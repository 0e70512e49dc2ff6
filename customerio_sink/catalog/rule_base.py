"""The base of the semantic catalogue's data-quality rules: :class:`Rule` (a check of a row in
Python, and the same check as a Spark SQL expression), :class:`Required`, :class:`Each` (a rule
for every item of a list), and the helpers every rule uses to render SQL.

What the two renderings mean, and the catalogue's rules by what they mean, are in
:mod:`customerio_sink.catalog.constraints`, which re-exports the names defined here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from customerio_sink.errors import Violation


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
