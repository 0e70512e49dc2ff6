"""The sending engine without Spark: packing, isolation of rejected messages, parking, replays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from customerio_sink.client.secrets import SecretKey
from customerio_sink.emulator import Emulator
from customerio_sink.engine import journal
from customerio_sink.engine.partition import INPUT_COLUMNS, SendSettings, run_partition
from customerio_sink.errors import TransientError
from customerio_sink.messages.message_id import message_id

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


def _arrow(cols: dict[str, list[Any]], chunk: int) -> list[Any]:
    """The same rows as Spark's mapInArrow hands them over: record batches of ``chunk`` rows,
    the payload a UTF-8 string column (not binary), columns in Spark's order."""
    import pyarrow as pa

    spark_order = ["payload", *[c for c in INPUT_COLUMNS if c != "payload"]]
    table = pa.table(
        {
            name: pa.array(
                [p.decode() for p in cols[name]] if name == "payload" else cols[name],
                type={
                    "version": pa.int64(),
                    "hold": pa.bool_(),
                    "in_window": pa.bool_(),
                }.get(name, pa.string()),
            )
            for name in spark_order
        }
    )
    return table.to_batches(max_chunksize=chunk)


def test_arrow_batches_send_in_order_across_batch_boundaries(tmp_path: Path, emu: Emulator) -> None:
    cols = _batch(50, error_at=7)
    # ~4 KB messages: a 33,000-byte body holds 7 of them, so bodies fill (and a partial body is
    # carried over) across the 8-row Arrow batches.
    cols["payload"] = [
        orjson.dumps({**orjson.loads(p), "properties": {"pad": "x" * 4000}})
        for p in cols["payload"]
    ]
    cols["hold"][9] = True
    cols["in_window"][9] = True
    cols["in_window"][10] = True
    batches = _arrow(cols, chunk=8)
    settings = _settings(tmp_path, emu, max_body_bytes=33_000)
    summary = run_partition(iter(batches), settings, 0, 0)
    assert (summary.rows_in, summary.acked, summary.dead, summary.parked) == (50, 48, 1, 1)
    assert summary.in_window == 2
    sent = [m["messageId"] for m in emu.messages()]
    expected = [m for i, m in enumerate(cols["message_id"]) if i not in (7, 9)]
    assert sent == expected  # one partition's rows keep their order across packed bodies
    stats = emu.stats()
    assert summary.requests == stats.requests == 7  # 48 messages, 7 per body
    assert 28_000 < stats.max_body_bytes <= 33_000
    acked = [
        mid
        for r in journal.read_records(str(tmp_path), "engine/run", 0)
        if r["outcome"] == "acked"
        for mid in r["ids"]
    ]
    assert acked == expected
    # A replay of the same Arrow input finds every final outcome in the journal.
    again = run_partition(iter(_arrow(cols, chunk=8)), settings, 0, 0)
    assert (again.already_final, again.requests) == (50, 0)


def test_arrow_and_column_lists_give_the_same_outcome(tmp_path: Path, emu: Emulator) -> None:
    cols = _batch(12, error_at=3)
    listed = run_partition([cols], _settings(tmp_path / "a", emu, max_batch_messages=5), 0, 0)
    first = emu.message_id_counts()
    emu.reset()
    arrow = run_partition(
        iter(_arrow(cols, chunk=5)), _settings(tmp_path / "b", emu, max_batch_messages=5), 0, 0
    )
    clocks = ("input_s", "task_s")  # how long each took differs; what each did must not
    assert {k: v for k, v in listed.as_dict().items() if k not in clocks} == {
        k: v for k, v in arrow.as_dict().items() if k not in clocks
    }
    assert emu.message_id_counts() == first


