"""The rate limiter on fake time: spacing, the sliding-window guarantee, shares, pauses."""

from __future__ import annotations

import bisect
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customerio_sink.client.rate_limit import RateLimiter
from customerio_sink.errors import ConfigError

from .conftest import FakeTime


def starts_of(
    limiter: RateLimiter, time: FakeTime, n: int, gaps: list[float] | None = None
) -> list[float]:
    starts = []
    for i in range(n):
        if gaps:
            time.advance(gaps[i % len(gaps)])
        limiter.acquire()
        starts.append(time.now)
    return starts


def max_in_window(starts: list[float], window: float) -> int:
    """The most starts in any half-open window [t, t + window)."""
    return max(bisect.bisect_left(starts, s + window) - i for i, s in enumerate(starts))


def test_burst_one_spaces_requests_evenly(fake_time: FakeTime) -> None:
    limiter = RateLimiter(10, 1.0, burst=1, clock=fake_time.clock, sleep=fake_time.sleep)
    starts = starts_of(limiter, fake_time, 5)
    assert [round(s - starts[0], 9) for s in starts] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert fake_time.sleeps == pytest.approx([0.1] * 4)


def test_default_is_a_full_bucket_then_the_window(fake_time: FakeTime) -> None:
    limiter = RateLimiter(5, 1.0, clock=fake_time.clock, sleep=fake_time.sleep)
    starts = starts_of(limiter, fake_time, 11)
    assert starts[:5] == [starts[0]] * 5  # a burst of 5 at once
    assert starts[5] == pytest.approx(starts[0] + 1.0)  # the 6th waits for the window
    assert max_in_window(starts, 1.0) == 5


@settings(max_examples=60, deadline=None)
@given(
    requests=st.integers(1, 40),
    per_seconds=st.sampled_from([0.5, 1.0, 3.0]),
    burst=st.one_of(st.none(), st.integers(1, 50)),
    gaps=st.lists(st.sampled_from([0.0, 0.001, 0.01, 0.05, 0.3, 1.0]), min_size=1, max_size=8),
)
def test_no_window_ever_holds_more_than_requests(
    requests: int, per_seconds: float, burst: int | None, gaps: list[float]
) -> None:
    time = FakeTime()
    limiter = RateLimiter(requests, per_seconds, burst=burst, clock=time.clock, sleep=time.sleep)
    starts = starts_of(limiter, time, requests * 4, gaps)
    assert max_in_window(starts, per_seconds) <= requests


def test_shares_together_stay_within_the_budget(fake_time: FakeTime) -> None:
    whole = RateLimiter(30, 3.0, burst=1, clock=fake_time.clock, sleep=fake_time.sleep)
    shares = [whole.share(3) for _ in range(3)]
    assert all(s.requests == 10 and s.per_seconds == 3.0 and s.burst == 1 for s in shares)
    reserved = sorted(fake_time.now + s.reserve() for s in shares for _ in range(40))
    assert max_in_window(reserved, 3.0) <= 30
    assert whole.share(7).requests == pytest.approx(30 / 7)
    assert RateLimiter(3000, 3.0).share(4).burst == 750  # full bucket of the share
    with pytest.raises(ConfigError):
        whole.share(0)


def test_pause_until_holds_every_later_request_then_spaces_them(fake_time: FakeTime) -> None:
    limiter = RateLimiter(10, 1.0, clock=fake_time.clock, sleep=fake_time.sleep)
    limiter.acquire()
    limiter.pause_until(fake_time.now + 2.0)
    first = limiter.reserve()
    second = limiter.reserve()
    assert first == pytest.approx(2.0)
    assert second == pytest.approx(2.1)  # no saved burst after a 429


def test_reservations_from_threads_never_share_a_slot(fake_time: FakeTime) -> None:
    limiter = RateLimiter(100, 1.0, burst=1, clock=fake_time.clock, sleep=lambda s: None)
    waits: list[float] = []

    def work() -> None:
        for _ in range(50):
            waits.append(limiter.reserve())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(round(w, 6) for w in waits) == [round(i * 0.01, 6) for i in range(200)]


def test_bad_settings() -> None:
    with pytest.raises(ConfigError):
        RateLimiter(0, 1.0)
    with pytest.raises(ConfigError):
        RateLimiter(1, 0)
    with pytest.raises(ConfigError):
        RateLimiter(10, 1.0, burst=0.5)
    assert "3000" in repr(RateLimiter())
