"""``sync_events.main([...])`` end to end: a Delta table → the emulator over HTTP → the ledger."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.spark.ledger import Ledger
from streaming_jobs import replay_dead_letters, sync_events

from .conftest import KEY, create_events

pytestmark = pytest.mark.spark

N = 60


def _argv(tmp_path: Path, url: str, source: str) -> list[str]:
    return [
        "--source",
        source,
        "--checkpoint",
        str(tmp_path / "state" / "sync_events" / "checkpoint"),
        "--ledger-path",
        str(tmp_path / "state" / "ledger"),
        "--endpoint",
        url,
        "--event-column",
        "event",
        "--properties-json",
        "props",
        "--timestamp-column",
        "ts",
        "--row-id-column",
        "event_id",
    ]


def test_sync_events_sends_every_valid_event_exactly_once(
    spark: Any,
    tmp_path: Path,
    emulator: Any,
    monkeypatch: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    source = str(tmp_path / "events")
    valid = create_events(spark, source, N)
    argv = _argv(tmp_path, emulator.url, source)

    assert sync_events.main(argv) == 0
    out = capsys.readouterr().out
    assert "[sync_events] batch 0: 62 rows → 60 acked, 2 dead" in out
    assert "sync_events: done in" in out
    assert "rows 62, acks 60, dead letters 2, parked 0, skipped 0, requests" in out
    done = next(line for line in out.splitlines() if "sync_events: done in" in line)
    assert " — map " in done and ", stream overhead " in done and done.endswith(" events/s")

    stats = emulator.stats()
    assert (stats.accepted, stats.rejected, stats.duplicates) == (N, 0, 0)
    sent = emulator.messages("track")
    assert len(sent) == N
    assert sorted(f"evt-{m['properties']['amount']:03d}" for m in sent) == valid
    assert set(emulator.message_id_counts().values()) == {1}
    assert Counter(m["event"] for m in sent) == {"Signed Up": N // 2, "Order Completed": N // 2}

    ledger = Ledger(path=str(tmp_path / "state" / "ledger"))
    acks = ledger.read(spark, "acks")
    assert acks.count() == N
    assert {r.message_id for r in acks.select("message_id").collect()} == {
        m["messageId"] for m in sent
    }
    dead = ledger.read(spark, "dead_letters").orderBy("error_message").collect()
    assert [r.error_message.split(":")[0] for r in dead] == ["event", "userId"]

    # A second run over the same checkpoint finds nothing new and sends nothing.
    assert sync_events.main(argv) == 0
    assert "rows 0, acks 0" in capsys.readouterr().out
    assert emulator.stats().accepted == N

    # The dead letters were never sendable: a replay sends them and records the refusals.
    ledger_flags = ["--ledger-path", str(tmp_path / "state" / "ledger"), "--endpoint", emulator.url]
    assert replay_dead_letters.main(["--job-name", "sync_events", "--all", *ledger_flags]) == 0
    out = capsys.readouterr().out
    assert "sync_events: 2 selected, 0 acked, 2 rejected again, 0 still queued" in out
    assert emulator.stats().accepted == N
    replays = ledger.read(spark, "dead_letters").where("replay_status = 'rejected'").count()
    assert replays == 2
    argv = ["--job-name", "sync_events", "--drain-retry-queue", *ledger_flags]
    assert replay_dead_letters.main(argv) == 0
    assert "sync_events: 0 selected" in capsys.readouterr().out


def test_a_failed_run_exits_1_with_one_line_and_no_key(
    spark: Any,
    tmp_path: Path,
    emulator: Any,
    monkeypatch: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    wrong = "wrong-key-that-must-never-print"
    monkeypatch.setenv("CUSTOMERIO_API_KEY", wrong)
    source = str(tmp_path / "events")
    create_events(spark, source, 3)

    assert sync_events.main(_argv(tmp_path, emulator.url, source)) == 1
    out, err = capfd.readouterr()  # file descriptors: also what the JVM logged
    ours = [line for line in err.splitlines() if line.startswith("sync_events: failed:")]
    assert len(ours) == 1
    assert "AuthenticationError" in ours[0]
    assert wrong not in out + err
    assert emulator.stats().accepted == 0


def test_a_key_of_one_region_is_refused_for_the_other_before_the_query_starts(
    spark: Any,
    tmp_path: Path,
    monkeypatch: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    us_key = "pk_us_cross0region0guard0test"
    monkeypatch.setenv("CUSTOMERIO_API_KEY", us_key)
    monkeypatch.delenv("CUSTOMERIO_SINK_ALLOW_CROSS_REGION", raising=False)
    source = str(tmp_path / "events")
    create_events(spark, source, 3)
    argv = [a for a in _argv(tmp_path, "-", source) if a not in ("--endpoint", "-")]

    assert sync_events.main([*argv, "--region", "eu"]) == 2
    out, err = capfd.readouterr()
    [line] = [x for x in err.splitlines() if x.startswith("sync_events: error:")]
    assert "refusing to send a US API key to the EU host" in line
    assert "--allow-cross-region" in line and us_key not in out + err
    # Refused on the driver before the query started: no checkpoint, no ledger.
    assert not (tmp_path / "state").exists()

    # With the flag the options are built (the guard warns instead); the send itself would go
    # to Customer.io's EU host, which this test does not reach.
    from customerio_sink.client.secrets import SecretKey
    from streaming_jobs import _common

    args = sync_events.build_parser().parse_args([*argv, "--region", "eu", "--allow-cross-region"])
    assert args.allow_cross_region is True
    columns = ["event_id", "user_id", "event", "props", "ts"]
    options = _common.sink_options(args, sync_events.mapping_for(args, columns), SecretKey(us_key))
    assert options.allow_cross_region and options.region == "eu"
