"""The circuit breaker on an injected clock."""

from __future__ import annotations

import pytest

from customerio_sink.client.breaker import BreakerState, CircuitBreaker
from customerio_sink.errors import CircuitOpenError, ConfigError

from .conftest import FakeTime


def test_opens_rejects_fast_half_opens_and_recovers(fake_time: FakeTime) -> None:
    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=10.0, clock=fake_time.clock)
    for _ in range(2):
        breaker.before_request()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_request()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN

    fake_time.advance(4.0)
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_request()
    assert info.value.retry_after == pytest.approx(6.0)

    fake_time.advance(6.0)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_request()  # the probe
    with pytest.raises(CircuitOpenError):
        breaker.before_request()  # only one probe at a time
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_request()


def test_failed_probe_reopens_for_a_full_timeout(fake_time: FakeTime) -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=5.0, clock=fake_time.clock)
    breaker.record_failure()
    fake_time.advance(5.0)
    breaker.before_request()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    fake_time.advance(4.9)
    with pytest.raises(CircuitOpenError):
        breaker.before_request()
    fake_time.advance(0.1)
    breaker.before_request()


def test_a_lost_probe_expires(fake_time: FakeTime) -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=5.0, clock=fake_time.clock)
    breaker.record_failure()
    fake_time.advance(5.0)
    breaker.before_request()  # probe never reports back
    fake_time.advance(5.0)
    breaker.before_request()  # a new probe is allowed


def test_success_resets_the_count(fake_time: FakeTime) -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=fake_time.clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.reset()
    assert "closed" in repr(breaker)


def test_bad_settings() -> None:
    with pytest.raises(ConfigError):
        CircuitBreaker(failure_threshold=0)
