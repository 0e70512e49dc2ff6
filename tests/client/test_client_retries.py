"""Retries, Retry-After, the breaker and the limiter, on fake time against the emulator's faults.

The emulator answers for real over HTTP; only time is fake, so every schedule is exact and no
test sleeps.
"""

from __future__ import annotations

import random
import socket

import pytest

from customerio_sink.client.breaker import BreakerState, CircuitBreaker
from customerio_sink.client.metrics import RequestMetrics
from customerio_sink.client.pipelines import CustomerIOClient
from customerio_sink.client.rate_limit import RateLimiter
from customerio_sink.client.retry import RetryPolicy
from customerio_sink.emulator import Emulator
from customerio_sink.errors import (
    AuthenticationError,
    CircuitOpenError,
    RateLimitedError,
    RejectedError,
    TransientError,
)

from .conftest import PIPELINES_KEY, FakeTime

ITEM = b'{"type":"track","userId":"u","event":"E","messageId":"m-1"}'


def make_client(
    url: str, time: FakeTime, seen: list[RequestMetrics] | None = None, **options: object
) -> CustomerIOClient:
    options.setdefault("retry", RetryPolicy(max_attempts=4, rng=random.Random(42)))
    return CustomerIOClient(
        PIPELINES_KEY,
        endpoint=url,
        clock=time.clock,
        sleep=time.sleep,
        on_request=seen.append if seen is not None else None,
        **options,  # type: ignore[arg-type]
    )


def jitter(seed: int, *ceilings: float) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(0, c) for c in ceilings]


def test_5xx_backoff_schedule_is_exact(emu: Emulator, fake_time: FakeTime) -> None:
    emu.set_faults(error_rate=1.0, error_status=503, seed=1)
    seen: list[RequestMetrics] = []
    with make_client(emu.url, fake_time, seen) as client, pytest.raises(TransientError) as info:
        client.send_encoded([ITEM], ["m-1"])
    err = info.value
    assert type(err) is TransientError
    assert (err.status, err.attempts, err.message_ids, err.code) == (503, 4, ("m-1",), "http_503")
    assert fake_time.sleeps == jitter(42, 0.5, 1.0, 2.0)
    [metrics] = seen  # the hook fires once per logical request
    assert metrics.statuses == (503, 503, 503, 503) and metrics.error_class == "TransientError"
    assert metrics.backoff_s == pytest.approx(sum(fake_time.sleeps))
    assert emu.stats().as_dict()["injected_errors"] == 4


def test_retry_then_success(emu: Emulator, fake_time: FakeTime) -> None:
    emu.set_faults(error_rate=1.0, error_status=500)

    def heal(seconds: float) -> None:
        fake_time.sleep(seconds)
        emu.clear_faults()

    seen: list[RequestMetrics] = []
    client = CustomerIOClient(
        PIPELINES_KEY,
        endpoint=emu.url,
        clock=fake_time.clock,
        sleep=heal,
        retry=RetryPolicy(rng=random.Random(5)),
        on_request=seen.append,
    )
    metrics = client.send_encoded([ITEM], ["m-1"])
    assert (metrics.status, metrics.attempts, metrics.statuses) == (200, 2, (500, 200))
    assert seen == [metrics]
    assert fake_time.sleeps == jitter(5, 0.5)
    assert emu.message_id_counts() == {"m-1": 1}


@pytest.mark.parametrize("status", [408, 500, 502, 504])
def test_retryable_statuses(emu: Emulator, fake_time: FakeTime, status: int) -> None:
    emu.set_faults(error_rate=1.0, error_status=status)
    with make_client(emu.url, fake_time) as client, pytest.raises(TransientError) as info:
        client.send_encoded([ITEM], ["m-1"])
    assert (info.value.status, info.value.attempts) == (status, 4)


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422])
def test_other_4xx_are_not_retried(emu: Emulator, fake_time: FakeTime, status: int) -> None:
    emu.set_faults(error_rate=1.0, error_status=status)
    with make_client(emu.url, fake_time) as client, pytest.raises(RejectedError) as info:
        client.send_encoded([ITEM], ["m-1"])
    assert (info.value.status, info.value.attempts) == (status, 1)
    assert fake_time.sleeps == []


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_not_retried(emu: Emulator, fake_time: FakeTime, status: int) -> None:
    emu.set_faults(error_rate=1.0, error_status=status)
    with make_client(emu.url, fake_time) as client, pytest.raises(AuthenticationError) as info:
        client.send_encoded([ITEM], ["m-1"])
    assert (info.value.status, info.value.attempts) == (status, 1)


def test_retry_after_is_honoured_exactly(emu: Emulator, fake_time: FakeTime) -> None:
    emu.set_faults(storm_seconds=60, storm_retry_after=7)
    with make_client(emu.url, fake_time) as client, pytest.raises(RateLimitedError) as info:
        client.send_encoded([ITEM], ["m-1"])
    assert fake_time.sleeps == [7.0, 7.0, 7.0]
    assert (info.value.status, info.value.retry_after, info.value.attempts) == (429, 7.0, 4)
    assert isinstance(info.value, TransientError)


def test_retry_after_is_capped(emu: Emulator, fake_time: FakeTime) -> None:
    emu.set_faults(storm_seconds=60, storm_retry_after=300)
    retry = RetryPolicy(max_attempts=3, retry_after_cap=60.0, rng=random.Random(1))
    with make_client(emu.url, fake_time, retry=retry) as client, pytest.raises(RateLimitedError):
        client.send_encoded([ITEM], ["m-1"])
    assert fake_time.sleeps == [60.0, 60.0]


