"""End to end: Delta change feed → both front doors → the emulator over HTTP → Delta ledger."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.spark.runner import read_source, run_sync

from .conftest import PEOPLE, create_people, sink_options

pytestmark = pytest.mark.spark

N = 10_000
UPDATED = range(0, 2000)  # plan changes
DELETED = range(9500, 10_000)


def _people_history(spark: Any, path: str) -> None:
    create_people(spark, path, N)
    spark.sql(
        f"UPDATE delta.`{path}` SET plan = 'enterprise' "
        f"WHERE CAST(substring(id, 6) AS INT) < {UPDATED.stop}"
    )
    spark.sql(f"DELETE FROM delta.`{path}` WHERE CAST(substring(id, 6) AS INT) >= {DELETED.start}")


def _check_final_state(emu: Any) -> None:
    counts = emu.message_id_counts()
    assert len(counts) == N  # one accepted message per key: 9,500 identify + 500 deletes
    people = emu.people
    assert len(people) == N - len(DELETED)
    assert people["user-1"]["traits"]["plan"] == "enterprise"
    assert people["user-2002"]["traits"]["plan"] == "free"
    assert "user-9999" not in people
    by_type = Counter((m["type"], m.get("event")) for m in emu.messages())
    assert by_type[("identify", None)] == N - len(DELETED)
    assert by_type[("track", "User Deleted")] == len(DELETED)


def _check_ledger(spark: Any, options: Any, result: Any) -> None:
    acks = options.ledger.read(spark, "acks")
    assert acks.count() == N
    assert acks.select("message_id").distinct().count() == N
    t = result.totals
    assert t["rows_in"] == N + 2 * len(UPDATED) + len(DELETED)
    assert t["acked"] == N
    assert t["rows_in"] == t["acked"] + t["dead_lettered"] + t["parked"] + t["skipped"]
    lineage = options.ledger.read(spark, "lineage").collect()
    assert sum(r.rows_in for r in lineage) == t["rows_in"]
    for row in lineage:
        assert row.rows_in == row.acked + row.dead_lettered + row.parked + row.skipped


@pytest.mark.parametrize("front_door", ["foreachBatch", "datasource"])
def test_change_feed_backfill_delivers_each_call_once(
    spark: Any, tmp_path: Path, emulator: Any, front_door: str
) -> None:
    path = str(tmp_path / "people")
    _people_history(spark, path)
    options = sink_options(tmp_path, emulator, PEOPLE, f"people-{front_door.lower()}")
    source = read_source(spark, path, kind="cdf", start="1")
    result = run_sync(
        spark, options, source, checkpoint=str(tmp_path / "cp"), front_door=front_door
    )
    _check_final_state(emulator)
    assert emulator.stats().duplicates == 0
    _check_ledger(spark, options, result)
    skipped = Counter()
    for b in result.batches:
        skipped.update(b["skipped_by_reason"])
    assert skipped["update_preimage"] == len(UPDATED)
    assert skipped["superseded"] == len(UPDATED) + len(DELETED)


def test_faults_give_the_same_final_state_and_no_duplicates(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    path = str(tmp_path / "people")
    _people_history(spark, path)
    emulator.set_faults(
        error_rate=0.1,
        latency_ms=5,
        drop_before_read=0.05,
        storm_seconds=6.0,
        storm_retry_after=1,
        seed=7,
    )
    # Small bodies (100 messages) so there are enough requests for every fault to hit.
    options = sink_options(
        tmp_path, emulator, PEOPLE, "people-faults", max_attempts=40, max_batch_messages=100
    )
    result = run_sync(
        spark,
        options,
        read_source(spark, path, kind="cdf", start="1"),
        checkpoint=str(tmp_path / "cp"),
    )
    _check_final_state(emulator)
    stats = emulator.stats()
    assert stats.duplicates == 0
    assert stats.status_counts.get(503, 0) > 0 and stats.status_counts.get(429, 0) > 0
    _check_ledger(spark, options, result)
    requests = options.ledger.read(spark, "requests")
    assert requests.where("attempts > 1").count() > 0  # the retries are on record


def test_lost_responses_duplicate_only_the_resent_requests(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    path = str(tmp_path / "people")
    _people_history(spark, path)
    emulator.set_faults(drop_after_accept=0.2, seed=11)
    options = sink_options(
        tmp_path, emulator, PEOPLE, "people-lost", max_attempts=30, max_batch_messages=100
    )
    run_sync(
        spark,
        options,
        read_source(spark, path, kind="cdf", start="1"),
        checkpoint=str(tmp_path / "cp"),
    )
    counts = emulator.message_id_counts()
    assert len(counts) == N
    dupes = {mid: n for mid, n in counts.items() if n > 1}
    assert dupes, "with 30% of answers lost some requests must have been re-sent"
    # Every duplicate is a whole re-sent request: its ids were journaled as one ack record
    # with more than one attempt.
    acks = options.ledger.read(spark, "acks").where("attempts > 1").select("message_id")
    resent = {r.message_id for r in acks.collect()}
    assert set(dupes) <= resent
