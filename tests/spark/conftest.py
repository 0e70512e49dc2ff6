"""Fixtures for the sink tests: the emulator over HTTP, Delta tables and sink options."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.client.secrets import SecretKey
from customerio_sink.emulator import Emulator
from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.mapping import MessageMapping
from customerio_sink.spark.options import SinkOptions

KEY = "sink-test-key"

#: Tests of the Python Data Source door: Spark 4.0 and newer have its API (the matrix's Spark 3.5
#: leg runs the rest).
HAS_DATASOURCE = importlib.util.find_spec("pyspark.sql.datasource") is not None
NEEDS_DATASOURCE = pytest.mark.skipif(
    not HAS_DATASOURCE, reason="this Spark has no Python Data Source API (Spark 4.0+)"
)

PEOPLE = MessageMapping(
    source="cdf", entity="person", user_id="id", traits=("email", "plan", "score")
)
EVENTS = MessageMapping(
    source="queue",
    call="track",
    user_id="user_id",
    event_column="event",
    properties_json="properties",
    timestamp="ts",
    row_id="event_id",
)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(keys=(KEY,)) as emu:
        yield emu


def sink_options(
    tmp_path: Path, emu: Emulator, mapping: MessageMapping, job: str, **kw: Any
) -> SinkOptions:
    """Options for a test job: fast retries (tiny real delays), the emulator as endpoint."""
    defaults: dict[str, Any] = {
        "api_key": SecretKey(KEY),
        "endpoint": emu.url,
        "rate_requests": None,
        "max_attempts": 8,
        "base_delay_s": 0.01,
        "max_delay_s": 0.2,
        "retry_after_cap_s": 0.5,
        "breaker_threshold": 1000,
        "timeout_s": 10.0,
    }
    defaults.update(kw)
    return SinkOptions(
        job=job, mapping=mapping, ledger=Ledger(path=str(tmp_path / "ledger")), **defaults
    )


def create_people(spark: Any, path: str, n: int) -> None:
    """A people table with change data feed on and ``n`` rows (one commit)."""
    spark.sql(
        f"CREATE TABLE delta.`{path}` (id STRING, email STRING, plan STRING, score INT) "
        "USING delta TBLPROPERTIES (delta.enableChangeDataFeed = true)"
    )
    (
        spark.range(n)
        .selectExpr(
            "concat('user-', id) AS id",
            "concat('user', id, '@example.com') AS email",
            "CASE WHEN id % 3 = 0 THEN 'pro' ELSE 'free' END AS plan",
            "CAST(id % 100 AS INT) AS score",
        )
        .write.format("delta")
        .mode("append")
        .save(path)
    )


def sync_into(
    spark: Any,
    emu: Emulator,
    tmp_path: Path,
    source: str,
    mapping: Any,
    job: str,
    *,
    key: str,
    checkpoint: str = "cp",
    **settings: Any,
) -> Any:
    """``cio.sync`` of ``source`` into the emulator, with the test's ledger (``tmp_path/ledger``)
    and checkpoint (``tmp_path/<checkpoint>``), quietly."""
    import customerio_sink as cio

    return cio.sync(
        spark,
        source=source,
        mapping=mapping,
        checkpoint=str(tmp_path / checkpoint),
        ledger=str(tmp_path / "ledger"),
        api_key=key,
        endpoint=emu.url,
        job=job,
        progress=None,
        **settings,
    )
