"""Every numeric sink option is checked when the options are built, in one line naming the
option, the value and the allowed range — the same rules the job CLIs' flags use."""

from __future__ import annotations

from typing import Any

import pytest

from customerio_sink.errors import ConfigError
from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.mapping import MessageMapping
from customerio_sink.spark.option_rules import MIN_BODY_BYTES, RULES, check_option, check_options
from customerio_sink.spark.options import SinkOptions

BAD = {
    "max_body_bytes": [8000, 500_001, 0],
    "max_batch_messages": [0, -3],
    "rate_requests": [-1],
    "rate_period_s": [0, -1.0, float("nan")],
    "max_attempts": [0, 101],
    "base_delay_s": [-0.1],
    "max_delay_s": [-1],
    "retry_after_cap_s": [-1],
    "breaker_threshold": [0],
    "breaker_recovery_s": [0],
    "timeout_s": [0, float("inf")],
    "concurrency": [0],
    "partitions": [0],
}


def options(**kw: Any) -> SinkOptions:
    return SinkOptions(
        job="j",
        mapping=MessageMapping(source="queue", call="track", user_id="u", event="E"),
        ledger=Ledger(path="/tmp/ledger"),
        dry_run=True,
        **kw,
    )


def test_every_rule_is_tested() -> None:
    assert set(BAD) == set(RULES)


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, vs in BAD.items() for v in vs])
def test_a_value_out_of_range_names_option_value_and_range(name: str, value: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        options(**{name: value})
    message = raised.value.message
    assert message.startswith(f"{name}={value!r}: ")
    assert RULES[name].allowed() in message
    assert "\n" not in message


def test_limits_at_the_edges_are_accepted() -> None:
    assert options(max_body_bytes=MIN_BODY_BYTES).max_body_bytes == MIN_BODY_BYTES
    assert options(max_body_bytes=500_000).max_body_bytes == 500_000
    assert options(rate_requests=0, max_attempts=1, base_delay_s=0).max_attempts == 1
    with pytest.raises(ConfigError, match="max_body_bytes=32826"):
        options(max_body_bytes=MIN_BODY_BYTES - 1)


def test_not_a_number_and_rules_between_options() -> None:
    with pytest.raises(ConfigError, match="expected a number"):
        check_option("max_attempts", "6")
    with pytest.raises(ConfigError, match="expected a whole number"):
        check_option("max_attempts", 2.5)
    with pytest.raises(ConfigError, match=r"base_delay_s=5\.0 is above max_delay_s=1\.0"):
        check_options({"base_delay_s": 5.0, "max_delay_s": 1.0})


def test_data_source_string_options_are_checked_too() -> None:
    raw = {
        "job": "j",
        "mapping": '{"source": "queue", "call": "track", "user_id": "u", "event": "E"}',
        "ledger_path": "/tmp/l",
        "dry_run": "true",
        "max_body_bytes": "8000",
    }
    with pytest.raises(ConfigError, match=r"max_body_bytes=8000: out of range: allowed 32,827"):
        SinkOptions.from_options(raw)
