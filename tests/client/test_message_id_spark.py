"""``message_id_sql`` computes on the JVM the very id ``message_id`` computes in Python."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

from customerio_sink.messages.message_id import message_id, message_id_sql

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark


def test_sql_and_python_agree(spark: SparkSession) -> None:
    rows = [
        ("job", "k1", 7, True, 1_714_564_800_000),
        ("job", None, 0, False, 0),
        ("jöb ✓ 😀", "", 123_456_789_012, None, 2**48 - 1),
        ("a", "1:a", -5, True, 1),
    ]
    frame = spark.createDataFrame(rows, "a string, b string, c long, d boolean, t long")
    expr = message_id_sql("a", "b", "c", "d", time_ms="t")
    for row in frame.selectExpr("*", f"{expr} AS mid").collect():
        assert row.mid == message_id(row.a, row.b, row.c, row.d, time_ms=row.t)
    for row in frame.selectExpr("a", "b", f"{message_id_sql('a', 'b')} AS mid").collect():
        assert row.mid == message_id(row.a, row.b)


def _both_ways(frame: Any, mapping: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(key, message_id, payload, error) of each row: the id made on the JVM, and the id's
    base-32 left to the engine (which runs in Spark's Python workers, as when sending)."""
    from customerio_sink.engine.arrow import _as_arrow
    from customerio_sink.spark.mapping import to_messages

    def on_the_jvm() -> list[tuple[Any, ...]]:
        out = to_messages(frame, mapping, job="ids", engine_json=True)
        got = out.select("key", "message_id", "payload", "error").collect()
        return sorted((tuple(r) for r in got), key=lambda r: r[1])

    def in_the_engine(batches: Any) -> Any:
        for batch in batches:
            done = _as_arrow(batch)
            yield done.select(["key", "message_id", "payload", "error"])

    mapped = to_messages(frame, mapping, job="ids", engine_json=True, engine_ids=True)
    assert "message_id" not in mapped.columns
    schema = "key string, message_id string, payload binary, error string"
    rows = mapped.mapInArrow(in_the_engine, schema).collect()
    engine = sorted(
        ((r.key, r.message_id, bytes(r.payload).decode(), r.error) for r in rows),
        key=lambda r: r[1],
    )
    return on_the_jvm(), engine


def test_ids_left_to_the_engine_equal_the_jvms_byte_for_byte(spark: SparkSession) -> None:
    from customerio_sink.spark.mapping import MessageMapping

    rows = [
        ("u1", "e1", "2026-05-01 10:00:00.123"),
        ("u:2\\x", "e2", "1969-12-31 23:59:59"),  # before 1970: the time part is 0
        ("ü ✓ 😀", "e3", "9999-12-31 23:59:59.999"),
        ("u4", "e4", None),  # no time: stamped when sent, the id's time is 0
        (None, "e5", "2026-05-01 10:00:00"),  # no key: a dead letter, still an id
        ("", "", "2026-05-01 10:00:00"),
        ("u7", "e7", "2024-02-29 23:59:59.999999"),  # a leap day; microseconds cut to millis
        ("u8", "e8", "1970-01-01 00:00:00"),  # the first time the engine writes
        ("u9", "e9", "1600-03-01 12:00:00.5"),  # long before 1970: the JVM writes the text
    ]
    frame = spark.createDataFrame(rows, "uid string, ev string, at string").selectExpr(
        "uid", "ev", "to_timestamp(at) AS at", "timestamp_millis(1125899906842624L) AS far"
    )
    sent: dict[str, dict[Any, str]] = {}  # per time column: each key's message
    written: dict[str, set[Any]] = {}  # per time column: the rows whose time the engine wrote
    for time_column in ("at", "far"):  # far: 2^50 ms, an id time past 10 base-32 digits
        mapping = MessageMapping(
            call="track", user_id="uid", event_column="ev", timestamp=time_column
        )
        jvm, engine = _both_ways(frame, mapping)
        sent[time_column] = {key: payload for key, _, payload, _ in engine}
        written[time_column] = _engine_written_times(frame, mapping)
        # u4 has no time: each query stamps it with its own "now"; all else is equal.
        now = re.compile(r'"timestamp":"[^"]*"')
        assert [r[:2] for r in engine] == [r[:2] for r in jvm]
        for ours, theirs in zip(engine, jvm, strict=True):
            same = (
                now.sub("", ours[2]) == now.sub("", theirs[2])
                if ours[0] == "u4"
                else ours == theirs
            )
            assert same, (ours, theirs)
        assert len({mid for _, mid, _, _ in jvm}) == len(rows)
        for _, mid, payload, _ in jvm:
            assert f'"messageId":"{mid}"' in payload
    # The times from 1970 to 9999 were the engine's to write; the others the JVM's.
    assert written["at"] == {"u1", "ü ✓ 😀", None, "", "u7", "u8"}
    assert written["far"] == set()
    engine = sent["at"]
    assert '"timestamp":"2024-02-29T23:59:59.999Z"' in engine["u7"]
    assert '"timestamp":"1970-01-01T00:00:00.000Z"' in engine["u8"]
    assert '"timestamp":"1600-03-01T12:00:00.500Z"' in engine["u9"]
    assert '"timestamp":"9999-12-31T23:59:59.999Z"' in engine["ü ✓ 😀"]


