"""The engine's half of the messageId (:mod:`customerio_sink.engine.ids`): the same ids as the
Python definition and as Spark's ``lpad(conv(...))``, written over the mapping's placeholder
and nowhere else; a batch that breaks the contract fails loudly instead of sending a wrong id."""

from __future__ import annotations

import hashlib
import random

import pyarrow as pa
import pytest

from customerio_sink.engine.arrow import INPUT_COLUMNS, _as_arrow
from customerio_sink.engine.ids import HASH_COLUMN, TIME_COLUMN, message_ids, with_message_ids
from customerio_sink.messages.message_id import CROCKFORD, ID_PLACEHOLDER, message_id


def _render(part: str) -> str:
    return f"{len(part)}:{part}"


def _hash_hex(*parts: str) -> str:
    return hashlib.sha1("".join(_render(p) for p in parts).encode()).hexdigest()[:20]


def _ids(times: list[int], hashes: list[str]) -> list[str]:
    out = message_ids(pa.array(times, pa.int64()), pa.array(hashes, pa.string()))
    return [bytes(row).decode("ascii") for row in out]


def _spark_time_digits(t: int) -> str:
    """What ``translate(lpad(conv(t, 10, 32), 10, '0'))`` gives: lpad keeps the first 10."""
    digits = ""
    while True:
        digits = CROCKFORD[t & 31] + digits
        t >>= 5
        if not t:
            break
    return digits.rjust(10, "0")[:10]


def test_ids_equal_the_python_definition_for_many_parts_and_times() -> None:
    rng = random.Random(7)
    parts = [("job", f"user-{i}", "ü:\\" * (i % 3), str(rng.random())) for i in range(500)]
    times = [0, 1, 31, 32, 2**48 - 1] + [rng.randrange(0, 2**48) for _ in range(495)]
    got = _ids(times, [_hash_hex(*p) for p in parts])
    assert got == [message_id(*p, time_ms=t) for p, t in zip(parts, times, strict=True)]
    assert all(len(i) == 26 for i in got)


@pytest.mark.parametrize("t", [2**48, 2**50 - 1, 2**50, 2**50 + 12345, 9_223_372_036_854_775])
def test_a_time_past_ten_digits_keeps_its_leading_ten_as_spark_does(t: int) -> None:
    (got,) = _ids([t], ["0" * 20])
    assert got == _spark_time_digits(t) + "0" * 16


def test_upper_case_hex_reads_as_lower_case() -> None:
    h = _hash_hex("a", "b")
    assert _ids([5], [h.upper()]) == _ids([5], [h]) == [message_id("a", "b", time_ms=5)]


@pytest.mark.parametrize(
    ("times", "hashes", "needle"),
    [
        ([1], ["0" * 19], "20 hex digits"),
        ([1], ["g" * 20], "not hex"),
        ([1], [None], "20 hex digits"),
        ([None], ["0" * 20], "NULL time"),
        ([-1], ["0" * 20], "negative"),
    ],
)
def test_inputs_the_mapping_never_makes_are_refused(
    times: list[int | None], hashes: list[str | None], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        message_ids(pa.array(times, pa.int64()), pa.array(hashes, pa.string()))


def _mapped(payloads: list[str | None], kind: pa.DataType = pa.string()) -> pa.RecordBatch:
    n = len(payloads)
    columns = {name: pa.nulls(n, pa.string()) for name in INPUT_COLUMNS if name != "message_id"}
    columns.update(
        key=pa.array([f"k{i}" for i in range(n)], pa.string()),
        type=pa.array(["track"] * n, pa.string()),
        payload=pa.array(payloads, kind),
        version=pa.nulls(n, pa.int64()),
        hold=pa.array([False] * n, pa.bool_()),
        in_window=pa.array([False] * n, pa.bool_()),
    )
    columns[TIME_COLUMN] = pa.array(range(n), pa.int64())
    columns[HASH_COLUMN] = pa.array([_hash_hex(str(i)) for i in range(n)], pa.string())
    return pa.RecordBatch.from_pydict(columns)


def _message(i: int, tail: str = '"event":"x"') -> str:
    # The id's field name inside a value before ours must not be taken for it.
    return f'{{"type":"track","messageId":"{ID_PLACEHOLDER}",{tail}}}'


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_each_placeholder_gets_its_rows_id_and_nothing_else_changes(kind: pa.DataType) -> None:
    payloads = [_message(0, '"p":"\\"messageId\\":\\"x"'), None, _message(2), _message(3, '"é":1')]
    out = with_message_ids(_mapped(payloads, kind))
    ids = out.column("message_id").to_pylist()
    assert ids == [message_id(str(i), time_ms=i) for i in range(4)]
    assert out.column("payload").to_pylist() == [
        None if p is None else p.replace(ID_PLACEHOLDER, ids[i]) for i, p in enumerate(payloads)
    ]
    assert TIME_COLUMN not in out.schema.names and HASH_COLUMN not in out.schema.names


def test_a_slice_of_a_batch_is_filled_from_its_own_rows() -> None:
    batch = _mapped([_message(i) for i in range(6)]).slice(2, 3)
    out = with_message_ids(batch)
    assert out.column("message_id").to_pylist() == [
        message_id(str(i), time_ms=i) for i in range(2, 5)
    ]
    assert [p.count(ID_PLACEHOLDER) for p in out.column("payload").to_pylist()] == [0, 0, 0]


def test_the_engine_reads_a_mapping_with_engine_ids_as_one_with_ids() -> None:
    batch = _as_arrow(_mapped([_message(0), _message(1)]))
    assert batch.schema.names == list(INPUT_COLUMNS)
    assert batch.column("message_id").to_pylist() == [
        message_id("0", time_ms=0),
        message_id("1", time_ms=1),
    ]


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ('{"type":"track","id":"x"}', "without its messageId"),
        ('{"type":"track","messageId":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}', "not the placeholder"),
        ('{"type":"track","messageId":"~~~~', "ends inside"),
    ],
)
def test_a_message_without_the_placeholder_fails_the_batch(payload: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        with_message_ids(_mapped([_message(0), payload]))


def test_an_empty_batch_stays_empty() -> None:
    out = with_message_ids(_mapped([]))
    assert out.num_rows == 0 and "message_id" in out.schema.names
