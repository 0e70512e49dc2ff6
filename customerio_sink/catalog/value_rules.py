"""Rules on the value of one field: a bound (:class:`Bound`), a fixed set of values
(:class:`InSet`), a pattern (:class:`Matches`, and the email address rule) and an order
between two fields (:class:`NotAfter`). Re-exported by :mod:`customerio_sink.catalog.constraints`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from customerio_sink.catalog.rule_base import Rule, _col, sql_literal
from customerio_sink.messages.rules import MAX_EMAIL_BYTES, MAX_EMAIL_LOCAL_BYTES
from customerio_sink.messages.validators import check_email


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
    """An email address: :func:`customerio_sink.messages.validators.check_email`, rendered for
    SQL."""

    def passes(self, row: Mapping[str, Any]) -> bool:
        value = row.get(self.field)
        return value is None or check_email(value, self.field) is None

    def sql(self, prefix: str = "") -> str:
        # customerio_sink.messages.rules.is_email in SQL: the pattern (anchored for Java) and both
        # lengths.
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
