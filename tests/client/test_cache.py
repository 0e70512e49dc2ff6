"""The TTL cache used for App API lookups."""

from __future__ import annotations

import pytest

from customerio_sink.errors import ConfigError
from customerio_sink.reporting.cache import TTLCache

from .conftest import FakeTime


def test_expiry_lru_and_tags(fake_time: FakeTime) -> None:
    cache: TTLCache[int] = TTLCache(maxsize=2, ttl=10.0, clock=fake_time.clock)
    cache.set("a", 1, tags=["p1"])
    cache.set("b", 2, tags=["p1", "p2"])
    assert cache.get("a") == 1  # a is now most recent
    cache.set("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and len(cache) == 2
    fake_time.advance(10.0)
    assert cache.get("a") is None and cache.get("c") is None
    cache.set("x", 1, tags=["p"])
    cache.set("y", 2, tags=["p"])
    assert cache.invalidate_tag("p") == 2 and len(cache) == 0
    cache.set("z", 1)
    cache.invalidate("z")
    cache.invalidate("missing")
    cache.set("w", 1)
    cache.clear()
    assert len(cache) == 0 and cache.hits >= 1 and cache.misses >= 1


def test_zero_size_disables(fake_time: FakeTime) -> None:
    cache: TTLCache[int] = TTLCache(maxsize=0, clock=fake_time.clock)
    cache.set("a", 1)
    assert cache.get("a") is None
    with pytest.raises(ConfigError):
        TTLCache(ttl=-1)
