"""Replays and drains after a crash, at the same time, and in order across batches.

A drain killed after sending resumes from its journal (nothing acknowledged is sent again); a
second drain while one runs stops with one line naming the running one; a replay never sends a
call older than a newer acknowledged call of its key unless forced; change feeds refuse to park;
a queue's calls of one key are sent by one partition; a fix that makes a message too big sends
the letter back to the dead letters with the reason.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from customerio_sink.client.secrets import SecretKey
from customerio_sink.spark.mapping import MessageMapping, to_messages
from customerio_sink.spark.replay import drain_retry_queue, replay_dead_letters
from customerio_sink.spark.runner import read_source, run_sync
from streaming_jobs import replay_dead_letters as replay_job
from streaming_jobs import sync_people

from .conftest import EVENTS, KEY, PEOPLE, create_people, sink_options

pytestmark = pytest.mark.spark

EVENTS_DDL = "event_id STRING, user_id STRING, event STRING, properties STRING, ts STRING"
PLACEHOLDER = MessageMapping(source="queue", call="track", event="replay")


def _ts() -> str:
    return (datetime.now(timezone.utc) - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _events(spark: Any, path: str, n: int, users: int | None = None, first: int = 0) -> None:
    rows = [
        (f"e{i}", f"u{i % (users or n)}", "Order Completed", f'{{"n": {i}}}', _ts())
        for i in range(first, first + n)
    ]
    spark.createDataFrame(rows, EVENTS_DDL).write.format("delta").mode("append").save(path)


def _park_events(spark: Any, tmp_path: Path, emulator: Any, job: str, n: int) -> Any:
    """Sync ``n`` events through an outage: every one ends in the retry queue."""
    path = str(tmp_path / "events")
    _events(spark, path, n)
    emulator.set_faults(drop_before_read=1.0)
    opts = sink_options(tmp_path, emulator, EVENTS, job, max_attempts=2)
    result = run_sync(
        spark, opts, read_source(spark, path, kind="queue"), checkpoint=str(tmp_path / "cp")
    )
    assert result.totals["parked"] == n
    emulator.clear_faults()
    return opts


def _assert_key_audit(spark: Any, opts: Any, kind: str, runs: int) -> None:
    """One key_audit row per replay or drain run: the key's source and fingerprint, its run id
    that of the run's lineage row, never the key."""
    audit = opts.ledger.read(spark, "key_audit").where(f"run_id LIKE '{kind}-%'").collect()
    lineage = opts.ledger.read(spark, "lineage").where(f"front_door = '{kind}'").collect()
    # (a run recovered from a dead run's journal has a lineage row but read no key)
    assert len(audit) == runs and {a.run_id for a in audit} <= {r.run_id for r in lineage}
    assert {(a.job, a.batch_id, a.key_source, a.secret_name) for a in audit} == {
        (opts.job, 0, "env", "CUSTOMERIO_API_KEY")
    }
    assert {a.fingerprint for a in audit} == {SecretKey(KEY).fingerprint()}
    assert all(a.read_at is not None and not a.rotated for a in audit)
    assert KEY not in str([a.asDict() for a in audit])


def lineage_runs(spark: Any, opts: Any, kind: str) -> list[Any]:
    return opts.ledger.read(spark, "lineage").where(f"front_door = '{kind}'").collect()


def _cli(tmp_path: Path, emulator: Any, *extra: str) -> list[str]:
    return ["--ledger-path", str(tmp_path / "ledger"), "--endpoint", emulator.url, *extra]


# A drain in its own process that dies (SIGKILL-like, no clean-up) right after the journal has
# recorded its ``crash_after``-th acknowledged request: a crash after sending, before the MERGE.
CHILD = textwrap.dedent(
    """
    import os, sys
    from customerio_sink.engine import journal
    from customerio_sink.client.secrets import SecretKey
    from customerio_sink.spark.ledger import Ledger
    from customerio_sink.spark.mapping import MessageMapping
    from customerio_sink.spark.options import SinkOptions
    from customerio_sink.spark.replay import drain_retry_queue
    from customerio_sink.spark.session import get_spark

    url, ledger, job, crash_after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    write, acked = journal.JournalWriter.write, []

    def write_then_crash(self, record):
        write(self, record)
        if record.get("outcome") == "acked":
            acked.append(1)
            if len(acked) == crash_after:
                os._exit(9)

    journal.JournalWriter.write = write_then_crash
    spark = get_spark("drain-crash-child")
    options = SinkOptions(
        job=job, mapping=MessageMapping(source="queue", call="track", event="replay"),
        ledger=Ledger(path=ledger), api_key=SecretKey(%r), endpoint=url, rate_requests=None,
        max_batch_messages=10)
    drain_retry_queue(spark, options)
    sys.exit(3)  # not reached: the crash comes first
    """
    % KEY
)


