"""``import customerio_sink as cio``: every kind of thing sent, through Spark, against the
emulator, with the final state checked — people, events, objects, relationships, devices — plus
the batch write of a static DataFrame and ``cio.writer`` in a stream a user builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import customerio_sink as cio

pytestmark = pytest.mark.spark

KEY = "one-import-key-0123456789"


def cdf_table(spark: Any, path: str, ddl: str, rows: list[tuple[Any, ...]]) -> None:
    spark.sql(
        f"CREATE TABLE delta.`{path}` ({ddl}) USING delta "
        "TBLPROPERTIES (delta.enableChangeDataFeed = true)"
    )
    spark.createDataFrame(rows, ddl).write.format("delta").mode("append").save(path)


def run(spark: Any, tmp_path: Path, emu: cio.Emulator, name: str, **kw: Any) -> cio.SyncResult:
    return cio.sync(
        spark,
        checkpoint=str(tmp_path / f"cp-{name}"),
        ledger=str(tmp_path / "ledger"),
        api_key=KEY,
        endpoint=emu.url,
        job=name,
        progress=None,
        **kw,
    )


def test_people_updates_and_deletes(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "people")
    cdf_table(
        spark,
        path,
        "id STRING, email STRING, plan STRING",
        [("u1", "a@example.com", "pro"), ("u2", "b@example.com", "free")],
    )
    people = cio.People(user_id="id", traits=["email", "plan"])
    with cio.Emulator(keys=(KEY,)) as emu:
        first = run(spark, tmp_path, emu, "people", source=path, mapping=people)
        assert first.totals["acked"] == 2
        spark.sql(f"UPDATE delta.`{path}` SET plan = 'team' WHERE id = 'u1'")
        spark.sql(f"DELETE FROM delta.`{path}` WHERE id = 'u2'")
        second = run(spark, tmp_path, emu, "people", source=path, mapping=people)
        assert second.totals["acked"] == 2
        assert emu.people["u1"]["traits"] == {"email": "a@example.com", "plan": "team"}
        assert "u2" not in emu.people
    acks = cio.Ledger(path=str(tmp_path / "ledger")).read(spark, "acks")
    assert acks.filter("job = 'people'").count() == 4


def test_events_track_with_properties(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "events")
    spark.createDataFrame(
        [
            ("e1", "u1", "Order Completed", '{"total": 42.5}', "2026-01-05T10:00:00Z"),
            ("e2", "u2", "Signed Up", "{}", "2026-01-05T11:00:00Z"),
        ],
        "event_id STRING, user_id STRING, event STRING, properties STRING, ts STRING",
    ).write.format("delta").save(path)
    events = cio.Events(
        user_id="user_id",
        event_column="event",
        properties_json="properties",
        timestamp="ts",
        row_id="event_id",
    )
    with cio.Emulator(keys=(KEY,)) as emu:
        result = run(spark, tmp_path, emu, "events", source=path, mapping=events)
        sent = {m["userId"]: m for m in emu.messages()}
    assert result.totals["acked"] == 2
    assert sent["u1"]["event"] == "Order Completed"
    assert sent["u1"]["properties"] == {"total": 42.5}


def test_objects_created_updated_and_deleted(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "accounts")
    cdf_table(
        spark,
        path,
        "account_id STRING, name STRING, tier STRING",
        [("acme", "Acme", "gold"), ("initech", "Initech", "silver")],
    )
    objects = cio.Objects(object_id="account_id", object_type_id=1, traits=["name", "tier"])
    with cio.Emulator(keys=(KEY,)) as emu:
        run(spark, tmp_path, emu, "objects", source=path, mapping=objects)
        assert emu.objects[("1", "acme")] == {"name": "Acme", "tier": "gold"}
        spark.sql(f"UPDATE delta.`{path}` SET tier = 'platinum' WHERE account_id = 'acme'")
        spark.sql(f"DELETE FROM delta.`{path}` WHERE account_id = 'initech'")
        result = run(spark, tmp_path, emu, "objects", source=path, mapping=objects)
        assert result.totals["acked"] == 2
        assert emu.objects[("1", "acme")]["tier"] == "platinum"
        assert ("1", "initech") not in emu.objects
        deleted = [m for m in emu.messages() if m.get("event") == "Object Deleted"]
        assert [m["properties"]["objectId"] for m in deleted] == ["initech"]


def test_relationships_added_and_removed(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "memberships")
    cdf_table(
        spark,
        path,
        "user_id STRING, account_id STRING, role STRING",
        [("u1", "acme", "admin"), ("u2", "acme", "member")],
    )
    links = cio.Relationships(user_id="user_id", object_id="account_id", traits=["role"])
    with cio.Emulator(keys=(KEY,)) as emu:
        run(spark, tmp_path, emu, "links", source=path, mapping=links)
        assert emu.relationships == {("u1", "1", "acme"), ("u2", "1", "acme")}
        spark.sql(f"DELETE FROM delta.`{path}` WHERE user_id = 'u2'")
        result = run(spark, tmp_path, emu, "links", source=path, mapping=links)
        assert result.totals["acked"] == 1
        assert emu.relationships == {("u1", "1", "acme")}


def test_devices_created_updated_and_deleted(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "devices")
    cdf_table(
        spark,
        path,
        "user_id STRING, token STRING, platform STRING, app_version STRING",
        [("u1", "tok-1", "ios", "1.0"), ("u1", "tok-2", "android", "2.0")],
    )
    devices = cio.Devices(
        user_id="user_id", device_token="token", platform="platform", attributes=["app_version"]
    )
    with cio.Emulator(keys=(KEY,)) as emu:
        run(spark, tmp_path, emu, "devices", source=path, mapping=devices)
        assert set(emu.devices["u1"]) == {"tok-1", "tok-2"}
        spark.sql(f"UPDATE delta.`{path}` SET app_version = '1.1' WHERE token = 'tok-1'")
        spark.sql(f"DELETE FROM delta.`{path}` WHERE token = 'tok-2'")
        result = run(spark, tmp_path, emu, "devices", source=path, mapping=devices)
        assert result.totals["acked"] == 2
        assert set(emu.devices["u1"]) == {"tok-1"}
        events = [m["event"] for m in emu.messages() if m["type"] == "track"]
        assert events.count("Device Deleted") == 1


def test_batch_write_of_a_static_dataframe_has_a_run_id_and_resumes(
    spark: Any, tmp_path: Path
) -> None:
    df = spark.createDataFrame(
        [(f"e{i}", f"u{i % 3}", "Page Viewed") for i in range(30)],
        "event_id STRING, user_id STRING, event STRING",
    )
    events = cio.Events(user_id="user_id", event_column="event", row_id="event_id")
    with cio.Emulator(keys=(KEY,)) as emu:
        result = run(spark, tmp_path, emu, "backfill", source=df, mapping=events)
        assert result.query_id and result.query_id.startswith("batch-")
        assert result.totals["acked"] == 30
        # The same run id again (an interrupted batch write resumed): nothing is sent twice.
        again = run(
            spark, tmp_path, emu, "backfill", source=df, mapping=events, run_id=result.query_id
        )
        assert emu.stats().duplicates == 0
        assert len(emu.message_id_counts()) == 30
        assert again.query_id == result.query_id
    ledger = cio.Ledger(path=str(tmp_path / "ledger"))
    acks = ledger.read(spark, "acks").filter(f"run_id = '{result.query_id}'")
    assert acks.count() == 30


def test_writer_in_a_stream_the_user_builds(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "events")
    spark.createDataFrame(
        [("e1", "u1", "Signed Up")], "event_id STRING, user_id STRING, event STRING"
    ).write.format("delta").save(path)
    with cio.Emulator(keys=(KEY,)) as emu:
        write = cio.writer(
            cio.Events(user_id="user_id", event_column="event", row_id="event_id"),
            ledger=str(tmp_path / "ledger"),
            job="own-stream",
            api_key=KEY,
            endpoint=emu.url,
        )
        query = (
            spark.readStream.format("delta")
            .load(path)
            .writeStream.foreachBatch(write)
            .option("checkpointLocation", str(tmp_path / "cp"))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
        assert [m["event"] for m in emu.messages()] == ["Signed Up"]
    assert write.history[0]["acked"] == 1


def test_bad_options_fail_when_built(tmp_path: Path) -> None:
    people = cio.People(user_id="id")
    with pytest.raises(cio.ConfigError, match="unknown option 'max_body_byte'"):
        cio.writer(people, ledger=str(tmp_path), job="j", api_key=KEY, max_body_byte=1)
    with pytest.raises(cio.ConfigError, match="max_body_bytes=8000: out of range"):
        cio.writer(people, ledger=str(tmp_path), job="j", api_key=KEY, max_body_bytes=8000)
    with pytest.raises(cio.ConfigError, match="traits: a list of column names"):
        cio.People(user_id="id", traits="email").to_mapping()
    with pytest.raises(cio.ConfigError, match="object_type_id: a number"):
        cio.Objects(object_id="a", object_type_id="accounts").to_mapping()
    with pytest.raises(cio.ConfigError, match="give event"):
        cio.Events(user_id="u").to_mapping()
