"""Dead-letter replay after a fix (never twice), and the request log used outside the sink."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.client.pipelines import CustomerIOClient
from customerio_sink.spark.ledger import RequestLog
from customerio_sink.spark.replay import replay_dead_letters
from customerio_sink.spark.runner import read_source, run_sync

from .conftest import EVENTS, KEY, sink_options

pytestmark = pytest.mark.spark


def test_fixed_dead_letters_are_replayed_once(spark: Any, tmp_path: Path, emulator: Any) -> None:
    path = str(tmp_path / "events")
    ts = (datetime.now(timezone.utc) - timedelta(days=9)).isoformat()
    spark.createDataFrame(
        [("e1", "u1", "Order Completed", "{}", ts), ("e2", "u2", None, "{}", ts)],
        "event_id STRING, user_id STRING, event STRING, properties STRING, ts STRING",
    ).write.format("delta").save(path)
    opts = sink_options(tmp_path, emulator, EVENTS, "replayed")
    run_sync(spark, opts, read_source(spark, path, kind="queue"), checkpoint=str(tmp_path / "cp"))
    assert len(emulator.message_id_counts()) == 1

    def fix(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "event": "Order Completed"}

    report = replay_dead_letters(spark, opts, where="error_message LIKE 'event:%'", fix=fix)
    assert report["selected"] == 1 and report["acked"] == 1 and report["success_rate"] == 1.0
    again = replay_dead_letters(spark, opts, where="error_message LIKE 'event:%'", fix=fix)
    assert again["selected"] == 0  # never sent twice
    counts = emulator.message_id_counts()
    assert len(counts) == 2 and set(counts.values()) == {1}
    assert [m["userId"] for m in emulator.messages() if m["userId"] == "u2"] == ["u2"]
    dead = opts.ledger.read(spark, "dead_letters").collect()
    assert [(r.replay_status, r.replayed_at is not None) for r in dead] == [("acked", True)]
    runs = opts.ledger.read(spark, "lineage").where("front_door = 'replay'")
    assert [(r.rows_in, r.acked) for r in runs.orderBy("started_at").collect()] == [(1, 1), (0, 0)]


def test_request_log_records_client_requests_outside_the_sink(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    opts = sink_options(tmp_path, emulator, EVENTS, "notebook")
    log = RequestLog(opts.ledger, job="notebook")
    with CustomerIOClient(KEY, endpoint=emulator.url, on_request=log) as client:
        client.identify(user_id="u9", traits={"plan": "pro"})
        client.track(user_id="u9", event="Clicked")
    assert log.flush(spark) == 2
    rows = opts.ledger.read(spark, "requests").where("job = 'notebook'").collect()
    assert sorted((r.endpoint, r.status, r.message_count) for r in rows) == [
        ("/v1/identify", 200, 1),
        ("/v1/track", 200, 1),
    ]