@pytest.mark.parametrize("crash_after", [2, 5], ids=["mid-send", "before-merge"])
def test_a_drain_killed_after_sending_resumes_without_sending_again(
    spark: Any,
    tmp_path: Path,
    emulator: Any,
    monkeypatch: Any,
    capsys: pytest.CaptureFixture[str],
    crash_after: int,
) -> None:
    n = 50  # five requests of ten
    opts = _park_events(spark, tmp_path, emulator, "drain-crash", n)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            emulator.url,
            str(tmp_path / "ledger"),
            opts.job,
            str(crash_after),
        ],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert child.returncode == 9, child.stderr.decode()[-2000:]
    assert len(emulator.message_id_counts()) == 10 * crash_after

    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    argv = ["--job-name", opts.job, "--drain-retry-queue", *_cli(tmp_path, emulator)]
    assert replay_job.main(argv) == 0
    capsys.readouterr()
    counts = emulator.message_id_counts()
    assert len(counts) == n and set(counts.values()) == {1}  # nothing sent twice
    acks = opts.ledger.read(spark, "acks")
    assert acks.count() == n and acks.select("message_id").distinct().count() == n
    queue = opts.ledger.read(spark, "retry_queue")
    assert queue.where("drain_status = 'acked' AND drained_at IS NOT NULL").count() == n
    assert replay_job.main(argv) == 0
    assert f"{opts.job}: 0 selected" in capsys.readouterr().out
    _assert_key_audit(spark, opts, "drain", 2)  # the child's key was given directly: no row


def test_a_second_drain_fails_fast_naming_the_running_one(
    spark: Any,
    tmp_path: Path,
    emulator: Any,
    monkeypatch: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    n = 30
    opts = _park_events(spark, tmp_path, emulator, "drain-twice", n)
    emulator.set_faults(latency_ms=1000)
    first: dict[str, Any] = {}
    before = emulator.stats().requests  # the outage's attempts
    slow = opts.with_(max_batch_messages=1)  # thirty requests, 1 s each
    thread = threading.Thread(target=lambda: first.update(drain_retry_queue(spark, slow)))
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while emulator.stats().requests <= before and time.monotonic() < deadline:
            assert thread.is_alive(), "the first drain finished before the second started"
            time.sleep(0.05)  # polling for the moment the first drain sends, not for a result
        monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
        argv = ["--job-name", opts.job, "--drain-retry-queue", *_cli(tmp_path, emulator)]
        second = replay_job.main(argv)
        assert thread.is_alive(), "the second drain must have met the first one running"
    finally:
        thread.join(timeout=300)
    assert second == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith(opts.job)]
    assert len(err) == 1
    assert "already running" in err[0] and "drain-" in err[0], err[0]
    assert first["acked"] == n
    counts = emulator.message_id_counts()
    assert len(counts) == n and set(counts.values()) == {1}


def _people_message_ids(spark: Any, path: str, job: str, version: int) -> dict[str, str]:
    changes = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", version)
        .option("endingVersion", version)
        .load(path)
    )
    return {r.key: r.message_id for r in to_messages(changes, PEOPLE, job=job).collect()}