def test_429_pauses_every_request_of_the_limiter(emu: Emulator, fake_time: FakeTime) -> None:
    """While the retried request waits out Retry-After, another sender on the same limiter
    must wait too (not only the retried request)."""
    emu.set_faults(storm_seconds=60, storm_retry_after=3)
    limiter = RateLimiter(3000, 3.0, clock=fake_time.clock, sleep=fake_time.sleep)
    other_waits: list[float] = []

    def sleep(seconds: float) -> None:
        other_waits.append(limiter.reserve())  # another thread asking for a slot right now
        emu.clear_faults()
        fake_time.sleep(seconds)

    client = CustomerIOClient(
        PIPELINES_KEY, endpoint=emu.url, clock=fake_time.clock, sleep=sleep, rate_limiter=limiter
    )
    metrics = client.send_encoded([ITEM], ["m-1"])
    assert metrics.statuses == (429, 200)
    assert other_waits == [3.0]
    assert fake_time.sleeps == [3.0, pytest.approx(0.001)]  # the retry itself queues behind it


def test_limiter_is_asked_before_every_attempt(emu: Emulator, fake_time: FakeTime) -> None:
    emu.set_faults(error_rate=1.0, error_status=503)
    limiter = RateLimiter(1, 2.0, burst=1, clock=fake_time.clock, sleep=fake_time.sleep)
    retry = RetryPolicy(max_attempts=3, base_delay=0.0)
    with (
        make_client(emu.url, fake_time, retry=retry, rate_limiter=limiter) as client,
        pytest.raises(TransientError),
    ):
        client.send_encoded([ITEM], ["m-1"])
    assert fake_time.sleeps == [2.0, 2.0]  # backoff 0, then the limiter spaces the attempts


def test_connection_refused_is_retried_then_transient(fake_time: FakeTime) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    seen: list[RequestMetrics] = []
    with (
        make_client(f"http://127.0.0.1:{port}", fake_time, seen) as client,
        pytest.raises(TransientError) as info,
    ):
        client.send_encoded([ITEM], ["m-1"])
    assert (info.value.status, info.value.code, info.value.attempts) == (
        None,
        "connection_error",
        4,
    )
    assert fake_time.sleeps == jitter(42, 0.5, 1.0, 2.0)
    assert seen[0].statuses == (None, None, None, None) and seen[0].status is None


def test_dropped_connection_is_retried(emu: Emulator, fake_time: FakeTime) -> None:
    emu.set_faults(drop_before_read=1.0)

    def heal(seconds: float) -> None:
        emu.clear_faults()
        fake_time.sleep(seconds)

    client = CustomerIOClient(PIPELINES_KEY, endpoint=emu.url, clock=fake_time.clock, sleep=heal)
    metrics = client.send_encoded([ITEM], ["m-1"])
    assert metrics.statuses == (None, 200)
    assert emu.message_id_counts() == {"m-1": 1}


def test_breaker_opens_rejects_fast_half_opens_and_recovers(
    emu: Emulator, fake_time: FakeTime
) -> None:
    emu.set_faults(error_rate=1.0, error_status=503)
    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=30.0, clock=fake_time.clock)
    seen: list[RequestMetrics] = []
    with make_client(
        emu.url, fake_time, seen, breaker=breaker, retry=RetryPolicy(max_attempts=1)
    ) as client:
        for _ in range(3):
            with pytest.raises(TransientError):
                client.send_encoded([ITEM], ["m-1"])
        assert breaker.state is BreakerState.OPEN
        requests_so_far = emu.stats().as_dict()["requests"]

        with pytest.raises(CircuitOpenError) as info:
            client.send_encoded([ITEM], ["m-1"])
        assert info.value.retry_after == 30.0 and info.value.message_ids == ("m-1",)
        assert emu.stats().as_dict()["requests"] == requests_so_far  # rejected without sending
        assert (seen[-1].attempts, seen[-1].error_class) == (0, "CircuitOpenError")

        fake_time.advance(30.0)
        emu.clear_faults()
        assert breaker.state is BreakerState.HALF_OPEN
        assert client.send_encoded([ITEM], ["m-1"]).status == 200  # the probe
        assert breaker.state is BreakerState.CLOSED


def test_breaker_open_mid_retry_stops_the_retries(emu: Emulator, fake_time: FakeTime) -> None:
    emu.set_faults(error_rate=1.0, error_status=503)
    breaker = CircuitBreaker(failure_threshold=2, recovery_timeout=30.0, clock=fake_time.clock)
    with (
        make_client(emu.url, fake_time, breaker=breaker) as client,
        pytest.raises(CircuitOpenError) as info,
    ):
        client.send_encoded([ITEM], ["m-1"])
    assert info.value.attempts == 2


def test_a_failing_hook_does_not_fail_the_send(
    emu: Emulator, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    def hook(metrics: RequestMetrics) -> None:
        raise RuntimeError("ledger down")

    client = CustomerIOClient(PIPELINES_KEY, endpoint=emu.url, on_request=hook)
    assert client.send_encoded([ITEM], ["m-1"]).ok
    assert "on_request hook raised RuntimeError" in caplog.text
