"""A batch whose sends all finished but whose ledger write did not, run again: the ledger is built
from everything the journal holds for the batch (whichever attempt wrote it) and its lineage adds
up; nothing is sent twice.

The faults are real ones, not mocks: a ledger table that refuses the append (a table someone
created with the wrong schema: the Delta commit fails), and for the Data Source door a checkpoint
whose commit log already names the batch (Spark fails the query after the sink's ``commit()``
and before the checkpoint records the batch — what a driver killed at that point leaves).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.spark.ledger import Ledger
from streaming_jobs import sync_events

from .conftest import KEY

pytestmark = pytest.mark.spark

N = 3000
BAD = 300  # every tenth row has malformed JSON properties


def _create(spark: Any, path: str) -> None:
    (
        spark.range(N)
        .selectExpr(
            "format_string('evt-%05d', id) AS event_id",
            "concat('user-', id % 97) AS user_id",
            "'Order Completed' AS event",
            "CASE WHEN id % 10 = 3 THEN concat('{\"amount\": ', id) "
            "ELSE concat('{\"amount\": ', id, '}') END AS props",
            "timestamp'2024-05-01 12:00:00' AS ts",
        )
        .write.format("delta")
        .save(path)
    )


def _argv(tmp_path: Path, url: str, *extra: str) -> list[str]:
    return [
        "--source",
        str(tmp_path / "events"),
        "--checkpoint",
        str(tmp_path / "cp"),
        "--ledger-path",
        str(tmp_path / "ledger"),
        "--endpoint",
        url,
        "--event-column",
        "event",
        "--properties-json",
        "props",
        "--timestamp-column",
        "ts",
        "--row-id-column",
        "event_id",
        *extra,
    ]


def _broken_table(spark: Any, ledger: Path, name: str) -> None:
    """A Delta table at the ledger table's place whose schema refuses the sink's rows."""
    spark.createDataFrame([(1,)], "wrong INT").write.format("delta").save(str(ledger / name))


def _check_ledger(spark: Any, tmp_path: Path, emulator: Any) -> None:
    counts = emulator.message_id_counts()
    assert len(counts) == N - BAD
    assert set(counts.values()) == {1}, "a message was sent twice"
    ledger = Ledger(path=str(tmp_path / "ledger"))
    acks = ledger.read(spark, "acks")
    assert acks.count() == N - BAD
    assert {r.message_id for r in acks.select("message_id").collect()} == set(counts)
    dead = ledger.read(spark, "dead_letters")
    assert dead.count() == BAD
    assert dead.where("error_class = 'ValidationError'").count() == BAD
    lineage = ledger.read(spark, "lineage").collect()
    assert len(lineage) == 1
    row = lineage[0]
    assert (row.rows_in, row.acked, row.dead_lettered, row.parked) == (N, N - BAD, BAD, 0)
    assert row.rows_in == row.acked + row.dead_lettered + row.parked + row.skipped


def test_rerun_after_every_ledger_write_failed_writes_the_whole_ledger(
    spark: Any, tmp_path: Path, emulator: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    _create(spark, str(tmp_path / "events"))
    ledger = tmp_path / "ledger"
    for name in ("acks", "dead_letters"):
        _broken_table(spark, ledger, name)
    argv = _argv(tmp_path, emulator.url)

    assert sync_events.main(argv) == 1  # every message sent, then the ledger commits failed
    assert emulator.stats().accepted == N - BAD

    for name in ("acks", "dead_letters"):
        shutil.rmtree(ledger / name)  # the operator fixes the tables and runs the job again
    assert sync_events.main(argv) == 0
    _check_ledger(spark, tmp_path, emulator)


def test_rerun_after_a_ledger_half_written_completes_it_once(
    spark: Any, tmp_path: Path, emulator: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    _create(spark, str(tmp_path / "events"))
    ledger = tmp_path / "ledger"
    _broken_table(spark, ledger, "dead_letters")
    argv = _argv(tmp_path, emulator.url)

    assert sync_events.main(argv) == 1  # acks committed, dead letters refused, no lineage
    assert Ledger(path=str(ledger)).read(spark, "acks").count() == N - BAD

    shutil.rmtree(ledger / "dead_letters")
    assert sync_events.main(argv) == 0
    _check_ledger(spark, tmp_path, emulator)  # acks not doubled, dead letters all there


def test_datasource_rerun_after_commit_before_checkpoint_writes_the_whole_ledger(
    spark: Any, tmp_path: Path, emulator: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    _create(spark, str(tmp_path / "events"))
    ledger = tmp_path / "ledger"
    argv = _argv(tmp_path, emulator.url, "--front-door", "datasource")
    # The commit log already names batch 0: Spark fails the query right after the sink's
    # commit(), so the checkpoint never records the batch and the next run replays it. The
    # broken tables stand for a driver that died before it wrote the ledger.
    commit = tmp_path / "cp" / "commits" / "0"
    commit.parent.mkdir(parents=True)
    commit.write_text('v1\n{"nextBatchWatermarkMs":0}')
    for name in ("acks", "dead_letters"):
        _broken_table(spark, ledger, name)

    assert sync_events.main(argv) == 1
    assert emulator.stats().accepted == N - BAD

    commit.unlink()
    for name in ("acks", "dead_letters"):
        shutil.rmtree(ledger / name)
    assert sync_events.main(argv) == 0
    _check_ledger(spark, tmp_path, emulator)


@pytest.mark.parametrize("claim_kept", [True, False], ids=["claim-kept", "claim-lost"])
def test_rerun_after_the_whole_ledger_but_before_the_checkpoint_adds_nothing(
    spark: Any, tmp_path: Path, emulator: Any, monkeypatch: Any, claim_kept: bool
) -> None:
    """The first attempt of a batch appends without Delta's txn check (it claimed the journal);
    killed after its lineage and before the checkpoint, the batch runs again: the rows are
    there once. Without the claim (lost, or an older version's attempt that left none) the
    re-run still finds every message already final and keeps the committed rows."""
    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    _create(spark, str(tmp_path / "events"))
    argv = _argv(tmp_path, emulator.url)
    assert sync_events.main(argv) == 0
    claims = list((tmp_path / "ledger").rglob("batch=0/_ingest.started"))
    assert len(claims) == 1, "the first attempt claims the batch's journal"

    # What a driver killed after the ledger and before the checkpoint leaves.
    for name in ("0", ".0.crc"):
        (tmp_path / "cp" / "commits" / name).unlink()
    if not claim_kept:
        claims[0].unlink()
    assert sync_events.main(argv) == 0
    _check_ledger(spark, tmp_path, emulator)  # nothing sent twice, no row twice
