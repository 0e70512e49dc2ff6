"""The declared mapping: wire JSON built in the JVM, deterministic ids, validation messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from customerio_sink.errors import ConfigError
from customerio_sink.messages.message_id import message_id
from customerio_sink.spark.mapping import MessageMapping, to_messages

pytestmark = pytest.mark.spark


def test_cdf_person_rows_become_identify_and_user_deleted_with_python_equal_ids(spark: Any) -> None:
    rows = [
        ("u1", "a@x.io", 3, "insert", 1, "2026-01-01 00:00:00"),
        ("u2", "b@x.io", 4, "delete", 2, "2026-01-02 00:00:00"),
    ]
    df = (
        spark.createDataFrame(
            rows,
            "id string, email string, score int, _change_type string, _commit_version long, "
            "ts string",
        )
        .selectExpr("*", "to_timestamp(ts) AS _commit_timestamp")
        .drop("ts")
    )
    m = MessageMapping(source="cdf", entity="person", user_id="id", traits=("email", "score"))
    out = {r.key: r for r in to_messages(df, m, job="people").collect()}
    ident = json.loads(out["u1"].payload)
    assert ident == {
        "type": "identify",
        "messageId": out["u1"].message_id,
        "timestamp": "2026-01-01T00:00:00.000Z",
        "userId": "u1",
        "traits": {"email": "a@x.io", "score": 3},
    }
    gone = json.loads(out["u2"].payload)
    assert gone["type"] == "track" and gone["event"] == "User Deleted" and gone["userId"] == "u2"
    assert out["u1"].message_id == message_id(
        "people", "u1", 1, "insert", None, time_ms=1767225600000
    )
    assert out["u1"].error is None and out["u1"].type == "identify"


def test_unknown_columns_and_bad_mappings_fail_with_clear_errors(spark: Any) -> None:
    df = spark.createDataFrame([("u1",)], "id string")
    with pytest.raises(ConfigError, match="does not have: email"):
        to_messages(df, MessageMapping(call="identify", user_id="id", traits=("email",)), job="j")
    with pytest.raises(ConfigError, match="needs event"):
        MessageMapping(call="track", user_id="id")
    with pytest.raises(ConfigError, match=r"mapping\.source"):
        MessageMapping(source="kafka")


def test_rows_without_a_time_still_get_distinct_ids(spark: Any) -> None:
    df = spark.createDataFrame(
        [("e1", "u1", None), ("e2", "u2", "junk")], "id string, u string, ts string"
    )
    m = MessageMapping(call="track", user_id="u", event="E", timestamp="ts", row_id="id")
    ids = [r.message_id for r in to_messages(df, m, job="j", backfill=True).collect()]
    assert None not in ids and len(set(ids)) == 2
    assert ids[0] == message_id("j", "track", "u1", "e1", time_ms=0)


def test_raw_json_columns_are_spliced_in_byte_for_byte(spark: Any) -> None:
    rows = [
        ("e1", "u1", '{"city":"Zürich","emoji":"😀","n":[1,2]}', '{"ip":"10.0.0.1"}'),
        ("e2", "ü2", None, None),
        ("e3", "u3", '  {"spaced": true}  ', '{"locale":"fr-CH","note":"\\"quoted\\""}'),
    ]
    df = spark.createDataFrame(rows, "id string, u string, props string, ctx string")
    m = MessageMapping(
        call="track",
        user_id="u",
        event="Ordered ✓",
        properties_json="props",
        context_json="ctx",
        row_id="id",
    )
    out = {r.key: r for r in to_messages(df, m, job="j").collect()}
    first = json.loads(out["u1"].payload)
    assert first["properties"] == {"city": "Zürich", "emoji": "😀", "n": [1, 2]}
    assert first["context"] == {"ip": "10.0.0.1"}
    assert first["event"] == "Ordered ✓" and first["userId"] == "u1"
    # The raw text is kept exactly as written (no re-encoding), a null column becomes {}.
    assert out["u1"].payload.endswith(
        '"context":{"ip":"10.0.0.1"},"properties":{"city":"Zürich","emoji":"😀","n":[1,2]}}'
    )
    assert json.loads(out["ü2"].payload)["properties"] == {}
    assert json.loads(out["ü2"].payload)["context"] == {}
    third = json.loads(out["u3"].payload)
    assert third["properties"] == {"spaced": True}
    assert third["context"] == {"locale": "fr-CH", "note": '"quoted"'}
    assert all(r.error is None for r in out.values())


def test_untimed_queue_rows_keep_their_id_on_replay_and_are_stamped_now(spark: Any) -> None:
    from datetime import datetime, timedelta, timezone

    df = spark.createDataFrame([("e1", "u1")], "id string, u string")
    m = MessageMapping(call="track", user_id="u", event="Clicked", row_id="id")
    first = to_messages(df, m, job="j").collect()[0]
    again = to_messages(df, m, job="j").collect()[0]  # a replay, later
    # The id does not depend on when the batch ran (time part 0: the row has no time).
    assert first.message_id == again.message_id == message_id("j", "track", "u1", "e1", time_ms=0)
    stamped = datetime.fromisoformat(json.loads(first.payload)["timestamp"].replace("Z", "+00:00"))
    assert abs(stamped - datetime.now(timezone.utc)) < timedelta(minutes=5)
    # Stamped "now", so inside Customer.io's 72-hour trigger window.
    assert first.in_window is True and first.hold is False
    held = to_messages(df, m, job="j", hold_recent=True).collect()[0]
    assert held.hold is True


def test_window_edges_and_the_same_generated_code_for_every_batch(spark: Any) -> None:
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [
        ("recent", now - timedelta(hours=71)),
        ("old", now - timedelta(hours=73)),
        ("ancient", datetime(1960, 1, 1)),
        ("future", now + timedelta(days=400)),
    ]
    df = spark.createDataFrame(rows, "id string, ts timestamp")
    m = MessageMapping(call="track", user_id="id", event="Clicked", timestamp="ts", row_id="id")
    out = {r.key: r.in_window for r in to_messages(df, m, job="j").collect()}
    assert out == {"recent": True, "old": False, "ancient": False, "future": True}

    # "now" enters the plan as literals; they must not be inlined in the generated Java, or
    # every micro-batch would compile and JIT the mapping's code anew.
    def generated() -> list[str]:
        plan = to_messages(df, m, job="j")._jdf.queryExecution().executedPlan()
        codegen = spark._jvm.org.apache.spark.sql.execution.debug.package.codegenStringSeq(plan)
        return [codegen.apply(i)._2() for i in range(codegen.size())]

    first = generated()
    import time

    time.sleep(0.01)  # a later batch: a different "now"
    assert generated() == first and first
