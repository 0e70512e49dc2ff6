"""Each batch's lineage row keeps where its time went, and a ledger made before those columns
existed gains them on the next batch (no migration step for users upgrading)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import customerio_sink as cio
from customerio_sink.emulator import Emulator
from customerio_sink.spark.ledger_tables import TABLES

from .conftest import KEY, NEEDS_DATASOURCE, create_people, sync_into

pytestmark = pytest.mark.spark

TIMES = ("map_seconds", "send_seconds", "ledger_seconds", "overhead_seconds")
OLD_LINEAGE = TABLES["lineage"].split(", map_seconds")[0]  # the schema before the breakdown


def test_an_old_lineage_table_gains_the_breakdown_and_every_batch_fills_it(
    spark: Any, tmp_path: Path, emulator: Emulator
) -> None:
    assert TABLES["lineage"] != OLD_LINEAGE and "map_seconds" not in OLD_LINEAGE
    lineage_path = str(tmp_path / "ledger" / "lineage")
    spark.createDataFrame([], OLD_LINEAGE).write.format("delta").save(lineage_path)
    source = str(tmp_path / "people")
    create_people(spark, source, 40)

    result = sync_into(
        spark,
        emulator,
        tmp_path,
        source,
        cio.People(user_id="id", traits=["email", "plan"]),
        "people_times",
        key=KEY,
    )

    assert result.totals["acked"] == 40 and emulator.stats().accepted == 40
    rows = spark.read.format("delta").load(lineage_path).collect()
    assert len(rows) == len(result.batches) >= 1
    for row in rows:
        values = [row[name] for name in TIMES]
        assert all(v is not None and v >= 0 for v in values), dict(zip(TIMES, values, strict=True))
        assert row["map_seconds"] + row["send_seconds"] > 0  # 40 people went over HTTP
    # The result and its summary line tell the same story as the table.
    spent = result.time_breakdown()
    assert spent["send"] == pytest.approx(sum(r["send_seconds"] for r in rows))
    assert spent["ledger"] == pytest.approx(sum(r["ledger_seconds"] for r in rows))
    assert result.wall_s is not None and spent["wall"] == result.wall_s
    assert " s: map " in result.summary_line() and "events/s" in result.summary_line()


@NEEDS_DATASOURCE
def test_the_data_source_door_splits_map_and_send_from_its_tasks(
    spark: Any, tmp_path: Path, emulator: Emulator
) -> None:
    source = str(tmp_path / "people")
    create_people(spark, source, 30)
    result = sync_into(
        spark,
        emulator,
        tmp_path,
        source,
        cio.People(user_id="id", traits=["email"]),
        "people_ds_times",
        key=KEY,
        front_door="datasource",
    )
    assert result.totals["acked"] == 30 and emulator.stats().accepted == 30
    rows = spark.read.format("delta").load(str(tmp_path / "ledger" / "lineage")).collect()
    assert rows
    for row in rows:
        assert row["map_seconds"] is not None and row["send_seconds"] is not None
        assert row["map_seconds"] + row["send_seconds"] > 0
        assert row["ledger_seconds"] is not None
        assert row["overhead_seconds"] is None  # the door cannot see the stream's own time
    assert "n/a" not in result.summary_line()
