"""The job command lines: help, argument errors, flag → mapping/options translation. No Spark."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.client.secrets import SecretKey
from customerio_sink.errors import ConfigError, ValidationError
from customerio_sink.spark.mapping import MessageMapping
from streaming_jobs import JOBS, _common, replay_dead_letters

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "checkpoints_template" / "checkpoints.example.json"

STREAM_FLAGS = (
    "--source",
    "--checkpoint",
    "--trigger",
    "--front-door",
    "--timeout-seconds",
    "--backfill",
    "--hold-recent",
)
DELIVERY_FLAGS = (
    "--endpoint",
    "--region",
    "--api-key-env",
    "--secret-scope",
    "--secret-key",
    "--ledger-path",
    "--ledger-schema",
    "--journal-dir",
    "--job-name",
    "--rate-requests",
    "--max-body-bytes",
    "--on-transient",
    "--dry-run",
)
CDF_JOBS = ("sync_people", "sync_objects", "sync_devices")


def job(name: str) -> Any:
    return importlib.import_module(f"streaming_jobs.{name}")


def run_main(
    name: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    code = job(name).main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# -- help ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", JOBS)
def test_help_documents_the_common_flags(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(name, ["--help"], capsys)
    assert code == 0
    assert "examples:" in out and f"python -m streaming_jobs.{name}" in out
    for flag in DELIVERY_FLAGS:
        assert flag in out, flag
    if name != "replay_dead_letters":
        for flag in STREAM_FLAGS:
            assert flag in out, flag
    assert ("--start" in out) == (name in CDF_JOBS)


@pytest.mark.parametrize("name", JOBS)
def test_module_entry_point_help(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", f"streaming_jobs.{name}", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: python -m streaming_jobs.{name}")


# -- argument errors: exit 2, one line -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "argv", "needle"),
    [
        ("sync_events", ["--source", "t", "--event", "e", "--bogus"], "unrecognized arguments"),
        ("sync_events", ["--source", "t"], "--event-column --event is required"),
        ("sync_events", ["--source", "t", "--event", "e", "--event-column", "c"], "not allowed"),
        ("sync_events", ["--source", "t", "--event", "e", "--trigger", "soon"], "available-now"),
        (
            "sync_events",
            ["--source", "t", "--event", "e", "--rate-requests", "-1"],
            "allowed at least 0",
        ),
        ("sync_people", ["--source", "t", "--start", "yesterday"], "'backfill', 'latest'"),
        ("sync_people", ["--source", "t", "--region", "ap"], "invalid choice"),
        (
            "sync_people",
            ["--source", "t", "--region", "eu", "--endpoint", "http://x"],
            "not allowed",
        ),
        ("sync_people", ["--source", "t", "--traits", "a", "--traits-json", "j"], "not allowed"),
        ("sync_devices", ["--source", "t", "--max-body-bytes", "0"], "0 is out of range"),
        (
            "sync_events",
            ["--source", "t", "--max-body-bytes", "8000"],
            "argument --max-body-bytes: 8000 is out of range: allowed 32,827 to 500,000 bytes",
        ),
        (
            "sync_events",
            ["--source", "t", "--max-body-bytes", "600000"],
            "600000 is out of range: allowed 32,827 to 500,000 bytes",
        ),
        ("sync_events", ["--source", "t", "--max-body-bytes", "1e5"], "expected a whole number"),
        ("sync_people", ["--source", "t", "--rate-requests", "-1"], "allowed at least 0"),
        ("sync_people", ["--source", "t", "--trigger", "sometimes"], "--trigger"),
        ("sync_objects", ["--checkpoint", "c"], "--source"),
    ],
)
def test_argument_errors_are_one_line_with_exit_2(
    name: str, argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(name, argv, capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"python -m streaming_jobs.{name}: error: ")
    assert needle in err


# -- configuration errors: exit 2, one line, before any Spark ------------------------------


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--ledger-path", "/tmp/l"], "give --checkpoint"),
        (["--checkpoint", "/tmp/c"], "give --ledger-path"),
        (["--checkpoints-file", str(EXAMPLE)], "needs --env"),
        (["--checkpoints-file", str(EXAMPLE), "--env", "qa"], "no environment 'qa'"),
        (["--checkpoint", "/tmp/c", "--ledger-schema", "main.cio"], "journal_dir"),
        (["--checkpoint", "/tmp/c", "--ledger-path", "/tmp/l", "--api-key-env", "NOPE"], "$NOPE"),
    ],
)
def test_config_errors_are_one_line_with_exit_2(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.delenv("NOPE", raising=False)
    monkeypatch.setenv("CUSTOMERIO_API_KEY", "a-key-that-must-never-print")
    code, out, err = run_main("sync_events", ["--source", "t", "--event", "e", *argv], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("sync_events: error: ")
    assert needle in err
    assert "a-key-that-must-never-print" not in err


def test_missing_key_names_the_variable_not_a_value(
    capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.delenv("CUSTOMERIO_API_KEY", raising=False)
    argv = ["--source", "t", "--checkpoint", "c", "--ledger-path", "l"]
    code, _, err = run_main("sync_people", argv, capsys)
    assert code == 2
    assert err.strip() == (
        "sync_people: error: no Customer.io API key: set $CUSTOMERIO_API_KEY, "
        "or give secret_scope/secret_key (Databricks)"
    )


def test_error_line_takes_the_last_python_error_of_a_failed_query() -> None:
    text = (
        "[FOREACH_BATCH_USER_FUNCTION_ERROR] An error occurred in the user provided function.\n"
        "\tat org.apache.spark.sql.execution.streaming.MicroBatchExecution.run(X.scala:1)\n"
        "Traceback (most recent call last):\n"
        '  File "engine.py", line 3, in run_partition\n'
        "py4j.protocol.Py4JJavaError: An error occurred while calling o123.collect\n"
        "customerio_sink.errors.AuthenticationError: unauthorized status=401 code=auth "
        "key=sk-secret-value-123\n"
        "\tat py4j.Protocol.getReturnValue(Protocol.java:476)\n"
    )
    line = _common.error_line(RuntimeError(text), SecretKey("sk-secret-value-123"))
    assert line == "AuthenticationError: unauthorized status=401 code=auth key=**********"


def test_error_line_of_other_errors() -> None:
    assert _common.error_line(ConfigError("bad region")) == "ConfigError: bad region"
    assert _common.error_line(ValueError("x\ny")) == "ValueError: x"
    err = ValidationError("userId", "required")
    assert _common.error_line(err).startswith("ValidationError: invalid userId: required")


# -- helpers -------------------------------------------------------------------------------


def test_column_spec() -> None:
    assert _common.column_spec(None) is None
    assert _common.column_spec("a, b,,c") == ("a", "b", "c")
    assert _common.column_spec("a,out=b") == {"a": "a", "out": "b"}
    with pytest.raises(ConfigError):
        _common.column_spec("a,out=")


def test_other_columns_skip_ids_and_change_feed_columns() -> None:
    columns = ["id", "email", "plan", "ts", "_change_type", "_commit_version", "_commit_timestamp"]
    assert _common.other_columns(columns, ("id", None, "ts")) == ("email", "plan")


def test_checkpoints_example_file() -> None:
    dev = _common.load_checkpoints_file(str(EXAMPLE), "dev", "sync_people")
    assert dev == {
        "checkpoint": "/tmp/customerio-sink/dev/sync_people/checkpoint",
        "ledger_path": "/tmp/customerio-sink/dev/ledger",
    }
    prod = _common.load_checkpoints_file(str(EXAMPLE), "prod", "some_new_job")
    assert prod == {
        "checkpoint": "/Volumes/main/customerio/state/prod/some_new_job/checkpoint",
        "ledger_schema": "main.customerio_ledger",
        "journal_dir": "/Volumes/main/customerio/state/prod/journal",
    }


def test_flags_become_sink_options(monkeypatch: Any) -> None:
    from streaming_jobs import sync_events

    monkeypatch.setenv("MY_KEY", "k-0123456789")
    args = sync_events.build_parser().parse_args(
        [
            "--source",
            "/data/events",
            "--event",
            "Order Completed",
            "--checkpoints-file",
            str(EXAMPLE),
            "--env",
            "dev",
            "--api-key-env",
            "MY_KEY",
            "--region",
            "eu",
            "--rate-requests",
            "0",
            "--max-body-bytes",
            "200000",
            "--on-transient",
            "fail",
            "--backfill",
            "--hold-recent",
            "--job-name",
            "orders",
        ]
    )
    _common.resolve_locations(args)
    assert args.checkpoint == "/tmp/customerio-sink/dev/orders/checkpoint"
    options = _common.sink_options(
        args, sync_events.mapping_for(args, ["user_id", "total"]), _common.resolve_key(args)
    )
    assert options.job == "orders"
    assert options.api_key == SecretKey("k-0123456789")
    assert options.ledger.path == "/tmp/customerio-sink/dev/ledger"
    assert (options.region, options.rate_requests, options.max_body_bytes) == ("eu", None, 200000)
    assert options.transient_policy == "fail"
    assert options.backfill and options.hold_recent and not options.dry_run
    assert options.source_name == "/data/events"
    assert options.mapping.event == "Order Completed"
    assert options.mapping.properties == ("total",)


def test_dry_run_needs_no_key(monkeypatch: Any) -> None:
    from streaming_jobs import sync_people

    monkeypatch.delenv("CUSTOMERIO_API_KEY", raising=False)
    args = sync_people.build_parser().parse_args(
        ["--source", "t", "--checkpoint", "c", "--ledger-path", "l", "--dry-run"]
    )
    options = _common.sink_options(
        args, sync_people.mapping_for(args, ["user_id", "email"]), _common.resolve_key(args)
    )
    assert options.dry_run and options.api_key is None


# -- mappings ------------------------------------------------------------------------------


def mapping(name: str, argv: list[str], columns: list[str]) -> MessageMapping:
    module = job(name)
    args = module.build_parser().parse_args(["--source", "t", *argv])
    return module.mapping_for(args, columns)  # type: ignore[no-any-return]


CDF = ["_change_type", "_commit_version", "_commit_timestamp"]


def test_people_mapping() -> None:
    m = mapping("sync_people", ["--user-id-column", "id"], ["id", "email", "plan", *CDF])
    assert (m.source, m.entity, m.user_id, m.traits) == ("cdf", "person", "id", ("email", "plan"))
    m = mapping("sync_people", ["--traits", "email,tier=plan", "--timestamp-column", "ts"], [])
    assert m.traits == {"email": "email", "tier": "plan"} and m.timestamp == "ts"
    m = mapping("sync_people", ["--traits-json", "attrs"], ["user_id", "attrs"])
    assert (m.traits, m.traits_json) == ((), "attrs")


def test_events_mapping() -> None:
    columns = ["event_id", "user_id", "anon", "name", "ts", "amount", "sku"]
    argv = ["--event-column", "name", "--anonymous-id-column", "anon", "--timestamp-column", "ts"]
    m = mapping("sync_events", [*argv, "--row-id-column", "event_id"], columns)
    assert (m.source, m.call, m.event_column, m.row_id) == ("queue", "track", "name", "event_id")
    assert m.properties == ("amount", "sku") and m.anonymous_id == "anon"
    m = mapping("sync_events", ["--event", "Login", "--properties-json", "p"], columns)
    assert (m.event, m.properties, m.properties_json) == ("Login", (), "p")


def test_objects_mapping() -> None:
    m = mapping(
        "sync_objects",
        ["--object-id-column", "company_id", "--object-type-id", "2"],
        ["company_id", "name", *CDF],
    )
    assert (m.entity, m.group_id, m.object_type_id, m.user_id) == (
        "object",
        "company_id",
        "2",
        None,
    )
    assert m.traits == ("name",)


def test_relationships_mapping() -> None:
    m = mapping(
        "sync_objects",
        ["--relationships", "--object-id-column", "company_id"],
        ["user_id", "company_id", "role", *CDF],
    )
    assert (m.entity, m.user_id, m.group_id, m.traits) == (
        "relationship",
        "user_id",
        "company_id",
        ("role",),
    )


def test_relationships_mapping_with_a_key_column() -> None:
    m = mapping(
        "sync_objects",
        ["--relationships", "--object-id-column", "cid", "--key-column", "membership_id"],
        ["membership_id", "user_id", "cid", "role", *CDF],
    )
    assert (m.entity, m.key, m.traits) == ("relationship", "membership_id", ("role",))


def test_object_type_id_must_be_a_number() -> None:
    with pytest.raises(ConfigError, match="--object-type-id"):
        mapping("sync_objects", ["--object-type-id", "company"], ["object_id"])


def test_devices_mapping() -> None:
    columns = ["device_token", "platform", "user_id", "app_version", *CDF]
    m = mapping("sync_devices", [], columns)
    assert (m.entity, m.device_token, m.device_platform) == ("device", "device_token", "platform")
    assert m.traits == ("app_version",)


# -- replay --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--message-ids", "a"], "give --job-name"),
        (["--job-name", "j"], "choose dead letters"),
        (["--job-name", "j", "--drain-retry-queue", "--where", "x"], "one or the other"),
        (["--job-name", "j", "--all", "--message-ids", "a"], "drop --message-ids"),
        (["--job-name", "j", "--where", "x", "--max-messages", "3"], "--drain-retry-queue"),
        (["--job-name", "j", "--all", "--dry-run"], "no dry run"),
        (["--job-name", "j", "--all"], "give --ledger-path"),
    ],
)
def test_replay_argument_checks(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = replay_dead_letters.main(argv)
    _, err = capsys.readouterr()
    assert code == 1
    assert err.count("\n") == 1 and needle in err