def test_a_replay_skips_letters_older_than_an_acknowledged_change_unless_forced(
    spark: Any,
    tmp_path: Path,
    emulator: Any,
    monkeypatch: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = str(tmp_path / "people")
    create_people(spark, path, 3)  # version 1: user-0 … user-2
    job = "people-order"
    ids = _people_message_ids(spark, path, job, 1)
    opts = sink_options(tmp_path, emulator, PEOPLE, job)
    cp = str(tmp_path / "cp")
    emulator.set_faults(reject_message_ids=[ids["user-0"], ids["user-1"]])
    run_sync(spark, opts, read_source(spark, path, kind="cdf", start="1"), checkpoint=cp)
    emulator.clear_faults()
    assert set(emulator.people) == {"user-2"}
    # A later change of user-0 (version 2) is acknowledged; user-1 has none.
    spark.sql(f"UPDATE delta.`{path}` SET plan = 'gold' WHERE id = 'user-0'")
    run_sync(spark, opts, read_source(spark, path, kind="cdf", start="1"), checkpoint=cp)
    assert emulator.people["user-0"]["traits"]["plan"] == "gold"

    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    argv = ["--job-name", job, "--all", *_cli(tmp_path, emulator)]
    assert replay_job.main(argv) == 0
    out = capsys.readouterr().out
    assert f"{job}: 2 selected, 1 acked" in out
    assert "1 skipped" in out
    skipped = [line for line in out.splitlines() if ids["user-0"] in line]
    assert len(skipped) == 1 and "user-0" in skipped[0] and "version 2" in skipped[0], out
    assert emulator.people["user-0"]["traits"]["plan"] == "gold"  # the newer state stays
    assert emulator.people["user-1"]["traits"]["email"] == "user1@example.com"
    assert ids["user-0"] not in emulator.message_id_counts()
    letters = {r.source_key: r for r in opts.ledger.read(spark, "dead_letters").collect()}
    assert letters["user-0"].replay_status == "superseded"
    assert letters["user-1"].replay_status == "acked"
    lineage = opts.ledger.read(spark, "lineage").where("front_door = 'replay'").collect()
    assert [(r.skipped, r.skipped_by_reason) for r in lineage] == [(1, {"superseded": 1})]

    # --force sends it anyway: the old change overwrites the newer one, as asked.
    assert replay_job.main([*argv, "--force"]) == 0
    assert f"{job}: 1 selected, 1 acked" in capsys.readouterr().out
    assert emulator.people["user-0"]["traits"]["plan"] == "pro"
    assert set(emulator.message_id_counts().values()) == {1}
    _assert_key_audit(spark, opts, "replay", 2)
    # Change tracking: each replay's MERGE into dead_letters names the job and run.
    history = spark.sql(f"DESCRIBE HISTORY {opts.ledger.table('dead_letters')}").collect()
    merges = sorted(h.userMetadata for h in history if h.operation == "MERGE")
    runs = sorted(r.run_id for r in lineage_runs(spark, opts, "replay"))
    assert merges == [f"customerio-sink {job}:{run} replay merge dead_letters" for run in runs]


def test_change_feeds_refuse_to_park(
    spark: Any,
    tmp_path: Path,
    emulator: Any,
    monkeypatch: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = str(tmp_path / "people")
    create_people(spark, path, 2)
    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    argv = [
        "--source",
        path,
        "--checkpoint",
        str(tmp_path / "cp"),
        "--user-id-column",
        "id",
        "--on-transient",
        "park",
        *_cli(tmp_path, emulator),
    ]
    assert sync_people.main(argv) == 2  # a configuration error: one line, nothing sent
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sync_people: error: ") and "park" in err[0], err
    assert emulator.stats().requests == 0


def test_calls_of_one_queue_key_are_sent_by_one_partition(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    path = str(tmp_path / "events")
    for commit in range(3):  # three commits, several files
        _events(spark, path, 60, users=6, first=60 * commit)
    opts = sink_options(tmp_path, emulator, EVENTS, "keyed", partitions=4, max_batch_messages=5)
    result = run_sync(
        spark, opts, read_source(spark, path, kind="queue"), checkpoint=str(tmp_path / "cp")
    )
    assert result.totals["acked"] == 180
    batch = Path(opts.ledger.journal) / opts.job / str(result.query_id) / "batch=0"
    partitions: dict[str, set[str]] = {}
    for part in batch.glob("part-*.outcomes.parquet"):
        for key in pq.read_table(part).column("source_key").to_pylist():
            partitions.setdefault(key, set()).add(part.name.split("-")[1])
    assert len(partitions) == 6
    assert all(len(p) == 1 for p in partitions.values()), partitions


def test_a_fix_that_makes_a_message_too_big_goes_back_to_the_dead_letters(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    path = str(tmp_path / "events")
    rows = [("e1", "u1", None, "{}", _ts()), ("e2", "u2", None, "{}", _ts())]
    spark.createDataFrame(rows, EVENTS_DDL).write.format("delta").save(path)
    opts = sink_options(tmp_path, emulator, EVENTS, "too-big")
    run_sync(spark, opts, read_source(spark, path, kind="queue"), checkpoint=str(tmp_path / "cp"))

    def fix(payload: dict[str, Any]) -> dict[str, Any]:
        pad = "x" * 40_000 if payload["userId"] == "u1" else ""
        return {**payload, "event": "Order Completed", "properties": {"pad": pad}}

    report = replay_dead_letters(spark, opts, where="error_message LIKE 'event:%'", fix=fix)
    assert (report["selected"], report["acked"], report["rejected"]) == (2, 1, 1)
    letters = {r.source_key: r for r in opts.ledger.read(spark, "dead_letters").collect()}
    assert letters["u1"].replay_status == "rejected"
    assert "32768" in letters["u1"].error_message and "message" in letters["u1"].error_message
    assert letters["u2"].replay_status == "acked"
    assert [m["userId"] for m in emulator.messages()] == ["u2"]
