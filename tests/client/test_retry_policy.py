"""Retry classification, Retry-After parsing and the backoff schedule."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from customerio_sink.client.retry import Outcome, RetryPolicy, classify, parse_retry_after
from customerio_sink.errors import ConfigError


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.OK),
        (204, Outcome.OK),
        (None, Outcome.RETRY),
        (408, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (502, Outcome.RETRY),
        (503, Outcome.RETRY),
        (599, Outcome.RETRY),
        (401, Outcome.AUTH),
        (403, Outcome.AUTH),
        (400, Outcome.REJECT),
        (404, Outcome.REJECT),
        (409, Outcome.REJECT),
        (413, Outcome.REJECT),
        (422, Outcome.REJECT),
        (301, Outcome.REJECT),
    ],
)
def test_classification_table(status: int | None, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_parse_retry_after() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("Wed, 01 May 2024 12:00:07 GMT", now=now) == 7.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None


def test_full_jitter_schedule_is_exact_with_a_seed() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=30.0, rng=random.Random(7))
    reference = random.Random(7)
    expected = [reference.uniform(0, c) for c in (0.5, 1.0, 2.0, 4.0, 8.0)]
    assert [policy.delay(n) for n in range(1, 6)] == expected
    assert [policy.ceiling(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert policy.ceiling(5000) == 30.0


def test_retry_after_overrides_and_is_capped() -> None:
    policy = RetryPolicy(retry_after_cap=60.0, rng=random.Random(1))
    assert policy.delay(1, retry_after=2.0) == 2.0
    assert policy.delay(3, retry_after=600.0) == 60.0
    assert policy.delay(3, retry_after=-1.0) == 0.0


def test_attempt_budget() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.should_retry(n) for n in (1, 2, 3)] == [True, True, False]
    with pytest.raises(ConfigError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigError):
        RetryPolicy(base_delay=-1)
