"""De-duplication of queue rows: a repeated row is sent once; a queue of snapshots can send only
each key's latest row of a micro-batch (``latest_per_key``), with every other row accounted for
in the ``skipped`` table and the lineage adding up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import customerio_sink as cio
from customerio_sink.errors import ConfigError
from customerio_sink.spark.mapping import MessageMapping

from .conftest import sync_into

pytestmark = pytest.mark.spark

KEY = "dedupe-key-0123456789"

SNAPSHOTS = [
    # (user, plan, time) — in no particular order; the latest of each user must win
    ("u1", "free", "2026-11-01T10:00:00Z"),
    ("u1", "team", "2026-11-03T10:00:00Z"),
    ("u1", "pro", "2026-11-02T10:00:00Z"),
    ("u2", "free", "2026-11-05T08:00:00.250Z"),
    ("u2", "pro", "2026-11-05T08:00:00.249Z"),  # a millisecond older
    ("u3", "solo", "2026-11-04T00:00:00Z"),
    ("u3", "solo", "2026-11-04T00:00:00Z"),  # the same row twice: a duplicate
]
LATEST = {"u1": "team", "u2": "free", "u3": "solo"}


def _sync(spark: Any, tmp_path: Path, source: str, emu: Any, mapping: Any) -> Any:
    return sync_into(spark, emu, tmp_path, source, mapping, "snapshots", key=KEY, backfill=True)


def test_a_queue_of_snapshots_sends_each_keys_latest_row_and_accounts_for_the_rest(
    spark: Any, tmp_path: Path
) -> None:
    source = str(tmp_path / "people")
    spark.createDataFrame(SNAPSHOTS, "id STRING, plan STRING, at STRING").write.format(
        "delta"
    ).save(source)
    mapping = cio.People(
        user_id="id", traits=["plan"], timestamp="at", source="queue", latest_per_key=True
    )
    with cio.Emulator(keys=(KEY,), strict_default=True) as emu:
        result = _sync(spark, tmp_path, source, emu, mapping)
        sent = emu.messages()
        # A later batch with a newer snapshot of u1 is sent too (the choice is per batch).
        spark.createDataFrame(
            [("u1", "enterprise", "2026-11-06T00:00:00Z")], "id STRING, plan STRING, at STRING"
        ).write.format("delta").mode("append").save(source)
        again = _sync(spark, tmp_path, source, emu, mapping)
        after = emu.messages()
    assert {m["userId"]: m["traits"]["plan"] for m in sent} == LATEST
    assert len(sent) == len(LATEST)
    assert [m["traits"]["plan"] for m in after[len(sent) :]] == ["enterprise"]
    assert again.totals["acked"] == 1
    totals = result.totals
    assert totals["rows_in"] == len(SNAPSHOTS)
    assert totals["acked"] == len(LATEST)
    ledger = cio.Ledger(path=str(tmp_path / "ledger"))
    skipped = ledger.read(spark, "skipped").collect()
    by_reason: dict[str, list[Any]] = {}
    for row in skipped:
        by_reason.setdefault(row.reason, []).append(row)
    assert len(by_reason["superseded"]) == 3  # u1 twice, u2 once
    assert len(by_reason["duplicate"]) == 1  # u3's repeat
    acks = {r.message_id: r.source_key for r in ledger.read(spark, "acks").collect()}
    for row in by_reason["superseded"]:
        # Each names the message sent for its key instead.
        assert acks[row.related_message_id] == row.source_key
    lineage = ledger.read(spark, "lineage").orderBy("batch_id").first()
    assert lineage is not None
    assert lineage.rows_in == (
        lineage.acked + lineage.dead_lettered + lineage.parked + lineage.skipped
    )
    assert dict(lineage.skipped_by_reason) == {"superseded": 3, "duplicate": 1}


def test_without_latest_per_key_every_snapshot_is_sent(spark: Any, tmp_path: Path) -> None:
    source = str(tmp_path / "people")
    spark.createDataFrame(SNAPSHOTS, "id STRING, plan STRING, at STRING").write.format(
        "delta"
    ).save(source)
    mapping = cio.People(user_id="id", traits=["plan"], timestamp="at", source="queue")
    with cio.Emulator(keys=(KEY,)) as emu:
        result = _sync(spark, tmp_path, source, emu, mapping)
        plans = sorted(json.dumps(m["traits"]) for m in emu.messages())
    assert result.totals["acked"] == len(SNAPSHOTS) - 1  # the repeated row is still sent once
    assert len(plans) == len(SNAPSHOTS) - 1


def test_latest_per_key_is_refused_where_it_means_nothing() -> None:
    with pytest.raises(ConfigError, match="latest_per_key needs timestamp"):
        cio.People(user_id="id", source="queue", latest_per_key=True).to_mapping()
    with pytest.raises(ConfigError, match="latest_per_key: applies to identify and group"):
        cio.People(user_id="id", timestamp="at", latest_per_key=True).to_mapping()  # a cdf
    with pytest.raises(ConfigError, match="latest_per_key: applies to identify and group"):
        MessageMapping(call="track", event="e", user_id="u", timestamp="t", latest_per_key=True)


def _events(spark: Any, path: str, rows: list[tuple[str, str, str]], mode: str) -> None:
    spark.createDataFrame(rows, "event_id STRING, uid STRING, at STRING").write.format(
        "delta"
    ).mode(mode).save(path)


def test_a_row_delivered_in_an_earlier_batch_is_skipped_within_the_dedupe_window(
    spark: Any, tmp_path: Path
) -> None:
    from pyspark.sql import functions as F

    source = str(tmp_path / "events")
    first = [("e1", "u1", "2026-11-20T10:00:00Z"), ("e2", "u2", "2026-11-20T11:00:00Z")]
    _events(spark, source, first, "overwrite")
    mapping = cio.Events(user_id="uid", event="Viewed", row_id="event_id", timestamp="at")

    def run(emu: Any, job: str, checkpoint: str, **extra: Any) -> Any:
        return sync_into(
            spark, emu, tmp_path, source, mapping, job, key=KEY, checkpoint=checkpoint, **extra
        )

    with cio.Emulator(keys=(KEY,)) as emu:
        run(emu, "views", "cp", dedupe_window="7 days")
        # The producer sends e1 again (and one new event) in a later batch.
        _events(
            spark,
            source,
            [("e1", "u1", "2026-11-20T10:00:00Z"), ("e3", "u3", "2026-11-21T09:00:00Z")],
            "append",
        )
        second = run(emu, "views", "cp", dedupe_window="7 days")
        ids = emu.message_id_counts()
    assert second.totals["rows_in"] == 2
    assert second.totals["acked"] == 1
    assert len(ids) == 3 and set(ids.values()) == {1}  # e1 went out once
    ledger = cio.Ledger(path=str(tmp_path / "ledger"))
    skipped = ledger.read(spark, "skipped").collect()
    assert [(r.reason, r.source_key) for r in skipped] == [("duplicate", "u1")]
    acked = {r.message_id for r in ledger.read(spark, "acks").collect()}
    assert skipped[0].related_message_id in acked
    last = ledger.read(spark, "lineage").orderBy(F.desc("finished_at")).first()
    assert last is not None and dict(last.skipped_by_reason) == {"duplicate": 1}
    assert last.rows_in == last.acked + last.dead_lettered + last.parked + last.skipped

    # Without the window the repeat in a later batch goes out again.
    plain = str(tmp_path / "plain")
    _events(spark, plain, first, "overwrite")
    with cio.Emulator(keys=(KEY,)) as emu:
        for rows in (first[:0], [("e1", "u1", "2026-11-20T10:00:00Z")]):
            if rows:
                _events(spark, plain, rows, "append")
            sync_into(
                spark, emu, tmp_path, plain, mapping, "views-plain", key=KEY, checkpoint="cp-plain"
            )
        assert max(emu.message_id_counts().values()) == 2


def test_dedupe_window_is_checked_when_built(tmp_path: Path) -> None:
    events = cio.Events(user_id="u", event="e", row_id="id")
    ledger = str(tmp_path / "ledger")
    from customerio_sink.spark.api import options

    with pytest.raises(ConfigError, match="dedupe_window: a count and a unit"):
        options(events, ledger=ledger, job="j", dry_run=True, dedupe_window="a week")
    with pytest.raises(ConfigError, match="dedupe_window: for queue tables"):
        options(
            cio.People(user_id="u"), ledger=ledger, job="j", dry_run=True, dedupe_window="1 day"
        )
    opts = options(events, ledger=ledger, job="j", dry_run=True, dedupe_window="2 weeks")
    from customerio_sink.spark.dedupe import window_length

    assert window_length(opts.dedupe_window or "").days == 14
