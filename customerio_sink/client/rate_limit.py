"""Client-side rate limiting: at most ``requests`` request starts per ``per_seconds``.

Customer.io's Pipelines budget is 3000 requests per 3 seconds per workspace; the App API's is 10
per second. :class:`RateLimiter` enforces two rules at once and a request starts only when both
allow it:

1. GCRA (the token bucket's exact form): one token every ``per_seconds / requests`` seconds,
   at most ``burst`` tokens saved. ``burst=1`` spaces requests evenly; ``burst=None`` means a
   full bucket (``requests`` tokens).
2. A sliding-window log: the start of request *k* is at least ``per_seconds`` after the start of
   request *k - requests*. So no half-open window ``[t, t + per_seconds)`` ever holds more than
   ``requests`` starts, whatever the burst — a bucket alone would allow ``burst + requests``.

:meth:`RateLimiter.share` divides the budget between parallel senders (one share per Spark
task, say): ``n`` shares together never exceed the whole. :meth:`RateLimiter.pause_until` is
for 429 answers: every later request of the limiter waits, and starts again evenly spaced
(with no saved burst), instead of only the one retried request backing off.

:class:`LaneLimiter` is one Spark task's part of a job's budget: with ``tasks`` tasks sending at
once, each gets ``budget // tasks`` starts per window; when the budget is smaller than the task
count, each task owns every ``lanes``-th slot of an evenly spaced grid of ``budget`` slots per
window (one start per several windows), so the tasks together never exceed the budget.

Clock and sleep are injectable so tests run on fake time.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from customerio_sink.errors import ConfigError
from customerio_sink.messages.limits import RATE_PERIOD_S, RATE_REQUESTS

__all__ = ["LaneLimiter", "Limiter", "RateLimiter"]

_EPSILON = 1e-9


class Limiter(Protocol):
    """What the transport needs of a limiter."""

    def acquire(self) -> float: ...

    def pause_until(self, until: float) -> None: ...


class RateLimiter:
    """Blocks :meth:`acquire` until a request may start. Thread-safe.

    ``requests`` may be fractional (a share of a budget); ``per_seconds`` is the window length.
    """

    def __init__(
        self,
        requests: float = RATE_REQUESTS,
        per_seconds: float = RATE_PERIOD_S,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not requests > 0 or not per_seconds > 0:
            raise ConfigError("requests and per_seconds must be positive")
        if burst is not None and burst < 1:
            raise ConfigError("burst must be at least 1")
        self.requests = float(requests)
        self.per_seconds = float(per_seconds)
        self.burst = float(burst) if burst is not None else max(1.0, self.requests)
        self._clock = clock
        self._sleep = sleep
        self._interval = self.per_seconds / self.requests
        # GCRA: a start at time t is allowed when t >= tat - tolerance.
        self._tolerance = (self.burst - 1.0) * self._interval
        self._tat: float | None = None
        # Starts of the last `window_capacity` requests (reserved times, non-decreasing).
        self.window_capacity = max(1, math.floor(self.requests + 1e-9))
        self._starts: deque[float] = deque(maxlen=self.window_capacity)
        self._paused_until: float | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"RateLimiter(requests={self.requests:g}, per_seconds={self.per_seconds:g}, "
            f"burst={self.burst:g})"
        )

    def reserve(self) -> float:
        """Book the next start slot and return how long to wait for it (0.0 if none)."""
        with self._lock:
            now = self._clock()
            start = now
            if self._tat is not None:
                gcra = self._tat - self._tolerance
                # Sums of float intervals drift by ~1e-13; that must not turn a free token
                # into a wait. (The window rule below stays exact: it is the hard guarantee.)
                if gcra - now > _EPSILON:
                    start = max(start, gcra)
            if len(self._starts) == self.window_capacity:
                start = max(start, self._starts[0] + self.per_seconds)
            if self._paused_until is not None:
                start = max(start, self._paused_until)
            tat = self._tat if self._tat is not None and self._tat > start else start
            self._tat = tat + self._interval
            self._starts.append(start)
            return start - now

    def acquire(self) -> float:
        """Wait until a request may start; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)

    def pause_until(self, until: float) -> None:
        """Hold every later start until clock time ``until`` (a 429's ``Retry-After``).

        After the pause, starts are evenly spaced again: the saved burst is dropped, since the
        server has just said its window is full.
        """
        with self._lock:
            if self._paused_until is None or until > self._paused_until:
                self._paused_until = until
            # An empty bucket at `until`: the first start there, the next one interval later.
            restart = until + self._tolerance
            if self._tat is None or self._tat < restart:
                self._tat = restart

    def share(self, n: int) -> RateLimiter:
        """A new, independent limiter with ``1/n`` of this budget (same window, clock, sleep).

        ``n`` shares used side by side stay within this limiter's budget.
        """
        if n < 1:
            raise ConfigError("share(n) needs n >= 1")
        burst = None if self.burst >= self.requests else max(1.0, math.floor(self.burst / n))
        return RateLimiter(
            self.requests / n,
            self.per_seconds,
            burst=burst,
            clock=self._clock,
            sleep=self._sleep,
        )


