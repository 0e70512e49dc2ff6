"""The semantic catalogue's rules applied in Spark before sending, through the sink: an events
table of several families, read from Delta, against a strict emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import customerio_sink as cio
from customerio_sink.catalog import check
from customerio_sink.errors import ConfigError
from customerio_sink.messages.rules import split_reason

from .conftest import sync_into

pytestmark = pytest.mark.spark

KEY = "quality-key-0123456789"

GOOD_ORDER = {
    "order_id": "o1",
    "total": 20.5,
    "currency": "USD",
    "products": [{"product_id": "p1", "price": 20.5, "quantity": 1}],
}
ROWS = [
    # (row id, user, event, properties, expected dead-letter rule or None)
    ("r1", "u1", "Order Completed", GOOD_ORDER, None),
    ("r2", "u2", "Order Completed", {**GOOD_ORDER, "currency": "usd"}, "currency_iso4217"),
    (
        "r3",
        "u3",
        "Order Completed",
        {**GOOD_ORDER, "products": [{"product_id": "p1", "price": -1, "quantity": 1}]},
        "price_negative",
    ),
    ("r4", "u4", "Order Completed", {"total": 5}, "required"),
    ("r5", "u5", "Video Playback Started", {"position": 10, "total_length": 100}, None),
    (
        "r6",
        "u6",
        "Video Playback Started",
        {"position": -3, "total_length": 100},
        "position_negative",
    ),
    ("r7", "u7", "Email Link Clicked", {"email_id": "m1", "link_url": "https://x.io/a"}, None),
    ("r8", "u8", "Email Link Clicked", {"email_id": "m2", "link_url": "not a url"}, "url_format"),
    ("r9", "u9", "Signed Up", {"plan": "pro"}, None),  # not a catalogue event: not checked here
]


def test_rows_breaking_catalogue_rules_are_dead_lettered_before_any_request(
    spark: Any, tmp_path: Path
) -> None:
    source = str(tmp_path / "events")
    rows = [(rid, user, event, json.dumps(props)) for rid, user, event, props, _ in ROWS]
    rows.append(rows[0])  # a repeated row id: sent once
    spark.createDataFrame(rows, "id STRING, uid STRING, ev STRING, props STRING").write.format(
        "delta"
    ).save(source)
    mapping = cio.Events(
        user_id="uid", event_column="ev", properties_json="props", row_id="id", family="all"
    )
    with cio.Emulator(keys=(KEY,), strict_default=True) as emu:
        result = sync_into(spark, emu, tmp_path, source, mapping, "quality", key=KEY)
        sent = {m["userId"]: m for m in emu.messages()}
        rejections = emu.rejections()
        duplicates = emu.stats().duplicates
    expected_dead = {rid: rule for rid, _, _, _, rule in ROWS if rule}
    good = {user for _, user, _, _, rule in ROWS if rule is None}
    assert set(sent) == good  # nothing invalid reached the strict emulator; the rest did
    assert rejections == [] and duplicates == 0
    assert result.totals["acked"] == len(good)
    assert result.totals["dead_lettered"] == len(expected_dead)
    ledger = cio.Ledger(path=str(tmp_path / "ledger"))
    dead = ledger.read(spark, "dead_letters").collect()
    by_user = {json.loads(r.payload)["userId"]: r for r in dead}
    for rid, user, event, props, rule in ROWS:
        if rule is None:
            assert event == "Signed Up" or check(event, {"user_id": user, **props}) == []
            continue
        letter = by_user[user]
        assert letter.error_rule == rule, (rid, letter.error_message)
        assert letter.error_field.startswith("properties."), letter.error_field
        assert split_reason(letter.error_message) == (letter.error_field, rule)
        # The Python model of the same row gives the same verdict and rule.
        assert rule in {v.rule for v in check(event, {"user_id": user, **props})}
    skipped = ledger.read(spark, "skipped").where("reason = 'duplicate'").count()
    assert skipped == 1


def test_an_unknown_family_or_an_event_outside_it_fails_when_built(spark: Any) -> None:
    df = spark.createDataFrame([("u", "x")], "uid STRING, ev STRING")
    from customerio_sink.spark.mapping import to_messages

    with pytest.raises(ConfigError, match="family"):
        to_messages(
            df, cio.Events(user_id="uid", event_column="ev", family="sports").to_mapping(), job="j"
        )
    with pytest.raises(ConfigError, match="not one of its events"):
        to_messages(
            df,
            cio.Events(user_id="uid", event="Signed Up", family="ecommerce").to_mapping(),
            job="j",
        )


SEMANTIC_ROWS = [
    # (row id, user, event, properties, context, expected dead-letter (field, rule) or None)
    ("s1", "u1", "Device Created or Updated", {}, {"device": {"token": "t1", "type": "ios"}}, None),
    ("s2", "u2", "Device Created or Updated", {}, {}, ("context.device.token", "required")),
    (
        "s3",
        "u3",
        "Device Deleted",
        {},
        {"device": {"type": "ios"}},
        ("context.device.token", "required"),
    ),
    (
        "s4",
        "u4",
        "Device Created or Updated",
        {},
        {"device": {"token": "t4", "type": "windows"}},
        ("context.device.type", "enum"),
    ),
    ("s5", "u5", "Relationship Deleted", {"objectId": "acme", "objectTypeId": 1}, {}, None),
    (
        "s6",
        "u6",
        "Relationship Deleted",
        {"objectTypeId": 1},
        {},
        ("properties.objectId", "required"),
    ),
    (
        "s7",
        "u7",
        "Report Delivery Event",
        {"deliveryId": "d1", "metric": "bounced"},
        {},
        ("properties.metric", "enum"),
    ),
    ("s8", "u8", "User Deleted", {}, {}, None),
]


def test_customerios_own_semantic_events_missing_required_fields_never_reach_the_server(
    spark: Any, tmp_path: Path
) -> None:
    # Seen by a new user: a queue row "Device Created or Updated" without a token was sent and
    # only isolated after a strict server rejected it ("context is required").
    source = str(tmp_path / "semantic")
    rows = [
        (rid, user, event, json.dumps(props), json.dumps(ctx))
        for rid, user, event, props, ctx, _ in SEMANTIC_ROWS
    ]
    spark.createDataFrame(
        rows, "id STRING, uid STRING, ev STRING, props STRING, ctx STRING"
    ).write.format("delta").save(source)
    mapping = cio.Events(
        user_id="uid", event_column="ev", properties_json="props", context_json="ctx", row_id="id"
    )
    with cio.Emulator(keys=(KEY,), strict_default=True) as emu:
        result = sync_into(spark, emu, tmp_path, source, mapping, "semantic", key=KEY)
        sent = {m["userId"] for m in emu.messages()}
        rejections = emu.rejections()
        requests = emu.stats().requests
    good = {user for _, user, _, _, _, bad in SEMANTIC_ROWS if bad is None}
    assert sent == good
    assert rejections == []
    assert requests >= 1
    dead = cio.Ledger(path=str(tmp_path / "ledger")).read(spark, "dead_letters").collect()
    by_user = {json.loads(r.payload)["userId"]: r for r in dead}
    assert result.totals["dead_lettered"] == len(SEMANTIC_ROWS) - len(good)
    for _, user, _, _, _, bad in SEMANTIC_ROWS:
        if bad:
            assert (by_user[user].error_field, by_user[user].error_rule) == bad, by_user[user]
