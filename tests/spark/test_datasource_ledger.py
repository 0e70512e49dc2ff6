"""``format("customerio")`` writes the ledger by itself: nothing to call after ``start()`` or
``save()``. Real local Spark and Delta, the emulator over HTTP on loopback.

The tests wait on the ledger thread (``wait_for``: it asks for nothing, it only waits until the
batch is written) or call ``cio.flush()`` where a user would; they never sleep.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import customerio_sink as cio
from customerio_sink.spark.datasource import prepare, register
from customerio_sink.spark.listener import ingestor
from customerio_sink.spark.options import SinkOptions
from customerio_sink.spark.runner import read_source

from .conftest import EVENTS, KEY, sink_options

pytestmark = pytest.mark.spark

EVENTS_DDL = "event_id STRING, user_id STRING, event STRING, properties STRING, ts STRING"
TS = "2026-01-05T10:00:00Z"
WAIT_S = 180.0


def _rows(start: int, n: int) -> list[tuple[str, ...]]:
    """Events ``start``..``start+n``; every seventh has malformed JSON (a dead letter)."""
    return [
        (
            f"e{i:04d}",
            f"u{i % 13}",
            "Page Viewed",
            '{"i": ' + str(i) if i % 7 == 3 else json.dumps({"i": i}),
            TS,
        )
        for i in range(start, start + n)
    ]


def _bad(start: int, n: int) -> int:
    return sum(1 for i in range(start, start + n) if i % 7 == 3)


def _append(spark: Any, path: str, start: int, n: int) -> None:
    """One Delta commit of one file (so ``maxFilesPerTrigger=1`` makes it one micro-batch)."""
    df = spark.createDataFrame(_rows(start, n), EVENTS_DDL).coalesce(1)
    df.write.format("delta").mode("append").save(path)


def _start(spark: Any, opts: SinkOptions, path: str, checkpoint: str) -> Any:
    register(spark)
    source = read_source(spark, path, kind="queue", reader_options={"maxFilesPerTrigger": "1"})
    return (
        prepare(source, opts)
        .writeStream.format("customerio")
        .options(**opts.to_options())
        .option("checkpointLocation", checkpoint)
        .start()
    )


def _last_batch(query: Any) -> int:
    return max(p["batchId"] for p in query.recentProgress if p["numInputRows"] > 0)


def _check_ledger(spark: Any, opts: SinkOptions, emu: cio.Emulator, n: int, bad: int) -> None:
    """Every source row once in the ledger (acks + dead letters), lineage adds up, and the
    emulator received each acknowledged message id once."""
    job = f"job = '{opts.job}'"
    acks = [r.message_id for r in opts.ledger.read(spark, "acks").where(job).collect()]
    dead = [r.message_id for r in opts.ledger.read(spark, "dead_letters").where(job).collect()]
    assert len(dead) == bad
    assert len(acks) + len(dead) == n
    assert len(set(acks) | set(dead)) == n
    counts = emu.message_id_counts()
    assert set(counts) == set(acks)
    assert set(counts.values()) == {1}
    lineage = opts.ledger.read(spark, "lineage").where(job).collect()
    batches = [(r.run_id, r.batch_id) for r in lineage]
    assert len(batches) == len(set(batches))
    assert sum(r.rows_in for r in lineage) == n
    for r in lineage:
        assert r.front_door == "datasource"
        assert r.rows_in == r.acked + r.dead_lettered + r.parked + r.skipped


def _journal_batches(opts: SinkOptions, run_id: str) -> list[str]:
    base = Path(opts.ledger.journal) / opts.job / run_id
    return sorted(p.name for p in base.glob("batch=*"))


def test_a_stream_fills_the_ledger_with_no_call_after_start(
    spark: Any, tmp_path: Path, emulator: cio.Emulator
) -> None:
    path = str(tmp_path / "events")
    _append(spark, path, 0, 40)
    _append(spark, path, 40, 40)
    opts = sink_options(tmp_path, emulator, EVENTS, "ds-stream")
    query = _start(spark, opts, path, str(tmp_path / "cp"))
    query.processAllAvailable()
    last = _last_batch(query)
    query.stop()
    assert last == 1
    ingestor().wait_for(str(query.id), last, WAIT_S)  # type: ignore[union-attr]

    _check_ledger(spark, opts, emulator, 80, _bad(0, 80))
    # Pruned like the foreachBatch door: only the last batch's journal is kept.
    assert _journal_batches(opts, str(query.id)) == ["batch=1"]


def test_a_stream_stopped_half_way_and_restarted_accounts_for_every_row_once(
    spark: Any, tmp_path: Path, emulator: cio.Emulator
) -> None:
    path = str(tmp_path / "events")
    checkpoint = tmp_path / "cp"
    opts = sink_options(tmp_path, emulator, EVENTS, "ds-restart")
    _append(spark, path, 0, 30)
    _append(spark, path, 30, 30)
    first = _start(spark, opts, path, str(checkpoint))
    first.processAllAvailable()
    first.stop()
    # What a driver killed between the sink's commit and the checkpoint's leaves: the checkpoint
    # does not know batch 1 was done, so the restarted query runs it again.
    for name in ("1", ".1.crc"):
        (checkpoint / "commits" / name).unlink(missing_ok=True)
    _append(spark, path, 60, 30)
    _append(spark, path, 90, 30)

    second = _start(spark, opts, path, str(checkpoint))
    second.processAllAvailable()
    last = _last_batch(second)
    second.stop()
    assert second.id == first.id and last == 3
    ingestor().wait_for(str(second.id), last, WAIT_S)  # type: ignore[union-attr]

    _check_ledger(spark, opts, emulator, 120, _bad(0, 120))
    assert emulator.stats().duplicates == 0
    lineage = opts.ledger.read(spark, "lineage").where("job = 'ds-restart'").collect()
    assert sorted(r.batch_id for r in lineage) == [0, 1, 2, 3]


def test_a_batch_write_fills_the_ledger_under_a_run_id_that_can_be_found(
    spark: Any, tmp_path: Path, emulator: cio.Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="customerio_sink.spark.listener")
    opts = sink_options(tmp_path, emulator, EVENTS, "ds-batch")
    register(spark)

    def write(df: Any, run_id: str | None) -> None:
        writer = prepare(df, opts).write.format("customerio").options(**opts.to_options())
        if run_id:
            writer = writer.option("run_id", run_id)
        writer.mode("append").save()

    # A run id of one's own: nothing to call, the ledger thread picks the write up.
    write(spark.createDataFrame(_rows(0, 21), EVENTS_DDL), "backfill-1")
    ingestor().wait_for("backfill-1", 0, WAIT_S)  # type: ignore[union-attr]
    _check_ledger(spark, opts, emulator, 21, _bad(0, 21))

    # A generated run id: cio.flush() returns the write's lineage row, with its run id, and the
    # ledger thread logs it.
    write(spark.createDataFrame(_rows(21, 14), EVENTS_DDL), None)
    flushed = cio.flush(WAIT_S)
    rows = [r for r in flushed if r["job"] == "ds-batch" and r["run_id"] != "backfill-1"]
    run_ids = [r["run_id"] for r in rows]
    assert len(run_ids) == 1 and run_ids[0].startswith("batch-"), run_ids
    assert any(run_ids[0] in rec.getMessage() for rec in caplog.records)
    acks = opts.ledger.read(spark, "acks").where(f"run_id = '{run_ids[0]}'").count()
    assert acks == 14 - _bad(21, 14)
    _check_ledger(spark, opts, emulator, 35, _bad(0, 35))


def test_a_bad_run_id_option_fails_in_one_line(
    spark: Any, tmp_path: Path, emulator: cio.Emulator
) -> None:
    opts = sink_options(tmp_path, emulator, EVENTS, "ds-bad-run")
    register(spark)
    df = prepare(spark.createDataFrame(_rows(0, 1), EVENTS_DDL), opts)
    writer = df.write.format("customerio").options(**opts.to_options()).mode("append")
    with pytest.raises(Exception, match="option run_id: 1-100 letters") as caught:
        writer.option("run_id", "../elsewhere").save()
    assert KEY not in str(caught.value)
    assert emulator.message_id_counts() == {}


def test_sync_of_a_static_dataframe_through_the_data_source(
    spark: Any, tmp_path: Path, emulator: cio.Emulator
) -> None:
    df = spark.createDataFrame(_rows(0, 14), EVENTS_DDL)
    result = cio.sync(
        spark,
        source=df,
        mapping=cio.Events(
            user_id="user_id",
            event_column="event",
            properties_json="properties",
            timestamp="ts",
            row_id="event_id",
        ),
        ledger=str(tmp_path / "ledger"),
        job="ds-sync-batch",
        api_key=KEY,
        endpoint=emulator.url,
        front_door="datasource",
        progress=None,
    )
    assert result.query_id and result.query_id.startswith("batch-")
    assert result.totals["acked"] == 14 - _bad(0, 14)
    assert result.totals["dead_lettered"] == _bad(0, 14)
    acks = cio.Ledger(path=str(tmp_path / "ledger")).read(spark, "acks")
    assert acks.where(f"run_id = '{result.query_id}'").count() == 14 - _bad(0, 14)
