"""Ledger tables: created once, even when two jobs start on one fresh ledger at the same time."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.errors import ConfigError
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


def test_a_job_that_looks_while_another_is_mid_creation_waits_for_its_commit(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The window CI hit: the other job has made the table's folder but not yet its first commit.
    # Delta then either fails (DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION, what CI saw, when the
    # folder appears between analysis and execution) or, as here, does nothing at all; before the
    # fix the first failed the batch and the second went on without an acks table.
    from customerio_sink.spark import ledger as ledger_module

    ledger = Ledger(path=str(tmp_path / "ledger"))
    acks = Path(ledger.location("acks"))
    (acks / "_delta_log").mkdir(parents=True)  # made, its first commit file not yet written
    waits: list[float] = []

    def other_job_commits(seconds: float) -> None:  # a fake for time: the wait is where the
        waits.append(seconds)  # other job finishes; here it does so during the first wait
        if len(waits) == 1:
            (acks / "_delta_log").rmdir()
            spark.sql(f"CREATE TABLE {ledger.table('acks')} ({TABLES['acks']}) USING delta")

    monkeypatch.setattr(ledger_module, "_pause", other_job_commits)
    ledger.ensure_tables(spark)
    assert waits == [ledger_module.CREATE_WAIT_S]
    assert ledger.read(spark, "acks").count() == 0


def test_a_location_that_never_becomes_a_table_fails_naming_the_folder(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from customerio_sink.spark import ledger as ledger_module

    ledger = Ledger(path=str(tmp_path / "ledger"))
    acks = Path(ledger.location("acks"))
    (acks / "_delta_log").mkdir(parents=True)
    (acks / "notes.txt").write_text("someone else's files")
    waits: list[float] = []
    monkeypatch.setattr(ledger_module, "_pause", waits.append)
    with pytest.raises(ConfigError, match=r"ledger table 'acks': .*/ledger/acks holds files but"):
        ledger.ensure_tables(spark)
    assert len(waits) == ledger_module.CREATE_ATTEMPTS - 1
    assert (acks / "notes.txt").read_text() == "someone else's files"


def test_outcome_tables_of_older_and_newer_attempts_read_with_one_time_type(
    spark: Any, tmp_path: Path
) -> None:
    # An attempt written before the outcome table's ``at`` became a TIMESTAMP holds ISO text;
    # a re-run after an upgrade reads both kinds in one batch, and a crashed attempt's JSONL.
    import pyarrow as pa
    import pyarrow.parquet as pq

    from customerio_sink.engine.arrow import _schema
    from customerio_sink.engine.journaling import OUTCOME_FIELDS, REQUEST_LOG_FIELDS
    from customerio_sink.spark.ledger_frames import journal_frames

    def table(at_type: Any, at: Any, mid: str) -> Any:
        columns = {name: pa.nulls(1, pa.string()) for name, _ in OUTCOME_FIELDS}
        columns.update(outcome=pa.array(["acked"]), message_id=pa.array([mid]))
        columns["at"] = pa.array([at], at_type)
        return pa.table(columns)

    from datetime import datetime, timezone

    when = datetime(2026, 11, 29, 10, 0, 0, 123000, tzinfo=timezone.utc)
    old = table(pa.string(), "2026-11-29T10:00:00.123Z", "OLD")
    new = table(pa.timestamp("us", tz="UTC"), when, "NEW")
    for name, t in (("part-00000-aaa", old), ("part-00001-bbb", new)):
        pq.write_table(t, tmp_path / f"{name}.outcomes.parquet")
        requests = _schema(REQUEST_LOG_FIELDS).empty_table()
        pq.write_table(requests, tmp_path / f"{name}.requests.parquet")
        (tmp_path / f"{name}.jsonl").write_text("")
    crashed = (
        '{"outcome": "acked", "ids": ["CRASHED"], "keys": ["k"], "types": ["track"], '
        '"events": ["e"], "versions": [null], "status": 200, "at": "2026-11-29T10:00:00.123Z"}\n'
    )
    (tmp_path / "part-00002-ccc.jsonl").write_text(crashed)

    outcomes, _, exact = journal_frames(spark, tmp_path)
    assert not exact  # a crashed attempt: counts come from the rows
    assert dict(outcomes.dtypes)["at"] == "timestamp"
    got = {r["message_id"]: r["at"] for r in outcomes.collect()}
    assert set(got) == {"OLD", "NEW", "CRASHED"}
    assert len(set(got.values())) == 1  # the same instant, whichever way it was written
    assert got["NEW"].astimezone(timezone.utc) == when


@pytest.mark.parametrize(
    "skipped_by_reason", [{}, {"unchanged": 3, "duplicate": 2**40}], ids=["no-skips", "skips"]
)
def test_a_lineage_row_of_literals_equals_the_row_as_python_data(
    spark: Any, skipped_by_reason: dict[str, int]
) -> None:
    """The lineage row is planned from literals (no Python worker); it holds what
    createDataFrame of the same dict holds — NULLs, a map, times, quotes and big numbers."""
    from customerio_sink.spark.ledger_rows import literal_frame
    from customerio_sink.spark.ledger_tables import TABLES

    at = datetime(2026, 11, 29, 12, 30, 5, 123456, tzinfo=timezone.utc)
    row = {
        "job": 'it\'s "quoted" \\ ünïcode',
        "run_id": "run-1",
        "batch_id": 2**40,
        "front_door": "foreachBatch",
        "source": "",
        "min_commit_version": None,
        "max_commit_version": 7,
        "rows_in": 10,
        "acked": 5,
        "dead_lettered": 0,
        "parked": 0,
        "skipped": sum(skipped_by_reason.values()),
        "skipped_by_reason": skipped_by_reason,
        "already_final": 0,
        "requests": 1,
        "request_bytes": 499_999,
        "in_trigger_window": 0,
        "dry_run": False,
        "started_at": at,
        "finished_at": None,
        "sink_version": "0.1.0",
        "map_seconds": 0.1,
        "send_seconds": None,
        "ledger_seconds": 1e-9,
        "overhead_seconds": 12345.678,
    }
    ours = literal_frame(spark, row, TABLES["lineage"])
    python = spark.createDataFrame([row], TABLES["lineage"])
    assert ours.schema.simpleString() == python.schema.simpleString()
    assert ours.collect() == python.collect()
    assert ours.first().asDict()["skipped_by_reason"] == skipped_by_reason
