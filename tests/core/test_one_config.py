"""One configuration: every tunable option is a field of ``SinkOptions`` with its default and
help declared once; keyword arguments, Data Source string options and job flags are derived
from those fields, so they cannot drift apart."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.client.secrets import SecretKey
from customerio_sink.errors import ConfigError
from customerio_sink.messages.limits import RATE_PERIOD_S, RATE_REQUESTS
from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.mapping import MessageMapping
from customerio_sink.spark.options import SinkOptions, option_kind, tuning_fields
from streaming_jobs._args import build_parser, flag_of, tuning_of

ROOT = Path(__file__).resolve().parents[2]
MAPPING = MessageMapping(source="queue", call="track", user_id="u", event="E")


def _options(**kw: Any) -> SinkOptions:
    return SinkOptions(
        job="j", mapping=MAPPING, ledger=Ledger(path="/tmp/l"), api_key=SecretKey("k" * 20), **kw
    )


# A value other than the default for every tunable field, of its own type.
CHANGED: dict[str, Any] = {
    "rate_requests": 1200,
    "rate_period_s": 2.5,
    "budget_dir": "/tmp/budget",
    "max_body_bytes": 200_000,
    "max_batch_messages": 250,
    "max_attempts": 3,
    "base_delay_s": 0.25,
    "max_delay_s": 10.0,
    "retry_after_cap_s": 20.0,
    "breaker_threshold": 9,
    "breaker_recovery_s": 12.0,
    "timeout_s": 7.5,
    "gzip": True,
    "allow_cross_region": True,
    "on_transient": "park",
    "dry_run": True,
    "backfill": True,
    "hold_recent": True,
    "dedupe_window": "7 days",
    "concurrency": 3,
    "partitions": 7,
    "key_rotation_window_s": 60.0,
}


def test_every_tunable_field_is_covered_here_and_has_help() -> None:
    names = {f.name for f in tuning_fields()}
    assert names == set(CHANGED)
    for f in tuning_fields():
        assert str(f.metadata["help"]).strip(), f.name
        assert CHANGED[f.name] != f.default


def test_string_options_round_trip_every_field() -> None:
    built = _options(**CHANGED)
    again = SinkOptions.from_options(built.to_options())
    for name, value in CHANGED.items():
        assert getattr(again, name) == value, name
    assert again.api_key is not None and again.api_key.reveal() == "k" * 20
    defaults = SinkOptions.from_options(_options().to_options())
    for f in tuning_fields():
        assert getattr(defaults, f.name) == f.default, f.name


def test_job_flags_are_derived_from_the_fields_with_the_same_defaults() -> None:
    parser = build_parser("sync_events", "d", "e")
    flags = {a.dest: a for a in parser._actions}
    for f in tuning_fields():
        action = flags[f.name]
        assert flag_of(f) in action.option_strings
        assert str(f.metadata["help"]) in (action.help or "")
    argv = ["--source", "/s", "--checkpoint", "/c", "--ledger-path", "/l"]
    for f in tuning_fields():
        value = CHANGED[f.name]
        argv += [flag_of(f)] if option_kind(f) is bool else [flag_of(f), str(value)]
    assert tuning_of(parser.parse_args(argv)) == CHANGED
    # Flags not given leave every field at its declared default.
    given = tuning_of(parser.parse_args(["--source", "/s", "--checkpoint", "/c"]))
    assert given == {}
    assert dataclasses.replace(_options(), **given) == _options()


def test_jobs_without_a_source_have_no_stream_only_flags() -> None:
    parser = build_parser("replay_dead_letters", "d", "e", stream=False)
    dests = {a.dest for a in parser._actions}
    assert "backfill" not in dests and "rate_requests" in dests


def test_zero_means_off_everywhere() -> None:
    assert _options(rate_requests=0).rate_requests is None
    off = SinkOptions.from_options(_options(rate_requests=None).to_options())
    assert off.rate_requests is None
    parser = build_parser("sync_events", "d", "e")
    args = parser.parse_args(["--source", "/s", "--rate-requests", "0"])
    assert dataclasses.replace(_options(), **tuning_of(args)).rate_requests is None


def test_a_bad_flag_or_option_names_itself() -> None:
    parser = build_parser("sync_events", "d", "e")
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--source", "/s", "--max-attempts", "0"])
    assert info.value.code == 2
    with pytest.raises(ConfigError, match="max_attempts"):
        SinkOptions.from_options({**_options().to_options(), "max_attempts": "many"})


def test_the_default_budget_is_written_once() -> None:
    """The number 3000 (and the 3-second period with it) appears as code in one place.

    The emulator is left out on purpose: it plays Customer.io, imports nothing else of the
    package (a test checks that), and its 3000 is the server's documented budget, not ours."""
    assert (RATE_REQUESTS, RATE_PERIOD_S) == (3000, 3.0)
    places = []
    for folder in ("customerio_sink", "streaming_jobs"):
        for path in sorted(ROOT.joinpath(folder).rglob("*.py")):
            if "emulator" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Constant)
                    and type(node.value) is int
                    and node.value == 3000
                ):
                    places.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert len(places) == 1 and places[0].startswith("customerio_sink/messages/limits.py:"), places


def _readme_rows() -> dict[str, str]:
    """Option name → its default as the README's configuration table gives it."""
    text = ROOT.joinpath("README.md").read_text()
    table = text.split("## Configuration", 1)[1].split("\n\n", 2)[1]
    rows: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = re.findall(r"`([a-z_]+)`", cells[0])
        values = re.split(r"\s*[,/]\s*(?=\S)", cells[1]) if len(names) > 1 else [cells[1]]
        values = values if len(values) == len(names) else [cells[1]] * len(names)
        rows.update(zip(names, values, strict=True))
    return rows


def test_the_readme_table_names_every_option_with_its_default() -> None:
    rows = _readme_rows()
    for f in tuning_fields():
        assert f.name in rows, f"README's configuration table lacks {f.name}"
        shown = rows[f.name].replace(",", "") if option_kind(f) is not bool else rows[f.name]
        if isinstance(f.default, bool):
            assert shown == str(f.default).lower(), f.name
        elif isinstance(f.default, (int, float)):
            assert float(shown) == f.default, (f.name, shown)


def test_quality_fields_of_a_batch() -> None:
    from customerio_sink.spark.metrics import quality_fields

    got = quality_fields(
        10,
        {"event:required": 2, "props:json_object": 1, "traits.email:email_format": 1},
        {"duplicate": 3, "superseded": 1},
    )
    assert got == {
        "failure_rate_by_rule": {"required": 0.2, "json_object": 0.1, "email_format": 0.1},
        "completeness": 0.8,
        "duplicate_rate": 0.3,
        "schema_compliance": 0.9,
    }
    empty = quality_fields(0, {}, {})
    assert (empty["completeness"], empty["duplicate_rate"]) == (1.0, 0.0)


def test_the_executors_settings_default_to_the_same_values() -> None:
    """``SendSettings`` (what executors get) and ``SinkOptions`` read the same constants."""
    from customerio_sink.engine.settings import SendSettings

    settings = {f.name: f.default for f in dataclasses.fields(SendSettings)}
    derived = {"on_transient", "concurrency"}  # None there means "decided per job"
    shared = [f for f in tuning_fields() if f.name in settings and f.name not in derived]
    assert len(shared) >= 10
    for f in shared:
        assert settings[f.name] == f.default, f.name