def _engine_written_times(frame: Any, mapping: Any) -> set[Any]:
    """The user ids of the rows whose mapped message holds the time placeholder (the mapping
    is a projection: its rows come in the frame's order)."""
    from customerio_sink.engine.times import TIME_PLACEHOLDER
    from customerio_sink.spark.mapping import to_messages

    mapped = to_messages(frame, mapping, job="ids", engine_json=True, engine_ids=True)
    marked = f'"timestamp":"{TIME_PLACEHOLDER}"'
    keyed = frame.select("uid").collect()
    payloads = mapped.select("payload").collect()
    return {k.uid for k, p in zip(keyed, payloads, strict=True) if marked in p.payload}


@pytest.mark.parametrize(
    ("call", "columns"),
    [
        ("identify", {"user_id": "uid"}),
        ("page", {"user_id": "uid", "name_column": "ev"}),
        ("screen", {"user_id": "uid", "name_column": "ev"}),
        ("group", {"user_id": "uid", "group_id": "ev"}),
        ("alias", {"user_id": "uid", "previous_id": "ev"}),
    ],
)
def test_every_call_of_a_queue_gets_the_engines_ids_and_times_byte_for_byte(
    spark: SparkSession, call: str, columns: dict[str, str]
) -> None:
    from customerio_sink.spark.mapping import MessageMapping

    rows = [("u1", "x1", "2026-05-01 10:00:00.123"), ("u2", "x2", "1969-07-20 20:17:40")]
    frame = spark.createDataFrame(rows, "uid string, ev string, at string").selectExpr(
        "uid", "ev", "to_timestamp(at) AS at"
    )
    mapping = MessageMapping(call=call, timestamp="at", **columns)  # type: ignore[arg-type]
    jvm, engine = _both_ways(frame, mapping)
    assert engine == jvm and len(jvm) == len(rows)
    assert all(r[3] is None for r in jvm), jvm
    assert '"timestamp":"2026-05-01T10:00:00.123Z"' in " ".join(r[2] for r in engine)


def test_cdf_ids_left_to_the_engine_equal_the_jvms(spark: SparkSession) -> None:
    from customerio_sink.spark.mapping import MessageMapping

    rows = [
        ("o1", "n1", "insert", 1, "2026-01-01 00:00:00"),
        ("o1", "n2", "update_postimage", 2, "2026-01-02 00:00:00"),
        ("o:2", None, "delete", 3, "2026-01-03 00:00:00"),
    ]
    frame = (
        spark.createDataFrame(
            rows, "id string, name string, _change_type string, _commit_version long, at string"
        )
        .selectExpr("*", "to_timestamp(at) AS _commit_timestamp")
        .drop("at")
    )
    for entity, columns in (("person", {"user_id": "id"}), ("object", {"group_id": "id"})):
        mapping = MessageMapping(source="cdf", entity=entity, traits=("name",), **columns)
        jvm, engine = _both_ways(frame, mapping)
        assert engine == jvm and len(jvm) == len(rows)
