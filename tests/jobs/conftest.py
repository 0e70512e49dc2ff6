"""Fixtures for the job tests: the emulator, and a small events table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from customerio_sink.emulator import Emulator

KEY = "jobs-test-key-0123456789"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(keys=(KEY,)) as emu:
        yield emu


def create_events(spark: Any, path: str, n: int) -> list[str]:
    """An append-only events table: ``n`` valid events plus two invalid ones (no user id, no
    event name). Returns the valid events' ids."""
    rows = [
        (
            f"evt-{i:03d}",
            f"user-{i % 7}",
            ("Signed Up", "Order Completed")[i % 2],
            f'{{"amount": {i}, "sku": "SKU-{i % 5}"}}',
        )
        for i in range(n)
    ]
    rows += [("evt-bad-1", None, "Logged In", "{}"), ("evt-bad-2", "user-1", "", "{}")]
    (
        spark.createDataFrame(rows, "event_id STRING, user_id STRING, event STRING, props STRING")
        .selectExpr("*", "timestamp'2024-05-01 12:00:00' AS ts")
        .write.format("delta")
        .save(path)
    )
    return [r[0] for r in rows[:n]]
