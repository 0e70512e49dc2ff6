"""One set of rules: the JVM-side mapping (SQL) and the Python validators give the same verdict,
with the same rule code, on the same inputs; dead letters carry ``error_field``/``error_rule``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from customerio_sink.catalog.constraints import email as email_constraint
from customerio_sink.messages import rules
from customerio_sink.messages.rules import split_reason
from customerio_sink.messages.validators import check_email, check_message
from customerio_sink.spark.mapping import MessageMapping, is_email_sql, to_messages

pytestmark = pytest.mark.spark

EMAILS = [
    "ada@example.com",
    "a.b+tag@sub.example.co.uk",
    "ünï@exämple.de",
    "ada@example",  # no dot in the domain
    "ada@@example.com",
    "@example.com",
    "ada@.com",
    "ada@example.",
    "ada@exa mple.com",
    "ada @example.com",
    "ada@example.com\n",  # Python's and Java's $ both match before a final newline
    "ada@example.com\r",
    "ada\t@example.com",
    "ada@example.com\x1c",  # Python's \s holds \x1c-\x1f, Java's does not
    "ada@exam\x7fple.com",
    "ada\u00a0x@example.com",  # no-break space: white space in both, with (?U)
    "ada@example.com\u2028",
    "x" * 64 + "@example.com",
    "x" * 65 + "@example.com",
    "é" * 32 + "@example.com",  # 64 bytes of local part
    "é" * 33 + "@example.com",  # 66 bytes
    "a@" + "b" * 247 + ".cd",  # 254 bytes
    "a@" + "b" * 248 + ".cd",  # 255 bytes
    "",
    "a@b.c",
]


def _rule_of(reason: str | None) -> str | None:
    return None if reason is None else split_reason(reason)[1]


def test_the_email_rule_is_one_rule_in_python_in_the_mapping_and_in_the_catalogue(
    spark: Any,
) -> None:
    df = spark.createDataFrame([(str(i), e) for i, e in enumerate(EMAILS)], "id string, e string")
    mapped = to_messages(
        df.selectExpr("id", "concat('u', id) AS u", "e AS email"),
        MessageMapping(call="identify", user_id="u", traits=("email",), row_id="id"),
        job="rules",
    )
    sql_errors = {r.key: r.error for r in mapped.select("key", "error").collect()}
    expression = df.select("id", is_email_sql(df.e).alias("ok"), "e")
    catalogue = df.selectExpr("id", email_constraint("e").sql() + " AS ok")
    by_expression = {r.id: r.ok for r in expression.collect()}
    by_catalogue = {r.id: r.ok for r in catalogue.collect()}
    assert len(sql_errors) == len(EMAILS)
    for i, value in enumerate(EMAILS):
        python_ok = check_email(value) is None
        assert python_ok == rules.is_email(value), value
        assert by_expression[str(i)] == python_ok, repr(value)
        assert by_catalogue[str(i)] == python_ok, repr(value)
        error = sql_errors[f"u{i}"]  # the key of an identify is its user id
        assert (error is None) == python_ok, (repr(value), error)
        if not python_ok:
            assert split_reason(error) == ("traits.email", "email_format")
    assert sum(check_email(v) is None for v in EMAILS) >= 6  # the list holds both kinds


def _python_rules(message: dict[str, Any]) -> set[str]:
    return {v.rule for v in check_message(message)}


SIZES = [1, 99, 100, 101, 149, 150, 151]


def test_ids_event_names_and_attribute_values_share_their_limits(spark: Any) -> None:
    rows = []
    for n in SIZES:
        rows.append((f"id-{n}", "u" * n, "e" * n, "v" * (n * 10)))  # ASCII: n bytes
        rows.append(
            (
                f"mb-{n}",
                "é" * (n // 2) + "a" * (n % 2),
                "é" * (n // 2) + "a" * (n % 2),
                "é" * (n * 5),
            )
        )
    df = spark.createDataFrame(rows, "id string, u string, ev string, plan string")
    track = to_messages(
        df, MessageMapping(call="track", user_id="u", event_column="ev", row_id="id"), job="r"
    )
    identify = to_messages(
        df, MessageMapping(call="identify", user_id="u", traits=("plan",), row_id="id"), job="r"
    )
    errors = {
        "track": {r.key: r.error for r in track.select("key", "error").collect()},
        "identify": {r.key: r.error for r in identify.select("key", "error").collect()},
    }
    checked = 0
    assert len({user for _, user, _, _ in rows}) == len(rows)
    for row_id, user, event, plan in rows:
        messages = {
            "track": {"type": "track", "userId": user, "event": event},
            "identify": {"type": "identify", "userId": user, "traits": {"plan": plan}},
        }
        for call, message in messages.items():
            python = _python_rules(message)
            sql = _rule_of(errors[call][user])  # the key of a queue call is its user id
            assert (sql is None) == (not python), (call, row_id, sql, python)
            if sql is not None:
                assert sql in python, (call, row_id, sql, python)
                checked += 1
    assert checked >= 8  # over-limit ids, event names and values were all seen


def test_every_reason_the_mapping_writes_has_a_known_rule_code() -> None:
    import customerio_sink.engine.text_guard as text_guard
    import customerio_sink.spark.mapping as mapping
    import customerio_sink.spark.mapping_builder as mapping_builder
    import customerio_sink.spark.mapping_cdf as mapping_cdf
    import customerio_sink.spark.mapping_json as mapping_json
    import customerio_sink.spark.mapping_queue as mapping_queue
    import customerio_sink.spark.mapping_time as mapping_time

    codes = set()
    for module in (
        mapping,
        mapping_builder,
        mapping_cdf,
        mapping_queue,
        mapping_json,
        mapping_time,
        text_guard,
    ):
        source = Path(module.__file__ or "").read_text()
        codes |= set(__import__("re").findall(r"\[([a-z0-9_]+)\]\"", source))
        codes |= set(__import__("re").findall(r'reason\([^)]*?"([a-z0-9_]+)",?\s*\)', source))
    assert codes, "no rule code found: the scan is broken"
    assert codes <= set(rules.RULES), codes - set(rules.RULES)


def test_split_reason_in_python() -> None:
    assert split_reason("traits.email: not a valid email address [email_format]") == (
        "traits.email",
        "email_format",
    )
    assert split_reason("batch[0].userId: required", "RejectedError") == (
        "batch[0].userId",
        "rejected",
    )
    assert split_reason(None, None) == (None, "unknown")
    with pytest.raises(ValueError, match="unknown rule code"):
        rules.reason("x", "y", "no_such_rule")


def test_dead_letters_carry_error_field_and_error_rule_and_old_ledgers_gain_them(
    spark: Any, tmp_path: Path
) -> None:
    import customerio_sink as cio
    from customerio_sink.spark import ledger as ledger_module

    key = "rules-agree-key-0123456789"
    ledger_dir = tmp_path / "ledger"
    # A ledger made by an earlier version: dead_letters without the two columns.
    old_ddl = ledger_module.TABLES["dead_letters"].replace(
        ", error_field STRING, error_rule STRING", ""
    )
    assert old_ddl != ledger_module.TABLES["dead_letters"]
    spark.sql(f"CREATE TABLE delta.`{ledger_dir}/dead_letters` ({old_ddl}) USING delta")
    source = str(tmp_path / "events")
    spark.createDataFrame(
        [
            ("e1", "u1", "Signed Up", '{"plan": "pro"}'),
            ("e2", "u2", "", "{}"),  # no event name
            ("e3", "u3", "Signed Up", '{"a": 1} {"b": 2}'),  # text after the object
            ("e4", "u" * 151, "Signed Up", "{}"),  # id over 150 bytes
        ],
        "event_id STRING, user_id STRING, event STRING, props STRING",
    ).write.format("delta").save(source)
    with cio.Emulator(keys=(key,)) as emu:
        result = cio.sync(
            spark,
            source=source,
            mapping=cio.Events(
                user_id="user_id", event_column="event", properties_json="props", row_id="event_id"
            ),
            checkpoint=str(tmp_path / "cp"),
            ledger=str(ledger_dir),
            api_key=key,
            endpoint=emu.url,
            job="rules",
            progress=None,
        )
    assert result.totals["acked"] == 1 and result.totals["dead_lettered"] == 3
    dead = cio.Ledger(path=str(ledger_dir)).read(spark, "dead_letters")
    got = {
        (r.error_field, r.error_rule)
        for r in dead.select("error_field", "error_rule", "error_message").collect()
    }
    assert got == {("event", "required"), ("props", "json_object"), ("userId", "max_id_bytes")}
    for r in dead.collect():  # the readable reason stays, and splits as the columns say
        assert split_reason(r.error_message, r.error_class) == (r.error_field, r.error_rule)


SEMANTIC_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # (event, properties, context): JSON types a text-only reader would confuse
    ("Device Created or Updated", {}, {"device": {"token": "t", "type": "ios"}}),
    ("Device Created or Updated", {}, {"device": {"token": 123}}),
    ("Device Created or Updated", {}, {"device": {"token": True}}),
    ("Device Created or Updated", {}, {"device": {"token": {"a": 1}}}),
    ("Device Created or Updated", {}, {"device": {"token": ["t"]}}),
    ("Device Created or Updated", {}, {"device": {"token": "NaN"}}),
    ("Device Created or Updated", {}, {"device": {"token": "123"}}),
    ("Device Created or Updated", {}, {"device": {"token": None}}),
    ("Device Created or Updated", {}, {"device": "t"}),
    ("Device Created or Updated", {}, {"device": {"token": "t", "type": "web"}}),
    ("Device Created or Updated", {}, {"device": {"token": "", "type": "android"}}),
    ("Device Deleted", {}, {}),
    ("Relationship Deleted", {"objectId": "o", "objectTypeId": 2}, {}),
    ("Relationship Deleted", {"objectId": "o", "objectTypeId": "2"}, {}),
    ("Relationship Deleted", {"objectId": "o", "objectTypeId": 2.5}, {}),
    ("Relationship Deleted", {"objectId": 7}, {}),
    ("Object Deleted", {"objectId": "o"}, {}),
    ("Report Delivery Event", {"deliveryId": "d", "metric": "opened"}, {}),
    ("Report Delivery Event", {"deliveryId": "d", "metric": "OPENED"}, {}),
    ("Report Delivery Event", {"metric": "opened"}, {}),
    ("Report Content Event", {"activityType": "viewed_content", "contentId": 3}, {}),
    ("Report Content Event", {"actionType": "liked"}, {}),
    ("Report Content Event", {"contentId": 3}, {}),
    ("User Deleted", {}, {}),
    ("User Suppressed", {"reason": 1}, {}),
]


def _semantic_frame(spark: Any, cases: list[tuple[int, str, Any, Any]]) -> Any:
    import json

    rows = [(f"r{i}", f"u{i}", event, json.dumps(p), json.dumps(c)) for i, event, p, c in cases]
    return spark.createDataFrame(rows, "id string, u string, ev string, p string, c string")


def _agree(errors: dict[str, Any], cases: list[tuple[int, str, Any, Any]]) -> dict[str, int]:
    """Each case's error (None or a reason) against the validators' verdict on the same call."""
    verdicts = {"pass": 0, "fail": 0}
    for i, event, props, ctx in cases:
        message = {"type": "track", "userId": f"u{i}", "event": event, "properties": props}
        message |= {"context": ctx} if ctx else {}
        python = {(v.field, v.rule) for v in check_message(message)}
        got = errors[f"u{i}"]
        assert (got is None) == (not python), (event, props, ctx, got, python)
        if got is not None:
            assert split_reason(got) in python, (event, props, ctx, got, python)
        verdicts["fail" if got else "pass"] += 1
    return verdicts


CASES = [(i, event, props, ctx) for i, (event, props, ctx) in enumerate(SEMANTIC_CASES)]


def test_customerios_semantic_events_get_the_validators_verdict_in_spark(spark: Any) -> None:
    """A constant semantic event (``cio.Events(event="Device Created or Updated")``): its
    fields are checked in the JVM as the mapping's SQL."""
    verdicts = {"pass": 0, "fail": 0}
    for event in sorted({c[1] for c in CASES}):
        cases = [c for c in CASES if c[1] == event]
        mapping = MessageMapping(
            call="track",
            user_id="u",
            event=event,
            properties_json="p",
            context_json="c",
            row_id="id",
        )
        df = _semantic_frame(spark, cases)
        errors = {r.key: r.error for r in to_messages(df, mapping, job="r").collect()}
        for name, n in _agree(errors, cases).items():
            verdicts[name] += n
    assert verdicts["pass"] >= 6 and verdicts["fail"] >= 12


def test_semantic_events_named_by_a_column_get_the_validators_verdict_in_the_engine(
    spark: Any,
) -> None:
    """An event column may name any semantic event: the JVM leaves those rows to the engine,
    which gives them the same verdicts before anything is sent."""
    from customerio_sink.engine.arrow import ERROR, KEY, _as_arrow

    mapping = MessageMapping(
        call="track",
        user_id="u",
        event_column="ev",
        properties_json="p",
        context_json="c",
        row_id="id",
    )
    messages = to_messages(_semantic_frame(spark, CASES), mapping, job="r", engine_json=True)
    assert {r.error for r in messages.select("error").collect()} == {None}  # nothing in the JVM
    errors: dict[str, Any] = {}
    for batch in messages.toArrow().to_batches():
        checked = _as_arrow(batch, (), True)
        keys, found = checked.column(KEY).to_pylist(), checked.column(ERROR).to_pylist()
        errors.update(zip(keys, found, strict=True))
        unchecked = _as_arrow(batch, (), False)  # a mapping that needs no semantic guard
        assert set(unchecked.column(ERROR).to_pylist()) == {None}
    verdicts = _agree(errors, CASES)
    assert verdicts["pass"] >= 6 and verdicts["fail"] >= 12
