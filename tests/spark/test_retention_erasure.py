"""Retention (old rows deleted per table, then VACUUM) and GDPR erasure (User Deleted at
Customer.io, the person's rows gone from every ledger table, an audit row)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.messages.message_id import composite_key
from customerio_sink.spark.erasure import erase_people
from customerio_sink.spark.ledger import TABLES, Ledger
from customerio_sink.spark.ops_tables import OPS_TABLES, append_ops, ensure_ops_table
from customerio_sink.spark.protect import KeyedHasher
from customerio_sink.spark.retention import apply_retention
from customerio_sink.spark.runner import read_source, run_sync

from .conftest import EVENTS, PEOPLE, create_people, sink_options

pytestmark = pytest.mark.spark

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def vacuum_now(spark: Any) -> Iterator[None]:
    """Let VACUUM remove files younger than Delta's 7-day safety check (tests only)."""
    name = "spark.databricks.delta.retentionDurationCheck.enabled"
    spark.conf.set(name, "false")
    yield
    spark.conf.set(name, "true")


def _ack(mid: str, at: datetime) -> dict[str, Any]:
    return {
        "job": "j",
        "run_id": "r",
        "batch_id": 0,
        "message_id": mid,
        "call_type": "track",
        "event": "E",
        "source_key": "k",
        "commit_version": None,
        "http_status": 200,
        "attempts": 1,
        "request_bytes": 10,
        "latency_ms": 1.0,
        "sent_at": at,
    }


def test_retention_removes_exactly_the_old_rows(
    spark: Any, tmp_path: Path, vacuum_now: None
) -> None:
    ledger = Ledger(path=str(tmp_path / "ledger"))
    ledger.ensure_tables(spark)
    ages = {
        "a-40d": timedelta(days=40),
        "a-31d": timedelta(days=31),
        "a-30d-less-1s": timedelta(days=30) - timedelta(seconds=1),
        "a-1d": timedelta(days=1),
    }
    ledger.append_rows(spark, [_ack(m, NOW - age) for m, age in ages.items()], "acks")
    ensure_ops_table(spark, ledger, "key_audit")
    audit = [
        {
            "job": "j",
            "run_id": "r",
            "batch_id": b,
            "key_source": "env",
            "secret_name": "K",
            "fingerprint": "00000000",
            "previous_fingerprint": None,
            "rotated": False,
            "read_at": NOW - timedelta(days=d),
        }
        for b, d in ((0, 10), (1, 6))
    ]
    append_ops(spark, ledger, "key_audit", audit)

    deleted = apply_retention(
        spark, ledger, {"acks": 30, "key_audit": 7, "lineage": 1}, now=NOW, vacuum_hours=0
    )
    assert deleted == {"acks": 2, "lineage": 0, "key_audit": 1}
    left = sorted(r.message_id for r in ledger.read(spark, "acks").collect())
    assert left == ["a-1d", "a-30d-less-1s"]
    assert [r.batch_id for r in ledger.read(spark, "key_audit").collect()] == [1]
    history = spark.sql(f"DESCRIBE HISTORY {ledger.table('acks')}").collect()
    assert "VACUUM END" in {h.operation for h in history}
    [delete] = [h for h in history if h.operation == "DELETE"]
    assert delete.userMetadata == "customerio-sink retention acks before 2026-01-30T12:00:00+00:00"
    assert spark.conf.get("spark.databricks.delta.commitInfo.userMetadata", None) is None
    # The deleted rows are gone from storage too: the version before the DELETE is unreadable.
    before = min(h.version for h in history if h.operation == "DELETE") - 1
    with pytest.raises(Exception):  # noqa: B017 - Spark raises a JVM error (missing files)
        spark.read.format("delta").option("versionAsOf", before).load(
            ledger.location("acks")
        ).collect()


