"""The migration utilities on local Delta tables, through the sink, against the emulator.

The old pipeline is the official client (``customerio-cdp-analytics``) sending part of an
events history to the emulator; its export is what the emulator received, as JSON lines.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

import customerio_sink as cio
from customerio_sink.emulator import Emulator
from customerio_sink.errors import ConfigError
from customerio_sink.migrate import backfill, cutover_check, import_messages, rekey

pytestmark = pytest.mark.spark

KEY = "migrate-test-key"
OLD = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
EVENTS = cio.Events(
    user_id="user_id",
    event_column="event",
    properties=["amount"],
    timestamp="ts",
    row_id="event_id",
)


def _history(n_old: int = 18, n_recent: int = 2) -> list[tuple[Any, ...]]:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    rows = [
        (
            f"e{i:02d}",
            f"u{i % 4}",
            ("Signed Up", "Order Completed")[i % 2],
            i,
            OLD + timedelta(minutes=i),
        )
        for i in range(n_old)
    ]
    rows += [
        (f"r{i}", "u9", "Order Completed", 100 + i, now - timedelta(hours=1 + i))
        for i in range(n_recent)
    ]
    return rows


def _write_history(spark: Any, path: str, rows: list[tuple[Any, ...]], commits: int) -> None:
    """The history in ``commits`` appends (one file each), so a backfill has several batches."""
    schema = "event_id STRING, user_id STRING, event STRING, amount INT, ts TIMESTAMP"
    step = -(-len(rows) // commits)
    for start in range(0, len(rows), step):
        spark.createDataFrame(rows[start : start + step], schema).coalesce(1).write.format(
            "delta"
        ).mode("append").save(path)


def _old_pipeline(emu: Emulator, rows: list[tuple[Any, ...]], export: Path) -> list[dict[str, Any]]:
    """Send ``rows`` with the official client; write what the emulator got as the export."""
    from customerio.analytics import Client

    client = Client(KEY, host=emu.url, sync_mode=True)
    for _event_id, user, event, amount, ts in rows:
        client.track(user_id=user, event=event, properties={"amount": amount}, timestamp=ts)
    sent = emu.messages()
    # Half as single messages, half as one /v1/batch body on one line (both export shapes).
    half = len(sent) // 2
    lines = [orjson.dumps(m) for m in sent[:half]] + [orjson.dumps({"batch": sent[half:]})]
    export.write_bytes(b"\n".join(lines) + b"\n")
    return sent


def _sent_once(emu: Emulator) -> Counter[tuple[Any, ...]]:
    """Every call the emulator accepted, by what it is (not by id): person, event, time."""
    return Counter(
        (m.get("userId"), m.get("event"), m["timestamp"][:19]) for m in emu.messages("track")
    )


def _when(timestamp: str) -> datetime:
    """A message's ISO-8601 ``timestamp`` as an aware datetime."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def test_import_then_backfill_sends_no_message_twice_even_when_interrupted(
    spark: Any, tmp_path: Path
) -> None:
    rows = _history()
    history = str(tmp_path / "history")
    _write_history(spark, history, rows, commits=4)
    ledger = str(tmp_path / "ledger")
    queue = str(tmp_path / "old_messages")
    with Emulator(keys=(KEY,)) as emu:
        old = _old_pipeline(emu, rows[:12], tmp_path / "export.jsonl")
        imported = import_messages(spark, tmp_path / "export.jsonl", queue)
        assert (imported.messages, imported.added) == (12, 12)
        again = import_messages(spark, tmp_path / "export.jsonl", queue)
        assert again.added == 0  # merged by messageId: an import twice adds nothing
        kept = spark.read.format("delta").load(queue).collect()
        assert {r.message_id for r in kept} == {m["messageId"] for m in old}
        assert {r.original_timestamp for r in kept} == {m["timestamp"] for m in old}

        common = dict(
            source=history, mapping=EVENTS, ledger=ledger, checkpoint=str(tmp_path / "cp"),
            job="events-backfill", already_sent=queue, api_key=KEY, endpoint=emu.url,
            rate_requests=3000, live_share=0.5, files_per_batch=1,
        )  # fmt: skip
        lines: list[str] = []

        def crash_after_first_batch(line: str) -> None:
            lines.append(line)
            if line.startswith("[events-backfill] batch 0"):
                raise RuntimeError("interrupted")

        with pytest.raises(Exception, match="interrupted"):
            backfill(spark, progress=crash_after_first_batch, **common)
        report = backfill(spark, progress=lines.append, **common)

        counts = _sent_once(emu)
        assert emu.stats().duplicates == 0
        assert max(counts.values()) == 1, [k for k, n in counts.items() if n > 1]
        # 12 by the old pipeline, 6 more old events by the backfill; the 2 recent ones parked.
        assert len(counts) == 18
        # The backfill sent each history row at its original time, not at "now".
        old_ids = {m["messageId"] for m in old}
        by_sink = [m for m in emu.messages("track") if m["messageId"] not in old_ids]
        assert {(m["userId"], m["event"], _when(m["timestamp"])) for m in by_sink} == {
            (user, event, ts) for _id, user, event, _amount, ts in rows[12:18]
        }
    assert report.rate_requests == 1500
    assert report.preflight == {
        "rows_in": 20,
        "dead_lettered": 0,
        "requests": report.preflight["requests"],
        "in_trigger_window": 2,
        "already_delivered": 12,
    }
    assert any("72-hour" in line and "2 inside" in line for line in lines)
    # The rows the old pipeline sent are findable, with the old messageIds beside them.
    fates = cio.trace(
        spark, ledger, job="events-backfill", key=[f"u{i}" for i in range(4)] + ["u9"]
    )
    # Each history row is in exactly one outcome: as many results as rows, no message twice.
    assert len(fates) == len(rows)
    assert len({f.message_id for f in fates}) == len(fates)
    assert [f for f in fates if f.history] == []
    by = Counter((f.outcome, f.reason) for f in fates)
    assert by[("skipped", "already_delivered")] == 12
    assert by[("acked", None)] == 6
    assert sum(n for (o, _), n in by.items() if o == "parked") == 2
    assert {f.related_message_id for f in fates if f.reason == "already_delivered"} == {
        m["messageId"] for m in old
    }


