"""Which failures to retry, and how long to wait before the next attempt.

Classification (one table, used by every client):

==========================  ==============  ==========================================
answer                      outcome         raised when given up
==========================  ==============  ==========================================
2xx                         ``OK``          —
401, 403                    ``AUTH``        :class:`AuthenticationError` (no retry)
408, 429, 5xx               ``RETRY``       :class:`TransientError` / ``RateLimitedError``
no answer (connect/reset)   ``RETRY``       :class:`TransientError` with ``status=None``
other 4xx (400, 413, 422)   ``REJECT``      :class:`RejectedError` (no retry)
1xx/3xx (unexpected)        ``REJECT``      :class:`RejectedError`
==========================  ==============  ==========================================

Backoff is exponential with full jitter (AWS "Exponential Backoff And Jitter"): before attempt
``n + 1`` wait ``uniform(0, min(max_delay, base_delay * 2 ** (n - 1)))``. A ``Retry-After`` from
the server replaces that draw and is honoured exactly, up to ``retry_after_cap`` seconds.
"""

from __future__ import annotations

import enum
import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from customerio_sink.errors import ConfigError

__all__ = ["Outcome", "RetryPolicy", "classify", "parse_retry_after"]


class Outcome(enum.Enum):
    """What to do with an HTTP answer (or the lack of one)."""

    OK = "ok"
    RETRY = "retry"
    AUTH = "auth"
    REJECT = "reject"


def classify(status: int | None) -> Outcome:
    """The outcome for an HTTP status; ``None`` means no answer arrived (retry)."""
    if status is None:
        return Outcome.RETRY
    if 200 <= status < 300:
        return Outcome.OK
    if status in (401, 403):
        return Outcome.AUTH
    if status in (408, 429) or 500 <= status < 600:
        return Outcome.RETRY
    return Outcome.REJECT


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Returns ``None`` when the header is absent or unreadable, never a negative number.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now or datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())


#: The default schedule (the sink's and the client's): 6 attempts, 0.5 s doubling to 30 s, and a
#: ``Retry-After`` honoured up to 60 s.
MAX_ATTEMPTS = 6
BASE_DELAY_S = 0.5
MAX_DELAY_S = 30.0
RETRY_AFTER_CAP_S = 60.0


class RetryPolicy:
    """How many attempts, and the wait before each retry.

    ``max_attempts`` counts every attempt, the first included (6 → 1 try + 5 retries).
    ``rng`` draws the jitter; pass ``random.Random(seed)`` for a reproducible schedule.
    """

    def __init__(
        self,
        max_attempts: int = MAX_ATTEMPTS,
        base_delay: float = BASE_DELAY_S,
        max_delay: float = MAX_DELAY_S,
        retry_after_cap: float = RETRY_AFTER_CAP_S,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        if base_delay < 0 or max_delay < 0 or retry_after_cap < 0:
            raise ConfigError("delays must not be negative")
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.retry_after_cap = retry_after_cap
        self.rng = rng if rng is not None else random.Random()

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(max_attempts={self.max_attempts}, base_delay={self.base_delay}, "
            f"max_delay={self.max_delay}, retry_after_cap={self.retry_after_cap})"
        )

    def ceiling(self, attempt: int) -> float:
        """The largest wait after ``attempt`` failed attempts: ``min(max, base * 2**(n-1))``."""
        exponent = max(attempt - 1, 0)
        # 2**exponent overflows a float near 1024; by then the cap has long applied.
        if exponent >= 64:
            return self.max_delay
        return min(self.max_delay, self.base_delay * (2**exponent))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``attempt`` (1-based) failed attempts.

        ``retry_after`` (from the server) is used as is, capped at ``retry_after_cap``;
        otherwise a full-jitter draw in ``[0, ceiling(attempt)]``.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        return self.rng.uniform(0.0, self.ceiling(attempt))

    def should_retry(self, attempt: int) -> bool:
        """Whether another attempt is allowed after ``attempt`` attempts."""
        return attempt < self.max_attempts