class LaneLimiter:
    """When one task of ``tasks`` (sending side by side) may start its next request.

    Not a blocking limiter: :meth:`next_start` says when, :meth:`commit` records a start
    (the caller sleeps in between — :class:`customerio_sink.client.budget.TaskLimiter`).

    * ``budget >= tasks``: ``budget // tasks`` starts per window, evenly spaced, and never more
      in any window ``[t, t + per_seconds)`` (the same sliding-window log as
      :class:`RateLimiter`), so the tasks' sum stays within ``budget`` whatever their phases.
    * ``budget < tasks``: the window holds ``budget`` evenly spaced slots (a grid from time 0);
      this task (``lane`` of ``lanes``) owns every ``lanes``-th of them, and starts only in its
      own slots — one request per ``lanes / budget`` windows. A start up to half a slot late
      still counts as that slot's.
    """

    def __init__(
        self,
        budget: int,
        per_seconds: float,
        *,
        tasks: int = 1,
        lanes: int | None = None,
        lane: int = 0,
    ) -> None:
        if not per_seconds > 0:
            raise ConfigError("per_seconds must be positive")
        self.per_seconds = float(per_seconds)
        self.tasks = max(1, int(tasks))
        self.lanes = max(self.tasks, int(lanes or 0))
        self.lane = int(lane) % self.lanes
        self._starts: deque[float] = deque()
        self.set_budget(budget)

    def __repr__(self) -> str:
        return (
            f"LaneLimiter(budget={self.budget}, per_seconds={self.per_seconds:g}, "
            f"tasks={self.tasks}, lanes={self.lanes}, lane={self.lane})"
        )

    def set_budget(self, budget: int) -> None:
        """Change the job's budget (another job joined or left). The starts already made stay
        counted, so no window holds more than the new per-task share after a start."""
        if int(budget) < 1:
            raise ConfigError(f"a job's budget must be at least 1 request, got {budget!r}")
        self.budget = int(budget)
        self.per_task = self.budget // self.tasks  # 0: the slot grid
        capacity = max(1, self.per_task)
        self._starts = deque(list(self._starts)[-capacity:], maxlen=capacity)
        self._slot = self.per_seconds / self.budget

    def next_start(self, now: float) -> float:
        """The earliest time (>= ``now``, or a slot up to half a slot ago) the next start may be."""
        last = self._starts[-1] if self._starts else None
        if self.per_task >= 1:
            start = now
            if last is not None:
                start = max(start, last + self.per_seconds / self.per_task)
            if len(self._starts) == self.per_task:
                start = max(start, self._starts[0] + self.per_seconds)
            return start
        slot = self._slot
        earliest = now - slot / 2
        if last is not None:
            earliest = max(earliest, last + slot / 2 + _EPSILON)
        j = math.ceil(earliest / slot - _EPSILON)
        j += (self.lane - j) % self.lanes
        return j * slot

    def commit(self, start: float) -> None:
        """Record a request start at ``start`` (what :meth:`next_start` said, or later)."""
        self._starts.append(start)
