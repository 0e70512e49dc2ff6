"""Mapping rules end to end through the job CLIs: cleared traits, raw JSON columns, invalid
UTF-8, injective keys and row ids (a Delta table → the emulator over HTTP → the ledger)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from customerio_sink.spark.ledger import Ledger
from streaming_jobs import sync_events, sync_objects, sync_people

from .conftest import KEY

pytestmark = pytest.mark.spark


def _common(tmp_path: Path, url: str, source: str, job: str) -> list[str]:
    return [
        "--source",
        source,
        "--checkpoint",
        str(tmp_path / "state" / job / "checkpoint"),
        "--ledger-path",
        str(tmp_path / "state" / "ledger"),
        "--endpoint",
        url,
    ]


def _dead(spark: Any, tmp_path: Path) -> dict[str, str]:
    """source_key → reason of every dead letter."""
    rows = Ledger(path=str(tmp_path / "state" / "ledger")).read(spark, "dead_letters").collect()
    return {r.source_key: r.error_message for r in rows}


def _events_argv(tmp_path: Path, url: str, source: str) -> list[str]:
    return [
        *_common(tmp_path, url, source, "sync_events"),
        "--event-column",
        "event",
        "--properties-json",
        "props",
        "--timestamp-column",
        "ts",
        "--row-id-column",
        "event_id",
    ]


def _write_events(spark: Any, path: str, select: str) -> None:
    """An events table from a SQL ``VALUES`` list of (event_id, user_id, event, props)."""
    (
        spark.sql(f"SELECT * FROM VALUES {select} AS t(event_id, user_id, event, props)")
        .selectExpr("*", "timestamp'2024-05-01 12:00:00Z' AS ts")
        .write.format("delta")
        .save(path)
    )


def test_a_cleared_trait_is_sent_as_null_and_a_reinserted_person_keeps_no_old_trait(
    spark: Any, tmp_path: Path, emulator: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    source = str(tmp_path / "people")
    spark.sql(
        f"CREATE TABLE delta.`{source}` (id STRING, email STRING, plan STRING) "
        "USING delta TBLPROPERTIES (delta.enableChangeDataFeed = true)"
    )
    spark.sql(
        f"INSERT INTO delta.`{source}` VALUES ('u1', 'a@x.io', 'pro'), ('u2', 'b@x.io', 'pro')"
    )
    argv = [*_common(tmp_path, emulator.url, source, "sync_people"), "--user-id-column", "id"]
    assert sync_people.main(argv) == 0
    assert emulator.people["u1"]["traits"] == {"email": "a@x.io", "plan": "pro"}

    spark.sql(f"UPDATE delta.`{source}` SET plan = NULL WHERE id = 'u1'")
    spark.sql(f"DELETE FROM delta.`{source}` WHERE id = 'u2'")
    spark.sql(f"INSERT INTO delta.`{source}` VALUES ('u2', 'b2@x.io', NULL)")
    assert sync_people.main(argv) == 0

    last = {m["userId"]: m for m in emulator.messages("identify")}
    # The cleared column reaches Customer.io as an explicit null (which removes the attribute).
    assert last["u1"]["traits"] == {"email": "a@x.io", "plan": None}
    assert emulator.people["u1"]["traits"] == {"email": "a@x.io"}
    # Deleted then re-inserted without a plan: no trace of the old plan.
    assert last["u2"]["traits"] == {"email": "b2@x.io", "plan": None}
    assert emulator.people["u2"]["traits"] == {"email": "b2@x.io"}


def test_a_raw_json_column_must_be_exactly_one_object(
    spark: Any, tmp_path: Path, emulator: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    source = str(tmp_path / "events")
    cases = {
        "attacker": '{"x":1},"userId":"victim"',
        "spaces": ' {"x":1}  \n',
        "garbage": '{"x":1} garbage',
        "two": '{"x":1}{"y":2}',
        "two-commas": '{"x":1},{"y":2}',
        "closer": '{"x":1}}',
        "early-close": '{"x":1},0]',
        "early-close-then-object": '{"x":1},0]{"y":2}',
        "nested-arrays": '{"a":[1,{"b":[2]}],"c":"]"}',
        "array": "[1,2]",
        "string": '"text"',
        "empty": "",
        "null": None,
    }

    def sql(v: str | None) -> str:
        return "NULL" if v is None else "'" + v.replace("'", "''").replace("\n", "\\n") + "'"

    values = ", ".join(f"('e-{u}', '{u}', 'Clicked', {sql(v)})" for u, v in cases.items())
    _write_events(spark, source, values)
    assert sync_events.main(_events_argv(tmp_path, emulator.url, source)) == 0

    sent = {m["userId"]: m for m in emulator.messages("track")}
    assert set(sent) == {"spaces", "null", "nested-arrays"}
    assert sent["spaces"]["properties"] == {"x": 1} and sent["null"]["properties"] == {}
    assert sent["nested-arrays"]["properties"] == {"a": [1, {"b": [2]}], "c": "]"}
    dead = _dead(spark, tmp_path)
    assert set(dead) == set(cases) - {"spaces", "null", "nested-arrays"}
    for reason in dead.values():
        assert reason.startswith("props: ") and "exactly one JSON object" in reason


def test_invalid_utf8_is_dead_lettered_and_the_rest_delivered(
    spark: Any, tmp_path: Path, emulator: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    source = str(tmp_path / "events")
    bad = "cast(unhex('C328') AS STRING)"
    _write_events(
        spark,
        source,
        f"('e1', 'ok-1', 'Clicked', '{{}}'), ('e2', {bad}, 'Clicked', '{{}}'), "
        f"('e3', 'bad-props', 'Clicked', concat('{{\"a\":\"', {bad}, '\"}}')), "
        f"('e4', 'bad-event', concat('Clicked', {bad}), '{{}}'), "
        "('e5', 'ok-2', 'Clicked', '{}')",
    )
    argv = _events_argv(tmp_path, emulator.url, source)
    assert sync_events.main(argv) == 0
    assert sorted(m["userId"] for m in emulator.messages("track")) == ["ok-1", "ok-2"]
    rows = Ledger(path=str(tmp_path / "state" / "ledger")).read(spark, "dead_letters").collect()
    reasons = sorted(r.error_message for r in rows)
    assert reasons == [
        "event: not valid UTF-8 [utf8]",
        "props: not valid UTF-8 [utf8]",
        "user_id: not valid UTF-8 [utf8]",
    ]
    assert sync_events.main(argv) == 0  # nothing left over, no failure on a re-run


def test_relationship_keys_with_the_separator_stay_apart(
    spark: Any, tmp_path: Path, emulator: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    source = str(tmp_path / "memberships")
    spark.sql(
        f"CREATE TABLE delta.`{source}` (user_id STRING, object_id STRING, role STRING) "
        "USING delta TBLPROPERTIES (delta.enableChangeDataFeed = true)"
    )
    spark.sql(
        f"INSERT INTO delta.`{source}` VALUES ('a:b', 'c', 'admin'), ('a', 'b:c', 'member'), "
        "('a\\\\', 'd', 'x'), ('a', '\\\\d', 'y')"
    )
    argv = [*_common(tmp_path, emulator.url, source, "sync_objects"), "--relationships"]
    assert sync_objects.main(argv) == 0
    groups = emulator.messages("group")
    assert sorted((m["userId"], m["groupId"]) for m in groups) == [
        ("a", "\\d"),
        ("a", "b:c"),
        ("a:b", "c"),
        ("a\\", "d"),
    ]
    assert len({m["messageId"] for m in groups}) == 4
    acks = Ledger(path=str(tmp_path / "state" / "ledger")).read(spark, "acks").collect()
    assert len({r.source_key for r in acks}) == 4


def test_queue_rows_without_a_row_id_are_dead_letters_with_their_own_ids(
    spark: Any, tmp_path: Path, emulator: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    source = str(tmp_path / "events")
    _write_events(
        spark,
        source,
        "(CAST(NULL AS STRING), 'u1', 'Clicked', '{\"n\":1}'), "
        "(NULL, 'u1', 'Clicked', '{\"n\":2}'), ('e3', 'u1', 'Clicked', '{\"n\":3}')",
    )
    assert sync_events.main(_events_argv(tmp_path, emulator.url, source)) == 0
    assert [m["properties"] for m in emulator.messages("track")] == [{"n": 3}]
    rows = Ledger(path=str(tmp_path / "state" / "ledger")).read(spark, "dead_letters").collect()
    assert len(rows) == 2 and len({r.message_id for r in rows}) == 2
    assert {r.error_message for r in rows} == {
        "event_id: missing (the row id column identifies each row) [row_id_required]"
    }