@pytest.mark.parametrize("collapse", [False, True])
def test_invalid_utf8_from_the_jvm_is_a_dead_letter_not_a_crash(
    tmp_path: Path, emu: Emulator, collapse: bool
) -> None:
    """Spark hands strings over as raw bytes: a key, event or payload that is not UTF-8 (a
    mapping that did not check it) becomes a dead letter; the other rows go through."""
    import pyarrow as pa

    cols = _batch(6)
    batch = _arrow(cols, chunk=6)[0]

    def with_bytes(name: str, row: int, value: bytes) -> Any:
        index = batch.schema.get_field_index(name)
        raw = batch.column(index).view(pa.binary()).to_pylist()
        raw[row] = value
        column = pa.array(raw, type=pa.binary()).view(pa.string())  # not validated
        return batch.set_column(index, name, column)

    batch = with_bytes("key", 1, b"u\xc3(")
    batch = with_bytes("event", 2, b"Click\xc3(")
    payload = orjson.loads(cols["payload"][4])
    batch = with_bytes("payload", 4, orjson.dumps(payload)[:-1] + b',"x":"\xc3("}')
    change = "insert" if collapse else "append"
    batch = batch.set_column(
        batch.schema.get_field_index("change"), "change", pa.array([change] * 6, pa.string())
    )
    settings = _settings(tmp_path, emu, collapse=collapse)
    summary = run_partition([batch], settings, 0, 0)
    assert (summary.acked, summary.dead) == (3, 3)
    assert set(emu.message_id_counts()) == {cols["message_id"][i] for i in (0, 3, 5)}
    dead = [
        r for r in journal.read_records(str(tmp_path), "engine/run", 0) if r["outcome"] == "dead"
    ]
    reasons = {m: why for r in dead for m, why in zip(r["ids"], r["reasons"], strict=True)}
    assert reasons[cols["message_id"][1]] == "key: not valid UTF-8 [utf8]"
    assert reasons[cols["message_id"][2]] == ("event: not valid UTF-8 [utf8]")
    assert cols["message_id"][4] in reasons  # rejected by the server, isolated by splitting


def test_a_long_task_writes_its_outcome_table_in_parts_and_publishes_it_whole(
    tmp_path: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task keeps at most SPILL_ROWS outcome rows in memory (its memory stays flat however
    many rows it sends); the published table still holds every row once, in order, with the
    Arrow path's and the row path's outcomes (acked, dead) alike."""
    import pyarrow.parquet as pq

    from customerio_sink.engine import journaling

    monkeypatch.setattr(journaling, "SPILL_ROWS", 7)
    cols = _batch(40, error_at=5)
    settings = _settings(tmp_path, emu, max_batch_messages=6)
    summary = run_partition(iter(_arrow(cols, chunk=9)), settings, 0, 0)
    assert (summary.acked, summary.dead) == (39, 1)
    (path,) = journal.batch_dir(str(tmp_path), "engine/run", 0).glob("part-*.outcomes.parquet")
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups > 1  # written in parts
    table = parquet.read()
    rows = table.select(["outcome", "message_id", "source_key", "http_status"]).to_pylist()
    dead = [r for r in rows if r["outcome"] == "dead"]
    assert [r["message_id"] for r in dead] == [cols["message_id"][5]]
    acked = [r for r in rows if r["outcome"] == "acked"]
    assert [r["message_id"] for r in acked] == [
        m for i, m in enumerate(cols["message_id"]) if i != 5
    ]
    assert {r["http_status"] for r in acked} == {200}
    assert [r["source_key"] for r in acked][:2] == ["u0", "u1"]


def test_a_failed_attempt_publishes_no_outcome_table(
    tmp_path: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts already written by an attempt that then fails stay unpublished: the ledger reads
    that attempt from its JSONL, never from half a table."""
    from customerio_sink.engine import journaling

    monkeypatch.setattr(journaling, "SPILL_ROWS", 5)
    cols = _batch(30)
    cols["payload"] = [  # ~4 KB each: bodies fill, so the first batches are sent before the loss
        orjson.dumps({**orjson.loads(p), "properties": {"pad": "x" * 4000}})
        for p in cols["payload"]
    ]
    batches = _arrow(cols, chunk=10)

    def then_fail() -> Iterator[Any]:
        yield from batches[:2]
        raise RuntimeError("executor lost")

    with pytest.raises(RuntimeError, match="executor lost"):
        run_partition(then_fail(), _settings(tmp_path, emu, max_body_bytes=33_000), 0, 0)
    directory = journal.batch_dir(str(tmp_path), "engine/run", 0)
    assert not list(directory.glob("*.parquet"))
    assert list(directory.glob(".part-*.outcomes.tmp"))  # a part was written, not published
    acked = [
        mid
        for r in journal.read_records(str(tmp_path), "engine/run", 0)
        if r["outcome"] == "acked"
        for mid in r["ids"]
    ]
    assert len(acked) > 5 and acked == cols["message_id"][: len(acked)]  # parts were written
