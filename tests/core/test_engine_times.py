"""The engine's half of a message's time (:mod:`customerio_sink.engine.times`): the same ISO text
as Python's own formatting, written over the placeholder in the field after the messageId and
nowhere else (a time the mapping wrote out, a message without a time and user data that looks
like a placeholder are left as they are)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from customerio_sink.engine.ids import HASH_COLUMN, TIME_COLUMN, with_message_ids
from customerio_sink.engine.times import TIME_PLACEHOLDER, TIME_RANGE_MICROS, iso_millis
from customerio_sink.messages.message_id import ID_PLACEHOLDER, message_id

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
LAST_MS = TIME_RANGE_MICROS[1] // 1000 - 1  # 9999-12-31T23:59:59.999Z


def _python_text(ms: int) -> str:
    moment = EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def test_iso_text_equals_pythons_for_edges_and_random_times() -> None:
    rng = random.Random(11)
    edges = [0, 1, 999, 1000, 86_399_999, 86_400_000, 951_782_400_000, 4_107_542_400_000, LAST_MS]
    leap_days = [
        int((datetime(y, 2, 29, 12, tzinfo=timezone.utc) - EPOCH).total_seconds() * 1000)
        for y in (1972, 2000, 2024, 2400, 9996)
    ]
    times = edges + leap_days + [rng.randrange(0, LAST_MS + 1) for _ in range(3000)]
    got = [bytes(row).decode("ascii") for row in iso_millis(times)]
    assert got == [_python_text(t) for t in times]
    assert got[-1 - 3000] == "9996-02-29T12:00:00.000Z"
    assert iso_millis([]).shape == (0, 24)


@pytest.mark.parametrize("ms", [-1, LAST_MS + 1, 2**50])
def test_a_time_outside_1970_to_9999_is_refused(ms: int) -> None:
    with pytest.raises(ValueError, match="outside 1970 to 9999"):
        iso_millis([0, ms])


def _batch(payloads: list[str | None], times: list[int]) -> pa.RecordBatch:
    n = len(payloads)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(payloads, pa.string()),
            pa.array(times, pa.int64()),
            pa.array(["0123456789abcdef0123"] * n, pa.string()),
        ],
        names=["payload", TIME_COLUMN, HASH_COLUMN],
    )


def _message(rest: str) -> str:
    return '{"type":"track","messageId":"' + ID_PLACEHOLDER + '"' + rest + "}"


def test_placeholders_after_the_id_get_their_time_and_nothing_else_changes() -> None:
    lookalike = ',"properties":{"timestamp":"' + TIME_PLACEHOLDER + '"}'
    written = ',"timestamp":"1600-03-01T12:00:00.500Z","userId":"u"'
    payloads = [
        _message(',"timestamp":"' + TIME_PLACEHOLDER + '","userId":"u"'),
        _message(written),  # before 1970: the mapping wrote the text
        _message(',"userId":"u"' + lookalike),  # no time; user data that looks like one
        None,
        _message(',"timestamp":"' + TIME_PLACEHOLDER + '"'),  # the time ends the message
        _message(',"timestamp":"' + TIME_PLACEHOLDER[:-1]),  # cut short: not the placeholder
    ]
    times = [1_777_629_600_123, 0, 0, 0, LAST_MS, 5]
    out = with_message_ids(_batch(payloads, times))
    got = out.column("payload").to_pylist()
    ids = out.column("message_id").to_pylist()
    assert got[0] == _message(',"timestamp":"2026-05-01T10:00:00.123Z","userId":"u"').replace(
        ID_PLACEHOLDER, ids[0]
    )
    assert got[1] == _message(written).replace(ID_PLACEHOLDER, ids[1])
    assert got[2] == _message(',"userId":"u"' + lookalike).replace(ID_PLACEHOLDER, ids[2])
    assert got[3] is None
    assert got[4] == _message(',"timestamp":"9999-12-31T23:59:59.999Z"').replace(
        ID_PLACEHOLDER, ids[4]
    )
    assert got[5] == payloads[5].replace(ID_PLACEHOLDER, ids[5])  # type: ignore[union-attr]
    assert ids[0][:10] == message_id("x", time_ms=1_777_629_600_123)[:10]


def test_a_sliced_batch_fills_the_rows_of_its_slice() -> None:
    payloads = [_message(',"timestamp":"' + TIME_PLACEHOLDER + '"') for _ in range(6)]
    times = [i * 86_400_000 for i in range(6)]
    out = with_message_ids(_batch(payloads, times).slice(2, 3))
    got = out.column("payload").to_pylist()
    assert [p.split('"timestamp":"')[1][:10] for p in got] == [
        "1970-01-03",
        "1970-01-04",
        "1970-01-05",
    ]
    assert TIME_PLACEHOLDER not in "".join(got)
