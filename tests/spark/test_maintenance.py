"""The maintenance entry point: retention, OPTIMIZE with Z-order, VACUUM; userMetadata on the
sink's ledger commits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.maintenance import maintain

pytestmark = pytest.mark.spark

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def vacuum_now(spark: Any) -> Iterator[None]:
    name = "spark.databricks.delta.retentionDurationCheck.enabled"
    spark.conf.set(name, "false")
    yield
    spark.conf.set(name, "true")


def _request(batch: int, at: datetime) -> dict[str, Any]:
    return {
        "job": "j",
        "run_id": "r",
        "batch_id": batch,
        "endpoint": "/v1/batch",
        "status": 200,
        "attempts": 1,
        "latency_ms": 3.0,
        "request_bytes": 100,
        "message_count": 1,
        "error_class": None,
        "started_at": at,
    }


def test_maintenance_deletes_old_rows_optimizes_and_vacuums(
    spark: Any, tmp_path: Path, vacuum_now: None
) -> None:
    ledger = Ledger(path=str(tmp_path / "ledger"))
    ledger.ensure_tables(spark)
    for batch in range(3):  # three small files
        age = timedelta(days=20 if batch == 0 else 1)
        ledger.append_rows(spark, [_request(batch, NOW - age)], "requests")
    ledger._append(
        spark.createDataFrame(
            [_request(9, NOW)],
            "job STRING, run_id STRING, batch_id BIGINT, "
            "endpoint STRING, status INT, attempts INT, latency_ms DOUBLE, request_bytes BIGINT, "
            "message_count INT, error_class STRING, started_at TIMESTAMP",
        ),
        "requests",
        "j:r",
        9,
    )
    done = maintain(spark, ledger, retention_days={"requests": 7}, vacuum_hours=0, now=NOW)
    assert done["deleted"] == {"requests": 1}
    assert "requests" in done["optimized"] and "acks" in done["vacuumed"]
    assert sorted(r.batch_id for r in ledger.read(spark, "requests").collect()) == [1, 2, 9]
    history = spark.sql(f"DESCRIBE HISTORY {ledger.table('requests')}").collect()
    ops = [h.operation for h in history]
    assert "OPTIMIZE" in ops and "DELETE" in ops and "VACUUM END" in ops
    optimized = next(h for h in history if h.operation == "OPTIMIZE")
    assert "message_id" not in optimized.operationParameters["zOrderBy"]
    assert "batch_id" in optimized.operationParameters["zOrderBy"]
    # A sink write's commit says which job, run and batch made it; retention's DELETE its
    # table and cutoff.
    tagged = [h.userMetadata for h in history if h.userMetadata]
    assert sorted(tagged) == [
        "customerio-sink j:r batch 9",
        "customerio-sink retention requests before 2026-02-22T12:00:00+00:00",
    ]
