"""Bad rows, order per key, backfill safety, rate budget, outages, continuous mode."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.spark.mapping import MessageMapping
from customerio_sink.spark.replay import drain_retry_queue
from customerio_sink.spark.runner import read_source, run_sync
from customerio_sink.spark.writer import CustomerIOWriter

from .conftest import EVENTS, PEOPLE, create_people, sink_options

pytestmark = pytest.mark.spark

EVENTS_DDL = "event_id STRING, user_id STRING, event STRING, properties STRING, ts STRING"


def _events(spark: Any, path: str, rows: list[tuple[Any, ...]]) -> None:
    spark.createDataFrame(rows, EVENTS_DDL).write.format("delta").mode("append").save(path)


def _iso(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) - delta).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_bad_rows_are_dead_lettered_with_reasons_and_good_rows_delivered(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    people_path = str(tmp_path / "profiles")
    rows = [
        ("p1", "ok@example.com", "short bio"),
        (None, "nobody@example.com", "missing id"),
        ("p3", "not-an-email", "bad email"),
        ("p4", "big@example.com", "x" * 40_000),
        ("p5", "fine@example.com", "also good"),
    ]
    spark.createDataFrame(rows, "id STRING, email STRING, bio STRING").write.format("delta").save(
        people_path
    )
    identify = MessageMapping(
        source="queue", call="identify", user_id="id", traits=("email", "bio")
    )
    opts = sink_options(tmp_path, emulator, identify, "profiles")
    run_sync(
        spark, opts, read_source(spark, people_path, kind="queue"), checkpoint=str(tmp_path / "cp1")
    )

    events_path = str(tmp_path / "events")
    _events(
        spark,
        events_path,
        [
            ("e1", "p1", "Order Completed", '{"total": 10}', _iso(timedelta(days=10))),
            ("e2", "p1", "Order Completed", '{"total": ', _iso(timedelta(days=10))),
            ("e3", "p1", "Order Completed", "[1, 2, 3]", _iso(timedelta(days=10))),
            ("e4", "p1", "Order Completed", '{"total": 11}', "last tuesday"),
            ("e5", "p5", None, '{"total": 12}', _iso(timedelta(days=10))),
            ("e6", "p5", "Order Completed", '{"total": 13}', _iso(timedelta(days=10))),
        ],
    )
    ev_opts = sink_options(tmp_path, emulator, EVENTS, "events")
    run_sync(
        spark,
        ev_opts,
        read_source(spark, events_path, kind="queue"),
        checkpoint=str(tmp_path / "cp2"),
    )

    dead = {
        r.message_id: r.error_message for r in opts.ledger.read(spark, "dead_letters").collect()
    }
    accepted = emulator.messages()
    assert {m["userId"] for m in accepted if m["type"] == "identify"} == {"p1", "p5"}
    assert sorted(m["properties"]["total"] for m in accepted if m["type"] == "track") == [10, 13]
    reasons = sorted(dead.values())
    assert any("userId: missing or empty" in r for r in reasons)
    assert any("traits.email: not a valid email address" in r for r in reasons)
    assert any("traits.bio: 40000 bytes, over the 1000-byte" in r for r in reasons)
    assert any("properties: malformed JSON or not a JSON object" in r for r in reasons), reasons
    assert sum("not a JSON object" in r for r in reasons) == 2  # malformed + an array
    assert any("'last tuesday' is not an ISO-8601 date-time" in r for r in reasons)
    assert any("event: missing or empty" in r for r in reasons)
    assert len(dead) == 7
    assert emulator.stats().rejected == 0  # nothing invalid reached the wire


def test_order_per_key_within_and_across_batches(spark: Any, tmp_path: Path, emulator: Any) -> None:
    path = str(tmp_path / "people")
    create_people(spark, path, 4)  # user-0 … user-3
    t = f"delta.`{path}`"
    spark.sql(f"UPDATE {t} SET plan = 'gold' WHERE id = 'user-0'")
    spark.sql(f"DELETE FROM {t} WHERE id = 'user-0'")  # updated then deleted → deleted
    spark.sql(f"DELETE FROM {t} WHERE id = 'user-1'")
    spark.sql(f"INSERT INTO {t} VALUES ('user-1', 'back@example.com', 'pro', 1)")  # re-inserted
    opts = sink_options(tmp_path, emulator, PEOPLE, "order")
    cp = str(tmp_path / "cp")
    run_sync(spark, opts, read_source(spark, path, kind="cdf", start="1"), checkpoint=cp)
    people = emulator.people
    assert "user-0" not in people
    assert people["user-1"]["traits"]["email"] == "back@example.com"
    assert set(people) == {"user-1", "user-2", "user-3"}
    sent = len(emulator.message_id_counts())

    # Across micro-batches: each run of the same query is a new batch, applied in order.
    spark.sql(f"UPDATE {t} SET score = score WHERE id = 'user-2'")  # unchanged → skipped
    spark.sql(f"DELETE FROM {t} WHERE id = 'user-3'")
    result = run_sync(spark, opts, read_source(spark, path, kind="cdf", start="1"), checkpoint=cp)
    assert sum(b["skipped_by_reason"].get("unchanged", 0) for b in result.batches) == 1
    assert len(emulator.message_id_counts()) == sent + 1  # only the delete went out
    assert "user-3" not in emulator.people
    spark.sql(f"INSERT INTO {t} VALUES ('user-3', 'again@example.com', 'free', 3)")
    run_sync(spark, opts, read_source(spark, path, kind="cdf", start="1"), checkpoint=cp)
    spark.sql(f"UPDATE {t} SET plan = 'pro' WHERE id = 'user-3'")
    run_sync(spark, opts, read_source(spark, path, kind="cdf", start="1"), checkpoint=cp)
    assert emulator.people["user-3"]["traits"] == {
        "email": "again@example.com",
        "plan": "pro",
        "score": 3,
    }
    assert emulator.stats().duplicates == 0


def test_backfill_dry_run_reports_then_real_run_holds_recent_and_dead_letters_untimed(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    path = str(tmp_path / "history")
    rows = [(f"h{i}", f"u{i}", "Signed Up", "{}", _iso(timedelta(days=30 + i))) for i in range(20)]
    rows += [(f"r{i}", f"u{i}", "Signed Up", "{}", _iso(timedelta(hours=1 + i))) for i in range(5)]
    rows += [("n1", "u1", "Signed Up", "{}", None), ("n2", "u2", "Signed Up", "{}", "garbage")]
    _events(spark, path, rows)

    dry = sink_options(tmp_path, emulator, EVENTS, "history-dry", dry_run=True, backfill=True)
    report = run_sync(
        spark, dry, read_source(spark, path, kind="queue"), checkpoint=str(tmp_path / "cp-dry")
    )
    t = report.totals
    assert t["in_trigger_window"] == 5
    assert t["dead_lettered"] == 2
    assert emulator.stats().requests == 0  # a dry run sends nothing

    real = sink_options(tmp_path, emulator, EVENTS, "history", backfill=True, hold_recent=True)
    result = run_sync(
        spark, real, read_source(spark, path, kind="queue"), checkpoint=str(tmp_path / "cp")
    )
    assert result.totals["acked"] == 20
    assert result.totals["parked"] == 5
    assert result.totals["dead_lettered"] == 2
    held = real.ledger.read(spark, "retry_queue").where("error_class = 'HeldBack'").count()
    assert held == 5
    assert len(emulator.message_id_counts()) == 20


def test_binding_budget_is_respected_across_partitions_and_mostly_used(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    path = str(tmp_path / "events")
    n = 1600
    rows = [
        (
            f"e{i}",
            f"u{i % 50}",
            "Page Viewed",
            json.dumps({"i": i, "pad": "p" * 300}),
            _iso(timedelta(days=5)),
        )
        for i in range(n)
    ]
    _events(spark, path, rows)
    # ~4 messages per body → ~400 requests, against a budget of 300 per 3 s.
    opts = sink_options(
        tmp_path,
        emulator,
        EVENTS,
        "budget",
        rate_requests=300,
        rate_period_s=3.0,
        max_batch_messages=4,
        partitions=4,
    )
    run_sync(spark, opts, read_source(spark, path, kind="queue"), checkpoint=str(tmp_path / "cp"))
    stats = emulator.stats()
    assert len(emulator.message_id_counts()) == n
    assert stats.max_requests_in_window <= 300
    assert stats.requests > 300  # the budget had to bind (how much of it is used: make bench)
    assert stats.rate_limited == 0


def test_outage_parks_events_and_drain_delivers_once(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    path = str(tmp_path / "events")
    _events(
        spark,
        path,
        [
            (f"e{i}", f"u{i}", "Order Completed", '{"n": 1}', _iso(timedelta(days=5)))
            for i in range(50)
        ],
    )
    emulator.set_faults(drop_before_read=1.0)  # down: every connection dropped
    opts = sink_options(tmp_path, emulator, EVENTS, "events-outage", max_attempts=3)
    result = run_sync(
        spark, opts, read_source(spark, path, kind="queue"), checkpoint=str(tmp_path / "cp")
    )
    assert result.totals["parked"] == 50
    assert emulator.message_id_counts() == {}
    emulator.clear_faults()
    report = drain_retry_queue(spark, opts)
    assert report["acked"] == 50 and report["success_rate"] == 1.0
    assert drain_retry_queue(spark, opts)["selected"] == 0  # nothing is sent twice
    counts = emulator.message_id_counts()
    assert len(counts) == 50 and set(counts.values()) == {1}


def test_outage_fails_a_change_feed_batch_and_restart_delivers_once(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    path = str(tmp_path / "people")
    create_people(spark, path, 200)
    emulator.set_faults(drop_before_read=1.0)
    opts = sink_options(tmp_path, emulator, PEOPLE, "people-outage", max_attempts=2)
    cp = str(tmp_path / "cp")
    with pytest.raises(Exception, match=r"TransientError"):
        run_sync(spark, opts, read_source(spark, path, kind="cdf", start="1"), checkpoint=cp)
    emulator.clear_faults()
    run_sync(spark, opts, read_source(spark, path, kind="cdf", start="1"), checkpoint=cp)
    counts = emulator.message_id_counts()
    assert len(counts) == 200 and set(counts.values()) == {1}
    assert len(emulator.people) == 200


def test_continuous_query_picks_up_appends_and_stops_cleanly(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    path = str(tmp_path / "events")
    _events(spark, path, [("a0", "u0", "Opened", "{}", _iso(timedelta(days=4)))])
    opts = sink_options(tmp_path, emulator, EVENTS, "events-live")
    query = (
        read_source(spark, path, kind="queue")
        .writeStream.foreachBatch(CustomerIOWriter(opts))
        .option("checkpointLocation", str(tmp_path / "cp"))
        .trigger(processingTime="1 second")
        .start()
    )
    try:
        query.processAllAvailable()
        assert len(emulator.message_id_counts()) == 1
        _events(
            spark,
            path,
            [(f"a{i}", "u1", "Opened", "{}", _iso(timedelta(days=4))) for i in range(1, 4)],
        )
        query.processAllAvailable()
        assert len(emulator.message_id_counts()) == 4
    finally:
        query.stop()
    assert not query.isActive and query.exception() is None
