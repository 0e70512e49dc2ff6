"""``cio.trace``: every source row of a run is found in exactly one outcome, skipped rows
included — a change feed with two updates of one key in one batch, an unchanged update,
pre-images, a delete and a bad row; and a queue with a repeated row."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import customerio_sink as cio
from customerio_sink.emulator import Emulator
from customerio_sink.errors import ConfigError
from customerio_sink.spark.mapping import to_messages
from streaming_jobs import trace as trace_cli

pytestmark = pytest.mark.spark

KEY = "trace-test-key"
PEOPLE = cio.People(user_id="id", traits=["email", "plan"])


def _sync(spark: Any, tmp_path: Path, emu: Emulator, source: str, mapping: Any, job: str) -> Any:
    return cio.sync(
        spark,
        source=source,
        mapping=mapping,
        ledger=str(tmp_path / "ledger"),
        checkpoint=str(tmp_path / f"cp-{job}"),
        job=job,
        api_key=KEY,
        endpoint=emu.url,
        rate_requests=0,
        start="1",
        progress=None,
    )


@pytest.fixture(scope="module")
def people_run(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two batches over a people change feed, run once for the module's read-only tests;
    yields (emulator, source path, results, ledger path)."""
    tmp_path = tmp_path_factory.mktemp("people-run")
    path = str(tmp_path / "people")
    spark.sql(
        f"CREATE TABLE delta.`{path}` (id STRING, email STRING, plan STRING) USING delta "
        "TBLPROPERTIES (delta.enableChangeDataFeed = true)"
    )
    rows = [(f"u{i}", f"u{i}@example.com", "free") for i in range(8)]
    rows.append(("u9", "not-an-email", "free"))  # a dead letter
    spark.createDataFrame(rows, "id STRING, email STRING, plan STRING").write.format("delta").mode(
        "append"
    ).save(path)
    with Emulator(keys=(KEY,)) as emu:
        first = _sync(spark, tmp_path, emu, path, PEOPLE, "people")
        # Batch 2: two updates of u1 (one batch), an update of u2 that changes nothing, a delete.
        spark.sql(f"UPDATE delta.`{path}` SET plan = 'pro' WHERE id = 'u1'")
        spark.sql(f"UPDATE delta.`{path}` SET plan = 'enterprise' WHERE id = 'u1'")
        spark.sql(f"UPDATE delta.`{path}` SET plan = plan WHERE id = 'u2'")
        spark.sql(f"DELETE FROM delta.`{path}` WHERE id = 'u3'")
        second = _sync(spark, tmp_path, emu, path, PEOPLE, "people")
        yield emu, path, [first, second], str(tmp_path / "ledger")


def _source_rows(spark: Any, path: str, mapping: Any, job: str, cdf: bool) -> list[Any]:
    """(message id, key, change) of every row the stream read, mapped as the sink maps them."""
    reader = spark.read.format("delta")
    if cdf:
        reader = reader.option("readChangeFeed", "true").option("startingVersion", 1)
    messages = to_messages(reader.load(path), mapping.to_mapping(), job=job)
    return messages.select("message_id", "key", "change", "version").collect()


def test_every_row_of_a_change_feed_run_has_exactly_one_outcome(
    spark: Any, people_run: Any
) -> None:
    emu, path, results, ledger = people_run
    source = _source_rows(spark, path, PEOPLE, "people", cdf=True)
    assert len(source) == 9 + 4 + 2 + 1
    fates = cio.trace(spark, ledger, job="people", key=sorted({r.key for r in source}))
    # Each source row once (by message id: CDF ids are unique per row), nothing else.
    assert Counter(f.message_id for f in fates) == Counter(r.message_id for r in source)
    assert all(f.outcome != "not_found" for f in fates)
    # Nothing was replayed or drained, so no result merges a second ledger row of its message
    # (an ack and a dead letter of one row would otherwise pass as one acked result).
    assert [f for f in fates if f.history] == []
    by_id = {f.message_id: f for f in fates}
    outcome = {
        (r.key, r.change, r.version): (by_id[r.message_id].outcome, by_id[r.message_id].reason)
        for r in source
    }
    assert outcome[("u9", "insert", 1)][0] == "dead_lettered"
    assert "email" in outcome[("u9", "insert", 1)][1]
    assert outcome[("u1", "insert", 1)] == ("acked", None)
    assert outcome[("u1", "update_preimage", 2)] == ("skipped", "update_preimage")
    assert outcome[("u1", "update_postimage", 2)] == ("skipped", "superseded")
    assert outcome[("u1", "update_preimage", 3)] == ("skipped", "update_preimage")
    assert outcome[("u1", "update_postimage", 3)] == ("acked", None)
    assert outcome[("u2", "update_postimage", 4)] == ("skipped", "unchanged")
    assert outcome[("u2", "update_preimage", 4)] == ("skipped", "update_preimage")
    assert outcome[("u3", "delete", 5)] == ("acked", None)
    # The superseded change names the change that went out instead.
    superseded = by_id[next(r.message_id for r in source if r[1:] == ("u1", "update_postimage", 2))]
    sent = next(r.message_id for r in source if r[1:] == ("u1", "update_postimage", 3))
    assert superseded.related_message_id == sent
    # The ledger's counts and the skipped table agree with the lineage of both runs.
    totals = Counter()
    for result in results:
        totals.update(result.totals)
    assert totals["rows_in"] == len(source)
    assert totals["skipped"] == sum(f.outcome == "skipped" for f in fates) == 5
    assert totals["acked"] == sum(f.outcome == "acked" for f in fates) == 10
    # Every ack names its request, which the emulator received.
    acked = [f for f in fates if f.outcome == "acked"]
    assert all(f.request and f.request.get("message_count") for f in acked)
    assert {f.message_id for f in acked} == set(emu.message_id_counts())
    line = by_id[sent].describe()
    assert "acked at" in line and "HTTP 200" in line


