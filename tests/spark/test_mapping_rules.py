"""Mapping rules at the DataFrame level: time zones, epoch numbers, timestamps outside the
usual range, key escaping (SQL and Python agree)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from customerio_sink.messages.message_id import (
    CROCKFORD,
    composite_key,
    composite_key_sql,
    message_id,
)
from customerio_sink.spark.mapping import MessageMapping, to_messages

pytestmark = pytest.mark.spark


def _timed_rows(spark: Any) -> Any:
    return spark.createDataFrame(
        [
            ("e1", "u1", "2026-01-01 10:00:00", "2026-01-01T10:00:00+02:00"),
            ("e2", "u2", "2026-03-08T02:30:00", "2026-03-08 02:30:00Z"),
            ("e3", "u3", "2026-07-01", "2026-07-01T00:00:00.250 UTC"),
        ],
        "id string, u string, plain string, zoned string",
    ).selectExpr(
        "*",
        "cast(plain AS timestamp_ntz) AS ntz",
        "cast(substr(plain, 1, 10) AS date) AS day",
    )


def test_ids_and_times_do_not_depend_on_the_session_time_zone(spark: Any) -> None:
    df = _timed_rows(spark)
    results: dict[str, dict[str, list[tuple[str, str]]]] = {}
    before = spark.conf.get("spark.sql.session.timeZone")
    try:
        for tz in ("UTC", "America/New_York"):
            spark.conf.set("spark.sql.session.timeZone", tz)
            results[tz] = {}
            for column in ("plain", "zoned", "ntz", "day"):
                m = MessageMapping(
                    call="track", user_id="u", event="E", timestamp=column, row_id="id"
                )
                rows = to_messages(df, m, job="j").orderBy("key").collect()
                assert all(r.error is None for r in rows), [r.error for r in rows]
                results[tz][column] = [
                    (r.message_id, json.loads(r.payload)["timestamp"]) for r in rows
                ]
    finally:
        spark.conf.set("spark.sql.session.timeZone", before)
    assert results["UTC"] == results["America/New_York"]
    # A time without an offset is read as UTC.
    assert [t for _, t in results["UTC"]["plain"]] == [
        "2026-01-01T10:00:00.000Z",
        "2026-03-08T02:30:00.000Z",
        "2026-07-01T00:00:00.000Z",
    ]
    assert results["UTC"]["ntz"] == results["UTC"]["plain"]
    assert [t for _, t in results["UTC"]["zoned"]] == [
        "2026-01-01T08:00:00.000Z",
        "2026-03-08T02:30:00.000Z",
        "2026-07-01T00:00:00.250Z",
    ]


def test_epoch_numbers_are_seconds_or_milliseconds(spark: Any) -> None:
    df = spark.createDataFrame(
        [
            ("e1", "u1", 1767225600, 1767225600.5),
            ("e2", "u2", 1767225600123, 1767225600123.0),
            ("e3", "u3", 0, None),
        ],
        "id string, u string, n long, d double",
    )
    for column, expected in (
        ("n", ["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.123Z", "1970-01-01T00:00:00.000Z"]),
        ("d", ["2026-01-01T00:00:00.500Z", "2026-01-01T00:00:00.123Z", None]),
    ):
        m = MessageMapping(call="track", user_id="u", event="E", timestamp=column, row_id="id")
        rows = to_messages(df, m, job="j", backfill=True).orderBy("key").collect()
        got = [json.loads(r.payload).get("timestamp") if r.error is None else None for r in rows]
        assert got == expected, column
    assert rows[2].error.startswith("timestamp: missing")


def test_far_future_timestamps_are_dead_letters_and_old_ones_keep_a_well_formed_id(
    spark: Any,
) -> None:
    df = spark.createDataFrame(
        [("e1", "u1", "2999-01-01T00:00:00Z"), ("e2", "u2", "1960-05-01T00:00:00Z")],
        "id string, u string, ts string",
    ).selectExpr("*", "current_timestamp() + INTERVAL 1 HOUR AS soon")
    m = MessageMapping(call="track", user_id="u", event="E", timestamp="ts", row_id="id")
    far, old = to_messages(df, m, job="j").orderBy("key").collect()
    assert far.error == (
        "ts: '2999-01-01T00:00:00.000Z' is more than 24 hours in the future "
        "(check the column's unit and time zone) [timestamp_future]"
    )
    assert old.error is None
    assert json.loads(old.payload)["timestamp"] == "1960-05-01T00:00:00.000Z"
    assert len(old.message_id) == 26 and set(old.message_id) <= set(CROCKFORD)
    assert old.message_id == message_id("j", "track", "u2", "e2", time_ms=0)
    soon = MessageMapping(call="track", user_id="u", event="E", timestamp="soon", row_id="id")
    assert all(r.error is None for r in to_messages(df, soon, job="j").collect())


def test_composite_keys_escape_their_parts_in_sql_and_python(spark: Any) -> None:
    pairs = [("a:b", "c"), ("a", "b:c"), ("a\\", "d"), ("a", "\\d"), ("u1", "o1"), ("é", "")]
    df = spark.createDataFrame(pairs, "a string, b string")
    got = [r.k for r in df.selectExpr(f"{composite_key_sql('a', 'b')} AS k").collect()]
    assert got == [composite_key(a, b) for a, b in pairs]
    assert len(set(got)) == len(pairs)
    assert composite_key("u1", "o1") == "u1:o1"  # plain ids keep the key (and id) they had
