"""The ranges every numeric sink option must fall in, declared once.

Checked when options are built (``SinkOptions``) and by the job CLIs' argument parsers, so a bad
value fails in one line — naming the option, the value and the allowed range — before Spark
starts or any data is read, instead of inside an executor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from customerio_sink.errors import ConfigError
from customerio_sink.messages.limits import (
    BATCH_ENVELOPE_BYTES,
    DOCUMENTED_MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
)

__all__ = ["MIN_BODY_BYTES", "RULES", "Rule", "check_option", "check_options"]

#: The smallest body that still holds one message of the largest size Customer.io accepts.
MIN_BODY_BYTES = MAX_MESSAGE_BYTES + BATCH_ENVELOPE_BYTES


@dataclass(frozen=True)
class Rule:
    """``low`` ≤ value ≤ ``high`` (``low`` excluded when ``above``); ``None`` = unbounded."""

    kind: type
    low: float | None
    high: float | None = None
    unit: str = ""
    why: str = ""
    above: bool = False

    def allowed(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.high is None:
            return f"{'more than' if self.above else 'at least'} {self.low:,g}{unit}"
        return f"{self.low:,g} to {self.high:,g}{unit}"

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (``None`` when it is)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number ({self.allowed()})"
        if self.kind is int and not float(value).is_integer():
            return f"expected a whole number ({self.allowed()})"
        if math.isnan(value) or math.isinf(value):
            return f"expected a finite number ({self.allowed()})"
        low_ok = self.low is None or (value > self.low if self.above else value >= self.low)
        if low_ok and (self.high is None or value <= self.high):
            return None
        why = f" — {self.why}" if self.why else ""
        return f"out of range: allowed {self.allowed()}{why}"


RULES: dict[str, Rule] = {
    "max_body_bytes": Rule(
        int,
        MIN_BODY_BYTES,
        DOCUMENTED_MAX_BATCH_BYTES,
        "bytes",
        f"a body must hold one {MAX_MESSAGE_BYTES:,}-byte message, and Customer.io takes at "
        f"most {DOCUMENTED_MAX_BATCH_BYTES:,} bytes per request",
    ),
    "max_batch_messages": Rule(int, 1, None, "messages per request"),
    "rate_requests": Rule(int, 0, None, "requests per period", "0 turns the budget off"),
    "rate_period_s": Rule(float, 0, 3600, "seconds", above=True),
    "max_attempts": Rule(int, 1, 100, "attempts"),
    "base_delay_s": Rule(float, 0, 600, "seconds"),
    "max_delay_s": Rule(float, 0, 3600, "seconds"),
    "retry_after_cap_s": Rule(float, 0, 3600, "seconds"),
    "breaker_threshold": Rule(int, 1, None, "failures"),
    "breaker_recovery_s": Rule(float, 0, 3600, "seconds", above=True),
    "timeout_s": Rule(float, 0, 3600, "seconds", above=True),
    "concurrency": Rule(int, 1, 1024, "tasks"),
    "partitions": Rule(int, 1, 100_000, "partitions"),
}


def check_option(name: str, value: Any) -> None:
    """Raise :class:`ConfigError` naming ``name``, ``value`` and the allowed range."""
    rule = RULES.get(name)
    problem = rule.problem(value) if rule else None
    if problem:
        raise ConfigError(f"{name}={value!r}: {problem}")


def check_options(values: Mapping[str, Any]) -> None:
    """:func:`check_option` for every ruled option in ``values`` that is set (not ``None``),
    then the rules between options."""
    for name, value in values.items():
        if value is not None:
            check_option(name, value)
    base, cap = values.get("base_delay_s"), values.get("max_delay_s")
    if base is not None and cap is not None and base > cap:
        raise ConfigError(f"base_delay_s={base!r} is above max_delay_s={cap!r}: lower it")
