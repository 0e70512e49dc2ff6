"""Switchable faults for the Pipelines endpoints: the failures a sink must survive.

Every decision draws from one seeded ``random.Random`` (only for faults that are on), so a
single-threaded client sees the same sequence of faults on every run with the same seed.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FaultConfig", "Faults"]


@dataclass(frozen=True)
class FaultConfig:
    """One fault configuration; every field off by default.

    * ``error_rate`` — fraction (0..1) of requests answered ``error_status`` (400..599) without
      recording their messages;
    * ``latency_ms`` — fixed delay before every Pipelines answer;
    * ``drop_before_read`` — fraction of connections closed before the body is read (nothing
      recorded);
    * ``drop_after_accept`` — fraction of requests recorded as accepted whose connection is then
      closed without an answer (a client re-send then shows up as duplicates);
    * ``storm_seconds`` — for this long from the first Pipelines request after it is set (so a
      slow-starting client still meets it), every Pipelines request gets 429 with
      ``Retry-After: storm_retry_after``;
    * ``reject_message_ids`` — messages with these ids are treated as invalid;
    * ``seed`` — seeds the fault RNG (``None``: unseeded).
    """

    error_rate: float = 0.0
    error_status: int = 503
    latency_ms: float = 0.0
    drop_before_read: float = 0.0
    drop_after_accept: float = 0.0
    storm_seconds: float = 0.0
    storm_retry_after: int = 1
    reject_message_ids: frozenset[str] = field(default_factory=frozenset)
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_before_read", "drop_after_accept"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if not 400 <= self.error_status <= 599:
            raise ValueError("error_status must be an HTTP error status (400..599)")
        if self.latency_ms < 0 or self.storm_seconds < 0:
            raise ValueError("latency_ms and storm_seconds must be >= 0")
        if self.storm_retry_after < 1:
            raise ValueError("storm_retry_after must be >= 1 second")

    def as_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-ready dict (``reject_message_ids`` as a sorted list)."""
        data = asdict(self)
        data["reject_message_ids"] = sorted(self.reject_message_ids)
        return data


class Faults:
    """The current :class:`FaultConfig` plus its RNG; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._rng = random.Random()
        self._storm_until: float | None = 0.0  # None: starts at the next request

    @property
    def config(self) -> FaultConfig:
        return self._config

    def set(
        self,
        error_rate: float = 0.0,
        error_status: int = 503,
        latency_ms: float = 0.0,
        drop_before_read: float = 0.0,
        drop_after_accept: float = 0.0,
        storm_seconds: float = 0.0,
        storm_retry_after: int = 1,
        reject_message_ids: Iterable[str] = (),
        seed: int | None = None,
    ) -> FaultConfig:
        """Replace the whole configuration (fields not passed are off). Raises ``ValueError``."""
        if isinstance(reject_message_ids, str):
            reject_message_ids = (reject_message_ids,)
        config = FaultConfig(
            error_rate=float(error_rate),
            error_status=int(error_status),
            latency_ms=float(latency_ms),
            drop_before_read=float(drop_before_read),
            drop_after_accept=float(drop_after_accept),
            storm_seconds=float(storm_seconds),
            storm_retry_after=int(storm_retry_after),
            reject_message_ids=frozenset(str(m) for m in reject_message_ids),
            seed=seed,
        )
        with self._lock:
            self._config = config
            self._rng = random.Random(seed)
            self._storm_until = None if config.storm_seconds else 0.0
        return config

    def clear(self) -> None:
        self.set()

    def _draw(self, rate: float) -> bool:
        if rate <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def drop_before_read(self) -> bool:
        return self._draw(self._config.drop_before_read)

    def drop_after_accept(self) -> bool:
        return self._draw(self._config.drop_after_accept)

    def injected_error(self) -> int | None:
        """The status to answer instead of processing, or ``None``."""
        config = self._config
        return config.error_status if self._draw(config.error_rate) else None

    def storm_retry_after(self, now: float) -> int | None:
        """``Retry-After`` seconds while a 429 storm lasts (``now`` is monotonic), else ``None``."""
        with self._lock:
            if self._storm_until is None:
                self._storm_until = now + self._config.storm_seconds
            until = self._storm_until
        if now < until:
            return self._config.storm_retry_after
        return None

    @property
    def latency_s(self) -> float:
        return self._config.latency_ms / 1000.0

    @property
    def rejected_ids(self) -> frozenset[str]:
        return self._config.reject_message_ids