def test_trace_by_message_id_and_one_line_errors(spark: Any, people_run: Any) -> None:
    _, path, _, ledger = people_run
    source = _source_rows(spark, path, PEOPLE, "people", cdf=True)
    pre = next(r.message_id for r in source if r[1:] == ("u2", "update_preimage", 4))
    (fate,) = cio.trace(spark, ledger, job="people", message_id=pre)
    assert (fate.outcome, fate.reason, fate.key) == ("skipped", "update_preimage", "u2")
    assert "skipped (update_preimage)" in fate.describe()
    assert cio.trace(spark, ledger, job="another-job", message_id=pre) == []
    with pytest.raises(ConfigError, match="exactly one of key=, row_id= or message_id="):
        cio.trace(spark, ledger, job="people", key="u1", message_id=pre)
    with pytest.raises(ConfigError, match="also give source="):
        cio.trace(spark, ledger, job="people", row_id="x")


def test_the_trace_command_prints_one_line_per_row_and_json_lines(
    spark: Any, people_run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, path, _, ledger = people_run
    u1 = [r for r in _source_rows(spark, path, PEOPLE, "people", cdf=True) if r.key == "u1"]
    assert len(u1) == 5  # the insert, and two updates' pre- and post-images
    argv = ["--ledger-path", ledger, "--job-name", "people", "--key", "u1"]
    assert trace_cli.main(argv, spark=spark) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = [f.describe() for f in cio.trace(spark, ledger, job="people", key="u1")]
    assert lines == expected and len(lines) == len(u1)
    assert sum("acked at" in line for line in lines) == 2
    assert sum("skipped (update_preimage)" in line for line in lines) == 2
    assert sum("skipped (superseded)" in line for line in lines) == 1

    assert trace_cli.main([*argv, "--json"], spark=spark) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["message_id"] for r in records) == sorted(r.message_id for r in u1)
    assert {r["outcome"] for r in records} == {"acked", "skipped"}
    assert all(r["key"] == "u1" and r["history"] == [] for r in records)

    assert trace_cli.main([*argv[:4], "--key", "nobody"], spark=spark) == 0
    assert capsys.readouterr().out == "trace: no rows of job 'people' match\n"


def test_a_repeated_queue_row_is_a_duplicate_found_by_row_id(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "events")
    rows = [
        ("e1", "u1", "Signed Up"),
        ("e2", "u1", "Order Completed"),
        ("e2", "u1", "Order Completed"),  # the same event id twice: one message
        ("e3", None, "Logged In"),  # no user id: a dead letter
    ]
    (
        spark.createDataFrame(rows, "event_id STRING, user_id STRING, event STRING")
        .selectExpr("*", "timestamp'2024-05-01 12:00:00' AS ts")
        .write.format("delta")
        .save(path)
    )
    events = cio.Events(user_id="user_id", event_column="event", timestamp="ts", row_id="event_id")
    with Emulator(keys=(KEY,)) as emu:
        result = _sync(spark, tmp_path, emu, path, events, "events")
        assert emu.stats().duplicates == 0
        assert len(emu.messages()) == 2
    assert result.totals["skipped"] == 1
    ledger = str(tmp_path / "ledger")
    fates = cio.trace(
        spark,
        ledger,
        job="events",
        row_id=["e1", "e2", "e3", "e4"],
        source=path,
        mapping=events,
    )
    outcomes = Counter(f.outcome for f in fates)
    assert outcomes == {"acked": 2, "skipped": 1, "dead_lettered": 1}
    assert [f for f in fates if f.history] == []
    dup = next(f for f in fates if f.outcome == "skipped")
    sent = next(f for f in fates if f.outcome == "acked" and f.message_id == dup.message_id)
    assert dup.reason == "duplicate" and dup.related_message_id == sent.message_id
    dead = next(f for f in fates if f.outcome == "dead_lettered")
    assert dead.key is None and "user" in (dead.reason or "").lower()
