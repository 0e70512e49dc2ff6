"""Per-batch metrics written by a streaming listener, and alert rules over them: an alert fires
on a seeded failure (to the alerts table and a loopback webhook) and not on a clean run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.errors import ConfigError
from customerio_sink.spark.alerts import AlertRules, evaluate_alerts
from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.metrics import install_metrics, lag_versions
from customerio_sink.spark.ops_tables import append_ops, ensure_ops_table
from customerio_sink.spark.runner import read_source
from customerio_sink.spark.writer import CustomerIOWriter

from .conftest import EVENTS, sink_options

pytestmark = pytest.mark.spark


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback HTTP server that keeps every JSON body POSTed to it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def _append(spark: Any, path: str, rows: list[tuple[Any, ...]]) -> None:
    spark.createDataFrame(
        rows, "event_id STRING, user_id STRING, event STRING, properties STRING, ts STRING"
    ).write.format("delta").mode("append").save(path)


def test_a_sink_with_the_listener_writes_metrics_and_alerts_fire_on_failure_only(
    spark: Any, tmp_path: Path, emulator: Any, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    ts = datetime.now(timezone.utc).isoformat()
    source = str(tmp_path / "events")
    opts = sink_options(tmp_path, emulator, EVENTS, "metered", rate_requests=3000)
    listener = install_metrics(spark, opts)
    rules = AlertRules(min_success_rate=0.99, max_dead_letter_rate=0.01, window_minutes=60)
    try:
        _append(spark, source, [(f"ok{i}", f"u{i}", "Order Completed", "{}", ts) for i in range(4)])
        query = (
            read_source(spark, source, kind="queue")
            .writeStream.queryName(opts.job)
            .foreachBatch(CustomerIOWriter(opts))
            .option("checkpointLocation", str(tmp_path / "cp"))
            .start()
        )
        try:
            query.processAllAvailable()
            assert listener.wait_for(opts.job, {0})
            clean = evaluate_alerts(spark, opts.ledger, rules, webhook_url=url)
            assert clean == [] and received == []

            _append(
                spark,
                source,
                [
                    ("bad1", "u9", None, "{}", ts),
                    ("bad2", "u8", None, "{}", ts),
                    ("ok9", "u7", "Signed Up", "{}", ts),
                ],
            )
            query.processAllAvailable()
            assert listener.wait_for(opts.job, {1})
        finally:
            query.stop()
    finally:
        spark.streams.removeListener(listener)
    assert listener.errors == []

    rows = {r.batch_id: r for r in opts.ledger.read(spark, "metrics").collect()}
    assert set(rows) == {0, 1}
    first, second = rows[0], rows[1]
    assert (first.rows_in, first.acked, first.dead_lettered, first.success_rate) == (4, 4, 0, 1.0)
    assert first.requests >= 1 and first.requests_ok == first.requests and first.http_429 == 0
    assert first.latency_p50_ms is not None and first.latency_p99_ms >= first.latency_p50_ms
    assert first.events_by_name == {"Order Completed": 4}
    assert first.lag_versions == 0 and first.budget_share is not None
    assert 0 < first.budget_share < 1
    assert (second.rows_in, second.acked, second.dead_lettered) == (3, 1, 2)
    assert second.dead_by_reason == {"event:required": 2}
    # Data quality: two of three rows lack their event name; nothing misshapen or repeated.
    assert second.failure_rate_by_rule == {"required": pytest.approx(2 / 3)}
    assert second.completeness == pytest.approx(1 / 3)
    assert (second.duplicate_rate, second.schema_compliance) == (0.0, 1.0)
    assert (first.completeness, first.schema_compliance, first.failure_rate_by_rule) == (
        1.0,
        1.0,
        {},
    )
    assert second.events_by_name == {"Signed Up": 1}

    fired = evaluate_alerts(spark, opts.ledger, rules, webhook_url=url)
    assert sorted(a["rule"] for a in fired) == ["dead_letter_rate", "success_rate"]
    assert {a["job"] for a in fired} == {"metered"}
    assert all(a["webhook_status"] == 204 for a in fired)
    assert sorted(b["rule"] for b in received) == ["dead_letter_rate", "success_rate"]
    assert all(b["text"].startswith("[customerio-sink] metered:") for b in received)
    stored = opts.ledger.read(spark, "alerts").collect()
    assert sorted(r.rule for r in stored) == ["dead_letter_rate", "success_rate"]


def _metric(job: str, batch: int, rows: int, at: datetime, lag: int = 0) -> dict[str, Any]:
    return {
        "job": job,
        "run_id": "r",
        "batch_id": batch,
        "rows_in": rows,
        "acked": rows,
        "dead_lettered": 0,
        "parked": 0,
        "skipped": 0,
        "requests": 1,
        "requests_ok": 1,
        "http_429": 0,
        "retries": 0,
        "success_rate": 1.0,
        "dead_letter_rate": 0.0,
        "dead_by_reason": {},
        "events_by_name": {},
        "people_identified": 0,
        "objects_changed": 0,
        "relationship_changes": 0,
        "lag_versions": lag,
        "started_at": at,
        "finished_at": at,
    }


def test_volume_and_lag_rules_against_a_trailing_baseline(spark: Any, tmp_path: Path) -> None:
    ledger = Ledger(path=str(tmp_path / "ledger"))
    ensure_ops_table(spark, ledger, "metrics")
    now = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    rows = []
    for hour in range(1, 25):  # a steady 1000 rows an hour before the last hour
        at = now - timedelta(hours=hour, minutes=30)
        rows += [_metric("steady", hour, 1000, at), _metric("dropped", hour, 1000, at)]
    rows += [
        _metric("steady", 0, 900, now - timedelta(minutes=10)),
        _metric("dropped", 0, 10, now - timedelta(minutes=10), lag=500),
    ]
    append_ops(spark, ledger, "metrics", rows)
    fired = evaluate_alerts(spark, ledger, AlertRules(max_lag_versions=100), now=now)
    assert sorted((a["job"], a["rule"]) for a in fired) == [
        ("dropped", "lag"),
        ("dropped", "volume"),
    ]
    source = {"description": "DeltaSource[file:/t]", "endOffset": '{"reservoirVersion": 3}'}
    assert lag_versions([source], lambda path: 7 if path == "file:/t" else None) == 5
    assert lag_versions([source], lambda path: 2) == 0  # read through the newest version
    assert lag_versions([{"description": "KafkaV2[x]", "endOffset": "{}"}], lambda p: 1) is None


def test_business_counts_per_day_count_people_once_and_objects_by_first_call(
    spark: Any, tmp_path: Path
) -> None:
    """Per-day counts come from the acks, not from summing batches: a person identified in two
    batches of a day is one person that day; an object's first group call is its creation."""
    from customerio_sink.spark.business import business_counts

    ledger = Ledger(path=str(tmp_path / "ledger"))
    ledger.ensure_tables(spark)
    day1 = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)
    day2 = day1 + timedelta(days=1)
    calls = [  # (batch, call type, event, key, sent at)
        (0, "identify", None, "u1", day1),
        (1, "identify", None, "u1", day1 + timedelta(hours=3)),
        (1, "identify", None, "u2", day1 + timedelta(hours=3)),
        (0, "group", None, "acct-1", day1),
        (1, "group", None, "acct-1", day1 + timedelta(hours=3)),
        (1, "group", None, "u1:acct-1", day1 + timedelta(hours=3)),
        (1, "group", None, r"u\:9", day1 + timedelta(hours=3)),  # an object id with a colon
        (1, "track", "Order Completed", "u1", day1 + timedelta(hours=3)),
        (1, "track", "Order Completed", "u2", day1 + timedelta(hours=4)),
        (2, "identify", None, "u1", day2),
        (2, "group", None, "acct-1", day2),
        (2, "track", "Object Deleted", "acct-2", day2),
        (2, "track", "Relationship Deleted", "u2:acct-1", day2),
    ]
    ledger.append_rows(
        spark,
        [
            {
                "job": "crm",
                "run_id": "r",
                "batch_id": batch,
                "message_id": f"m{i}",
                "call_type": call,
                "event": event,
                "source_key": key,
                "http_status": 200,
                "attempts": 1,
                "sent_at": at,
            }
            for i, (batch, call, event, key, at) in enumerate(calls)
        ],
        "acks",
    )
    days = [r.asDict() for r in business_counts(spark, ledger, period="day").collect()]
    assert [d["period_start"].day for d in days] == [2, 3]
    first, second = days
    assert first["people_identified"] == 2  # u1 twice and u2: two people
    assert (first["objects_created"], first["objects_updated"]) == (2, 1)  # acct-1, u\:9
    assert first["relationship_changes"] == 1
    assert first["events_by_name"] == {"Order Completed": 2}
    assert second["people_identified"] == 1
    assert (second["objects_created"], second["objects_updated"]) == (0, 1)
    assert (second["objects_deleted"], second["relationship_changes"]) == (1, 1)
    assert second["events_by_name"] == {"Object Deleted": 1, "Relationship Deleted": 1}
    hours = business_counts(spark, str(tmp_path / "ledger"), period="hour", job="crm")
    assert hours.count() == 4  # 09:00, 12:00 and 13:00 on day one, 09:00 on day two
    with pytest.raises(ConfigError, match="period='week'"):
        business_counts(spark, ledger, period="week")
