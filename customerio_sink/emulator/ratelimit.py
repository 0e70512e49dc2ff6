"""How often: a sliding-window request budget per key, and the peak-rate meter for stats.

Only admitted requests use the budget: a client hammering through 429s does not push its own
recovery further away, which matches "slow down and retry" advice rather than punishing it.
"""

from __future__ import annotations

import math
import threading
from collections import deque

__all__ = ["SlidingWindowBudget", "WindowPeak", "retry_after_seconds"]


def retry_after_seconds(wait_s: float) -> int:
    """``Retry-After`` value for a wait: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(wait_s))


class SlidingWindowBudget:
    """At most ``limit`` admitted requests per key in any ``window_s``-second window."""

    def __init__(self, limit: int, window_s: float) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("rate limit must be >= 1 and its window > 0 seconds")
        self.limit = limit
        self.window_s = window_s
        self._lock = threading.Lock()
        self._admitted: dict[str, deque[float]] = {}

    def admit(self, key: str, now: float) -> float:
        """Admit one request at monotonic time ``now``: 0.0 if admitted, else seconds to wait."""
        with self._lock:
            times = self._admitted.setdefault(key, deque())
            horizon = now - self.window_s
            while times and times[0] <= horizon:
                times.popleft()
            if len(times) >= self.limit:
                return times[0] + self.window_s - now
            times.append(now)
            return 0.0

    def reset(self) -> None:
        with self._lock:
            self._admitted.clear()


class WindowPeak:
    """The largest number of events seen in any sliding ``window_s`` window (not thread-safe:
    the caller holds its own lock)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.peak = 0
        self._times: deque[float] = deque()

    def add(self, now: float) -> None:
        horizon = now - self.window_s
        times = self._times
        while times and times[0] <= horizon:
            times.popleft()
        times.append(now)
        self.peak = max(self.peak, len(times))

    def reset(self) -> None:
        self.peak = 0
        self._times.clear()
