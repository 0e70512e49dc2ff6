"""Ledger tables: created once, even when two jobs start on one fresh ledger at the same time."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.spark.ledger import TABLE_PROPERTIES, TABLES, Ledger

pytestmark = pytest.mark.spark


def test_two_jobs_creating_one_fresh_ledger_at_once_both_succeed(
    spark: Any, tmp_path: Path
) -> None:
    # Without the retry this failed at once here: Delta's ProtocolChangedException for the job
    # that lost the race for a table's first commit (five tables: five races).
    ledger = Ledger(path=str(tmp_path / "ledger"))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def job() -> None:
        barrier.wait()
        try:
            ledger.ensure_tables(spark)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for name in TABLES:
        assert ledger.read(spark, name).count() == 0


def test_acks_keep_statistics_only_on_their_lookup_columns(spark: Any, tmp_path: Path) -> None:
    ledger = Ledger(path=str(tmp_path / "ledger"))
    ledger.ensure_tables(spark)
    ledger.ensure_tables(spark)  # a second call changes nothing
    props = {
        r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {ledger.table('acks')}").collect()
    }
    expected = TABLE_PROPERTIES["acks"]["delta.dataSkippingStatsColumns"]
    assert props["delta.dataSkippingStatsColumns"] == expected
    assert set(expected.split(",")) <= set(ledger.read(spark, "acks").columns)