def _rows_of(spark: Any, ledger: Ledger) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in list(TABLES) + list(OPS_TABLES):
        if ledger._exists(spark, name):
            out[name] = [str(r.asDict()) for r in ledger.read(spark, name).collect()]
    return out


def test_an_erasure_removes_the_person_from_every_ledger_table(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    people = str(tmp_path / "people")
    create_people(spark, people, 4)
    opts = sink_options(tmp_path, emulator, PEOPLE, "people")
    run_sync(spark, opts, read_source(spark, people, kind="cdf"), checkpoint=str(tmp_path / "c1"))
    events = str(tmp_path / "events")
    ts = (datetime.now(timezone.utc) - timedelta(days=9)).isoformat()
    spark.createDataFrame(
        [("e1", "user-1", None, '{"x": 1}', ts), ("e2", "user-3", "Clicked", "{}", ts)],
        "event_id STRING, user_id STRING, event STRING, properties STRING, ts STRING",
    ).write.format("delta").save(events)
    ev = sink_options(tmp_path, emulator, EVENTS, "events")
    run_sync(spark, ev, read_source(spark, events, kind="queue"), checkpoint=str(tmp_path / "c2"))
    opts.ledger.append_rows(
        spark,
        [
            {
                "job": "people",
                "run_id": "m",
                "old_key": "user-1",
                "new_key": "person-1",
                "alias_message_id": "x",
                "mapped_at": NOW,
            }
        ],
        "key_map",
    )
    # Relationship acks: user-1's (key "user-1:acct-9") goes, user-3's ("user-3:acct-1") stays.
    relationship_acks = [
        {
            "job": "relationships",
            "run_id": "m",
            "batch_id": 0,
            "message_id": f"rel-{n}",
            "call_type": "group",
            "event": None,
            "source_key": composite_key(person, "acct-9" if person == "user-1" else "acct-1"),
            "commit_version": 1,
            "http_status": 200,
            "attempts": 1,
            "request_bytes": 100,
            "latency_ms": 1.0,
            "sent_at": NOW,
        }
        for n, person in enumerate(("user-1", "user-3"))
    ]
    opts.ledger.append_rows(spark, relationship_acks, "acks")
    before = _rows_of(spark, opts.ledger)
    assert any("user-1" in row for rows in before.values() for row in rows)
    assert any("user-1" in row for row in before["dead_letters"])

    requests = spark.createDataFrame(
        [("user-1", True, "T-1"), ("user-2", False, "T-2")],
        "user_id STRING, suppress BOOLEAN, request_id STRING",
    )
    hasher = KeyedHasher("erasure-hash-key")
    report = erase_people(
        spark, opts.with_(job="erase"), requests, hasher=hasher, erased_by="erase-job"
    )
    assert sorted(report.erased) == ["user-1", "user-2"] and report.not_delivered == []

    sent = [(m["userId"], m["event"]) for m in emulator.messages("track")]
    assert ("user-1", "User Deleted") in sent and ("user-1", "User Suppressed") in sent
    assert ("user-2", "User Deleted") in sent and ("user-2", "User Suppressed") not in sent

    after = _rows_of(spark, opts.ledger)
    for name, rows in after.items():
        for row in rows:
            assert "user-1" not in row and "user-2" not in row, (name, row)
    # Everyone else is still there.
    assert any("user-0" in row for row in after["acks"])
    assert any("user-3" in row for row in after["acks"])
    assert any("user-3:acct-1" in row for row in after["acks"])

    audit = opts.ledger.read(spark, "erasure_audit").orderBy("request_id").collect()
    assert [(r.request_id, r.user_hash, r.suppressed, r.delivery) for r in audit] == [
        ("T-1", hasher.hash("user-1"), True, "acked"),
        ("T-2", hasher.hash("user-2"), False, "acked"),
    ]
    assert all(r.erased_by == "erase-job" and r.erased_at is not None for r in audit)
    assert all(r.delete_message_id for r in audit)
    # user-1: an identify ack, a relationship ack, the erasure's two acks, a dead letter and a
    # key_map row.
    assert audit[0].rows_removed == {"acks": 4, "dead_letters": 1, "key_map": 1}
    assert audit[1].rows_removed == {"acks": 2}

    # The same requests again (a re-run, a schedule): nothing is sent or audited twice; a new
    # request in the table is done.
    sent_before = len(emulator.messages("track"))
    again = spark.createDataFrame(
        [("user-1", True, "T-1"), ("user-2", False, "T-2"), ("user-0", False, "T-3")],
        "user_id STRING, suppress BOOLEAN, request_id STRING",
    )
    second = erase_people(spark, opts.with_(job="erase"), again, hasher=hasher)
    assert second.already_done == ["T-1", "T-2"] and second.erased == ["user-0"]
    sent = [(m["userId"], m["event"]) for m in emulator.messages("track")[sent_before:]]
    assert sent == [("user-0", "User Deleted")]
    ids = [r.request_id for r in opts.ledger.read(spark, "erasure_audit").collect()]
    assert sorted(ids) == ["T-1", "T-2", "T-3"]
    # Change tracking: every erasure DELETE names the job and run that did it.
    history = spark.sql(f"DESCRIBE HISTORY {opts.ledger.table('acks')}").collect()
    deletes = sorted(h.userMetadata for h in history if h.operation == "DELETE")
    assert deletes == sorted(
        f"customerio-sink {by}:{run} erase acks"
        for by, run in (("erase-job", report.run_id), ("erase", second.run_id))
    )


def _letter(table: str, n: int, payload_user: str) -> dict[str, Any]:
    """A dead letter or parked call keyed by an event id, its payload naming ``payload_user``."""
    row = {
        "job": "events",
        "run_id": "r",
        "batch_id": 0,
        "message_id": f"{table}-{n}",
        "call_type": "track",
        "event": "Clicked",
        "source_key": f"evt-{n}",
        "commit_version": 1,
        "payload": f'{{"type":"track","userId":"{payload_user}","event":"Clicked"}}',
    }
    if table == "dead_letters":
        return {**row, "error_class": "ValidationError", "failed_at": NOW}
    return {**row, "reason": "transient", "parked_at": NOW, "drain_attempts": 0}


def test_an_erasure_searches_encrypted_payloads_with_the_payload_key(
    spark: Any, tmp_path: Path
) -> None:
    from customerio_sink.spark.erasure import remove_people
    from customerio_sink.spark.protect import PayloadCipher, generate_key, is_encrypted

    cipher = PayloadCipher(generate_key(), secret_name="env:CIO_TEST_PAYLOAD_KEY")
    sealed = Ledger(path=str(tmp_path / "ledger"), cipher=cipher)
    sealed.ensure_tables(spark)
    for table in ("dead_letters", "retry_queue"):
        rows = [_letter(table, n, who) for n, who in enumerate(("user-1", "user-3"))]
        frame = spark.createDataFrame(rows, TABLES[table])
        sealed._append(cipher.encrypt_columns(frame, ["payload"]), table)  # as the sink stores
        assert all(is_encrypted(r.payload) for r in sealed.read(spark, table).collect())

    # Without the key the encrypted payloads cannot be searched: matched by key only.
    plain = Ledger(path=str(tmp_path / "ledger"))
    assert remove_people(spark, plain, ["user-1"]) == {"user-1": {}}
    assert sealed.read(spark, "dead_letters").count() == 2

    removed = remove_people(spark, sealed, ["user-1", "user-2"])
    assert removed == {"user-1": {"dead_letters": 1, "retry_queue": 1}, "user-2": {}}
    for table in ("dead_letters", "retry_queue"):
        left = sealed.read(spark, table).collect()
        assert [cipher.open_payload(r.payload) for r in left] == [
            '{"type":"track","userId":"user-3","event":"Clicked"}'
        ]