def test_backfill_and_import_refuse_with_one_line_naming_the_fix(
    spark: Any, tmp_path: Path
) -> None:
    no_time = cio.Events(user_id="user_id", event="Signed Up")
    with pytest.raises(ConfigError, match=r"no timestamp column.*timestamp='<event time column>'"):
        backfill(
            spark, source=str(tmp_path / "x"), mapping=no_time, ledger=str(tmp_path / "l"),
            checkpoint=str(tmp_path / "cp"), job="j", dry_run=True,
        )  # fmt: skip
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"type": "track", "userId": "u1", "event": "E", "timestamp": "2024-01-01T00:00:00Z"}\n'
    )
    with pytest.raises(ConfigError, match=r"bad.jsonl:1: no messageId"):
        import_messages(spark, bad, str(tmp_path / "q"))


def test_rekey_aliases_identifies_and_keeps_lineage(spark: Any, tmp_path: Path) -> None:
    ledger = str(tmp_path / "ledger")
    pairs = spark.createDataFrame(
        [("legacy-1", "user-1"), ("legacy-2", "user-2")], "legacy_id STRING, user_id STRING"
    )
    people = spark.createDataFrame(
        [("user-1", "a@example.com"), ("user-2", "b@example.com")], "user_id STRING, email STRING"
    )
    args = dict(
        pairs=pairs, old="legacy_id", new="user_id", ledger=ledger, job="rekey",
        traits_from=people, traits=["email"], api_key=KEY, rate_requests=0, progress=None,
    )  # fmt: skip
    with Emulator(keys=(KEY,)) as emu:
        result = rekey(spark, endpoint=emu.url, **args)
        again = rekey(spark, endpoint=emu.url, **args)  # a re-run sends nothing new
        aliases = emu.messages("alias")
        identifies = emu.messages("identify")
        assert emu.stats().duplicates == 0
    assert sorted((m["previousId"], m["userId"]) for m in aliases) == [
        ("legacy-1", "user-1"),
        ("legacy-2", "user-2"),
    ]
    assert {m["userId"]: m["traits"]["email"] for m in identifies} == {
        "user-1": "a@example.com",
        "user-2": "b@example.com",
    }
    assert result.mapped == again.mapped == 2
    # The re-run found both aliases final in the journal and sent nothing (no duplicates).
    assert again.alias.totals["already_final"] == 2
    # Tracing the old key finds the new key's rows too (noted as re-keyed).
    fates = cio.trace(spark, ledger, job="rekey", key="legacy-1")
    notes = {(f.key, f.call_type, f.note) for f in fates}
    assert ("user-1", "identify", "new key of legacy-1 (re-keyed)") in notes
    with pytest.raises(ConfigError, match="maps to 2 new ids"):
        rekey(
            spark,
            **{
                **args,
                "pairs": pairs.union(spark.createDataFrame([("legacy-1", "user-9")], pairs.schema)),
            },
            endpoint="http://127.0.0.1:9",
        )


def test_cutover_check_reports_what_would_differ(spark: Any, tmp_path: Path) -> None:
    rows = _history(n_old=6, n_recent=0)
    source = str(tmp_path / "events")
    _write_history(spark, source, rows, commits=1)
    queue = str(tmp_path / "old_messages")
    with Emulator(keys=(KEY,)) as emu:
        # The old pipeline: sent 4 of the 6 (one with a different amount) and one the table
        # does not have.
        sent = [list(r) for r in rows[:4]]
        sent[1][3] = 999
        extra = ("x", "u7", "Logged In", 1, OLD)
        _old_pipeline(emu, [tuple(r) for r in sent] + [extra], tmp_path / "export.jsonl")
    import_messages(spark, tmp_path / "export.jsonl", queue)
    report = cutover_check(spark, source=source, mapping=EVENTS, old_messages=queue, job="events")
    assert (report.same, report.different, report.only_old, report.only_sink) == (3, 1, 1, 2)
    assert report.would_dead_letter == 0 and not report.matches
    assert any("fields amount" in line for line in report.lines())
