"""The batch packer: sizes only, greedy, never over the limit, order kept.

Property tested (hypothesis), for every input: with ``sent_at`` of the longest allowed length
(``MAX_SENT_AT_CHARS``),

1. every body ``batch_body(items[s:e])`` is at most ``max_body_bytes``;
2. the ranges are consecutive and cover ``0..n`` exactly once, in order (nothing lost,
   duplicated or reordered; the parsed bodies give back the items);
3. greedy maximality: for every body but the last, adding the next item (and its comma) would
   pass ``max_body_bytes``;
4. hence, when every item is at most ``max_body_bytes // 10 - 1`` bytes, every body but the last
   is more than 90% of ``max_body_bytes``.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customerio_sink.errors import ConfigError, PayloadTooLargeError
from customerio_sink.messages.limits import (
    BATCH_ENVELOPE_BYTES,
    DOCUMENTED_MAX_BATCH_BYTES,
    MAX_SENT_AT_CHARS,
)
from customerio_sink.messages.packing import (
    DEFAULT_MAX_BODY_BYTES,
    MAX_MESSAGE_BYTES,
    batch_body,
    body_size,
    pack_ranges,
)

LONGEST_SENT_AT = "2024-05-01T12:00:00.000000+00:00:00"
assert len(LONGEST_SENT_AT) == MAX_SENT_AT_CHARS


def item(size: int, tag: int) -> bytes:
    """A JSON value of exactly ``size`` bytes that remembers its position (size >= 10)."""
    head = f'["{tag}",'.encode()
    value = head + b'"' + b"x" * (size - len(head) - 3) + b'"]'
    assert len(value) == size, (size, tag)  # the helper must not lie about sizes
    return value


def test_constants() -> None:
    assert MAX_MESSAGE_BYTES == 32768
    assert DEFAULT_MAX_BODY_BYTES == 491_520 < DOCUMENTED_MAX_BATCH_BYTES
    assert BATCH_ENVELOPE_BYTES == 10 + 12 + MAX_SENT_AT_CHARS + 2


def test_batch_body_exact_bytes() -> None:
    body = batch_body([b'{"a":1}', b'{"b":2}'], "2024-05-01T12:00:00.000+00:00")
    assert body == b'{"batch":[{"a":1},{"b":2}],"sentAt":"2024-05-01T12:00:00.000+00:00"}'
    assert orjson.loads(batch_body([b"1"]))["sentAt"]  # defaults to now
    with pytest.raises(ConfigError):
        batch_body([b"1"], "x" * (MAX_SENT_AT_CHARS + 1))
    with pytest.raises(ConfigError):
        batch_body([b"1"], 'a"b')


def test_oversize_item_is_refused_by_index_and_exact_limit_accepted() -> None:
    assert pack_ranges([MAX_MESSAGE_BYTES, 10]) == [(0, 2)]
    with pytest.raises(PayloadTooLargeError) as info:
        pack_ranges([10, 20, MAX_MESSAGE_BYTES + 1, 5])
    assert (info.value.index, info.value.size, info.value.limit) == (
        2,
        MAX_MESSAGE_BYTES + 1,
        32768,
    )


def test_limit_too_small_for_one_message() -> None:
    with pytest.raises(ConfigError):
        pack_ranges([1], max_body_bytes=MAX_MESSAGE_BYTES)
    assert pack_ranges([], max_body_bytes=MAX_MESSAGE_BYTES + BATCH_ENVELOPE_BYTES) == []


def test_full_size_example() -> None:
    sizes = [480] * 3000
    ranges = pack_ranges(sizes)
    assert all(body_size(sizes[s:e]) <= DEFAULT_MAX_BODY_BYTES for s, e in ranges)
    assert [e - s for s, e in ranges] == [1021, 1021, 958]  # (491520 - 59 + 1) // 481 = 1021


@settings(max_examples=300, deadline=None)
@given(
    max_body=st.integers(min_value=1_000, max_value=20_000),
    data=st.data(),
)
def test_packing_properties(max_body: int, data: st.DataObject) -> None:
    max_message = max_body // 10 - 1
    sizes = data.draw(st.lists(st.integers(min_value=10, max_value=max_message), max_size=300))
    items = [item(size, i) for i, size in enumerate(sizes)]
    ranges = pack_ranges(sizes, max_body, max_message_bytes=max_message)

    flat = [i for start, end in ranges for i in range(start, end)]
    assert flat == list(range(len(sizes)))  # consecutive, complete, no duplicates, in order
    assert all(end > start for start, end in ranges)
    seen = []
    for number, (start, end) in enumerate(ranges):
        body = batch_body(items[start:end], LONGEST_SENT_AT)
        assert len(body) <= max_body
        seen += [entry[0] for entry in orjson.loads(body)["batch"]]
        if number < len(ranges) - 1:
            assert len(body) + 1 + sizes[end] > max_body  # greedy: the next one did not fit
            assert len(body) > 0.9 * max_body
    assert seen == [str(i) for i in range(len(sizes))]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=MAX_MESSAGE_BYTES), max_size=60))
def test_default_limit_never_passed_with_real_message_sizes(sizes: list[int]) -> None:
    for start, end in pack_ranges(sizes):
        assert body_size(sizes[start:end]) <= DEFAULT_MAX_BODY_BYTES
