"""Deterministic ULID-shaped message ids."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from customerio_sink.errors import ConfigError
from customerio_sink.messages.message_id import CROCKFORD, message_id, message_id_sql

ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def decode(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 32 + CROCKFORD.index(ch)
    return value


def test_shape_and_determinism() -> None:
    a = message_id("job", "users", 42, 7, "update_postimage", time_ms=1_714_564_800_000)
    assert ULID.match(a) and len(a) == 26
    assert a == message_id("job", "users", 42, 7, "update_postimage", time_ms=1_714_564_800_000)
    assert decode(a[:10]) == 1_714_564_800_000 and a[0] == "0"


def test_layout_is_time_then_sha1_prefix() -> None:
    ident = message_id("a", None, 3, True, time_ms=123)
    value = decode(ident)
    assert value >> 80 == 123
    digest = hashlib.sha1(b"1:a-1:34:true").digest()[:10]
    assert value & ((1 << 80) - 1) == int.from_bytes(digest, "big")


def test_distinct_inputs_give_distinct_ids() -> None:
    ids = {
        message_id("a", ""),
        message_id("a", None),
        message_id("a"),
        message_id("a", "", ""),
        message_id("1:a"),
        message_id("b", ""),
        message_id("a", "", time_ms=1),
    }
    assert len(ids) == 7
    assert message_id(1) == message_id("1")  # ints render as Spark's cast(... AS STRING)


def test_time_range() -> None:
    assert message_id("x")[:10] == "0000000000"
    assert message_id("x", time_ms=2**48 - 1)[:10] == "7ZZZZZZZZZ"
    with pytest.raises(ConfigError):
        message_id("x", time_ms=2**48)
    with pytest.raises(ConfigError):
        message_id("x", time_ms=-1)
    with pytest.raises(ConfigError):
        message_id(1.5)  # type: ignore[arg-type]


@given(
    st.lists(st.one_of(st.none(), st.text(), st.integers()), max_size=5), st.integers(0, 2**48 - 1)
)
def test_always_ulid_shaped_and_sortable_by_time(parts: list[str | int | None], t: int) -> None:
    ident = message_id(*parts, time_ms=t)
    assert ULID.match(ident)
    assert decode(ident[:10]) == t


def test_sql_expression_mentions_every_column() -> None:
    sql = message_id_sql("job", "key", "version", time_ms="ts_ms")
    for name in ("job", "key", "version", "ts_ms", "sha1", "conv", "translate"):
        assert name in sql
    with pytest.raises(ConfigError):
        message_id_sql()
