"""A small thread-safe TTL + LRU cache with tags, for App API lookups.

Entries expire ``ttl`` seconds after they were stored (on the injected clock) and the least
recently used entry goes first when ``maxsize`` is reached. Each entry may carry *tags* — for a
customer lookup, the customer's id and email — so one write to a person evicts every cached
answer about them with :meth:`TTLCache.invalidate_tag`, whichever key it was cached under.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

from customerio_sink.errors import ConfigError

__all__ = ["TTLCache"]

V = TypeVar("V")


class TTLCache(Generic[V]):
    """``get``/``set``/``invalidate`` with expiry; ``maxsize=0`` disables caching."""

    def __init__(
        self,
        maxsize: int = 1024,
        ttl: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maxsize < 0 or ttl < 0:
            raise ConfigError("maxsize and ttl must not be negative")
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._data: OrderedDict[Hashable, tuple[float, V, frozenset[str]]] = OrderedDict()
        self._tags: dict[str, set[Hashable]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"TTLCache(maxsize={self.maxsize}, ttl={self.ttl}, size={len(self)})"

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def get(self, key: Hashable) -> V | None:
        """The live value for ``key``, or ``None`` (missing or expired)."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                self.misses += 1
                return None
            expires, value, _ = entry
            if self._clock() >= expires:
                self._drop(key)
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def set(self, key: Hashable, value: V, *, tags: Iterable[str] = ()) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, findable by each of ``tags``."""
        if self.maxsize == 0:
            return
        tag_set = frozenset(tags)
        with self._lock:
            if key in self._data:
                self._drop(key)
            self._data[key] = (self._clock() + self.ttl, value, tag_set)
            for tag in tag_set:
                self._tags.setdefault(tag, set()).add(key)
            while len(self._data) > self.maxsize:
                self._drop(next(iter(self._data)))

    def invalidate(self, key: Hashable) -> None:
        """Forget ``key`` (no error if absent)."""
        with self._lock:
            if key in self._data:
                self._drop(key)

    def invalidate_tag(self, tag: str) -> int:
        """Forget every entry tagged ``tag``; returns how many went."""
        with self._lock:
            keys = list(self._tags.get(tag, ()))
            for key in keys:
                self._drop(key)
            return len(keys)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data.clear()
            self._tags.clear()

    def _drop(self, key: Hashable) -> None:
        _, _, tags = self._data.pop(key)
        for tag in tags:
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[tag]
