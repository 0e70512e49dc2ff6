"""The sending engine without Spark: packing, isolation of rejected messages, parking, replays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from customerio_sink import journal
from customerio_sink.emulator import Emulator
from customerio_sink.engine import INPUT_COLUMNS, SendSettings, run_partition
from customerio_sink.errors import TransientError
from customerio_sink.message_id import message_id
from customerio_sink.secrets import SecretKey

KEY = "engine-key"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(keys=(KEY,)) as e:
        yield e


def _batch(n: int, error_at: int | None = None) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {c: [] for c in INPUT_COLUMNS}
    for i in range(n):
        mid = message_id("engine", i)
        msg = {
            "type": "track",
            "messageId": mid,
            "userId": f"u{i}",
            "event": "Clicked",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "properties": {"i": i},
        }
        for name, value in (
            ("key", f"u{i}"),
            ("message_id", mid),
            ("type", "track"),
            ("event", "Clicked"),
            ("payload", orjson.dumps(msg)),
            ("error", "userId: missing" if i == error_at else None),
            ("change", "append"),
            ("version", None),
            ("hash", None),
            ("hold", False),
            ("in_window", False),
        ):
            cols[name].append(value)
    return cols


def _settings(tmp_path: Path, emu: Emulator, **kw: Any) -> SendSettings:
    base: dict[str, Any] = dict(
        journal_key="engine/run",
        journal_dir=str(tmp_path),
        api_key=SecretKey(KEY),
        endpoint=emu.url,
        rate_requests=None,
        max_attempts=2,
        base_delay_s=0.01,
        max_delay_s=0.02,
        on_transient="park",
    )
    base.update(kw)
    return SendSettings(**base)


def test_rejected_messages_are_isolated_and_the_rest_delivered(
    tmp_path: Path, emu: Emulator
) -> None:
    batch = _batch(16, error_at=0)
    bad = {batch["message_id"][3], batch["message_id"][11]}
    emu.set_faults(reject_message_ids=sorted(bad))
    summary = run_partition([batch], _settings(tmp_path, emu), 0, 0)
    assert (summary.acked, summary.dead, summary.parked) == (13, 3, 0)
    assert set(emu.message_id_counts()) == set(batch["message_id"]) - bad - {batch["message_id"][0]}
    dead = [
        r for r in journal.read_records(str(tmp_path), "engine/run", 0) if r["outcome"] == "dead"
    ]
    reasons = {
        mid: reason for r in dead for mid, reason in zip(r["ids"], r["reasons"], strict=True)
    }
    assert all("rejected by fault injection" in reasons[mid] for mid in bad)
    assert reasons[batch["message_id"][0]] == "userId: missing"


def test_transient_failures_park_or_fail_by_policy(tmp_path: Path, emu: Emulator) -> None:
    emu.set_faults(drop_before_read=1.0)
    parked = run_partition([_batch(5)], _settings(tmp_path, emu), 0, 0)
    assert parked.parked == 5 and parked.acked == 0
    with pytest.raises(TransientError):
        run_partition([_batch(5)], _settings(tmp_path, emu, on_transient="fail"), 1, 0)


def test_a_replayed_batch_sends_only_what_is_not_final(tmp_path: Path, emu: Emulator) -> None:
    first = run_partition([_batch(20)], _settings(tmp_path, emu, max_batch_messages=5), 0, 0)
    assert first.acked == 20 and first.requests == 4
    again = run_partition([_batch(20)], _settings(tmp_path, emu, max_batch_messages=5), 0, 0)
    assert again.already_final == 20 and again.requests == 0
    assert set(emu.message_id_counts().values()) == {1}


def test_dry_run_sends_nothing_and_reports(tmp_path: Path, emu: Emulator) -> None:
    summary = run_partition([_batch(30, error_at=2)], _settings(tmp_path, emu, dry_run=True), 0, 0)
    assert summary.would_send == 29 and summary.dead == 1 and summary.requests == 1
    assert emu.stats().requests == 0


def test_change_feed_rows_without_a_key_are_each_dead_lettered(
    tmp_path: Path, emu: Emulator
) -> None:
    batch = _batch(4)
    for i in (1, 2):
        batch["key"][i] = None
        batch["error"][i] = "userId: missing or empty"
    batch["change"] = ["insert"] * 4
    batch["version"] = [1] * 4
    summary = run_partition([batch], _settings(tmp_path, emu, collapse=True), 0, 0)
    assert (summary.acked, summary.dead, summary.skipped) == (2, 2, {})
