"""A circuit breaker: stop sending to a Customer.io that keeps failing, then probe it.

States::

    CLOSED ──failure_threshold consecutive failures──► OPEN
    OPEN ──recovery_timeout elapsed──► HALF_OPEN (one probe request may start)
    HALF_OPEN ──probe succeeds──► CLOSED      HALF_OPEN ──probe fails──► OPEN (timer restarts)

Only failures that say the service is unwell count (5xx, 408, timeouts, connection errors); a
400, 401 or 429 is a healthy server answering and counts as success (429s are the rate
limiter's business). If a half-open probe's outcome is never recorded, another probe
is allowed after a further ``recovery_timeout``, so the breaker cannot stick half-open.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable

from customerio_sink.errors import CircuitOpenError, ConfigError

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(enum.Enum):
    """Where the breaker is."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


#: The default breaker: opens after 5 failed requests in a row, probes again after 30 s.
FAILURE_THRESHOLD = 5
RECOVERY_S = 30.0


class CircuitBreaker:
    """Call :meth:`before_request` before each attempt, then record its outcome. Thread-safe."""

    def __init__(
        self,
        failure_threshold: int = FAILURE_THRESHOLD,
        recovery_timeout: float = RECOVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or recovery_timeout < 0:
            raise ConfigError("failure_threshold >= 1 and recovery_timeout >= 0 are required")
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_started: float | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(state={self.state.value}, failures={self._failures}, "
            f"failure_threshold={self.failure_threshold}, "
            f"recovery_timeout={self.recovery_timeout})"
        )

    @property
    def state(self) -> BreakerState:
        """The current state (an OPEN breaker whose timeout has passed reads HALF_OPEN)."""
        with self._lock:
            if (
                self._state is BreakerState.OPEN
                and self._clock() - self._opened_at >= self.recovery_timeout
            ):
                return BreakerState.HALF_OPEN
            return self._state

    def before_request(self) -> None:
        """Let a request start, or raise :class:`CircuitOpenError` (with ``retry_after``)."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return
            now = self._clock()
            if self._state is BreakerState.OPEN:
                remaining = self._opened_at + self.recovery_timeout - now
                if remaining > 0:
                    raise CircuitOpenError(retry_after=remaining)
                self._state = BreakerState.HALF_OPEN
                self._probe_started = None
            # HALF_OPEN: one probe at a time; a probe whose outcome never came expires.
            if self._probe_started is not None:
                remaining = self._probe_started + self.recovery_timeout - now
                if remaining > 0:
                    raise CircuitOpenError(
                        "circuit half-open, probe in flight", retry_after=remaining
                    )
            self._probe_started = now

    def record_success(self) -> None:
        """The service answered sanely: close the breaker and forget past failures."""
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._probe_started = None

    def record_failure(self) -> None:
        """The service failed (5xx, timeout, connection): count it, maybe open the breaker."""
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
                self._probe_started = None

    def reset(self) -> None:
        """Back to CLOSED with no failures (for tests and manual recovery)."""
        self.record_success()
