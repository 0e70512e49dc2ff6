"""The catalogue in pure Python: every event builds a valid call from valid rows and refuses
invalid ones, every built call validates against the packaged OpenAPI file."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

from customerio_sink import catalog
from customerio_sink.catalog import CATALOG, constraint_name, constraints, rules_for
from customerio_sink.catalog.constraints import sql_literal
from customerio_sink.emulator import MessageValidator
from customerio_sink.errors import ValidationError
from customerio_sink.messages.encoding import encode
from tests.catalog.cases import (
    WRONG_TYPES,
    full_row,
    invalid_rows,
    valid_rows,
)

EVENTS = list(CATALOG)
VALID = [(event, row) for event in EVENTS for row in valid_rows(event)]
INVALID = [(event, row, name) for event in EVENTS for row, name in invalid_rows(event)]


@pytest.fixture(scope="module")
def validator() -> MessageValidator:
    return MessageValidator()


@pytest.mark.parametrize(
    ("event", "row"), VALID, ids=[f"{e}-{i % 2}" for i, (e, _) in enumerate(VALID)]
)
def test_valid_rows_build_calls_the_openapi_file_accepts(
    event: str, row: dict[str, Any], validator: MessageValidator
) -> None:
    assert catalog.check(event, row) == []
    call = catalog.build(event, row)
    assert call["type"] == "track"
    assert call["event"] == event
    assert ("userId" in call) != ("anonymousId" in call)
    assert validator.check_message(call, "track") == []
    # Round trip: the properties read back as the same event.
    assert catalog.check(event, {**row, **call.get("properties", {})}) == []


@pytest.mark.parametrize(("event", "row", "name"), INVALID, ids=[f"{e}-{n}" for e, _, n in INVALID])
def test_each_broken_rule_is_reported_and_refused(
    event: str, row: dict[str, Any], name: str
) -> None:
    violations = catalog.check(event, row)
    assert name in {constraint_name(v) for v in violations}
    for violation in violations:
        assert violation.detail and violation.rule and violation.field
    with pytest.raises(ValidationError) as caught:
        catalog.build(event, row)
    if not name.startswith("user_id|anonymous_id"):
        assert name in {constraint_name(v) for v in caught.value.violations}


@pytest.mark.parametrize(("event", "change", "field", "rule"), WRONG_TYPES)
def test_wrong_types_name_the_field_and_the_type(
    event: str, change: dict[str, Any], field: str, rule: str
) -> None:
    violations = catalog.check(event, {**full_row(event), **change})
    assert (field, rule) in {(v.field, v.rule) for v in violations}


def test_every_event_has_rules_with_unique_names_and_sql() -> None:
    for event in EVENTS:
        names = [rule.name for rule in rules_for(event)]
        assert len(set(names)) == len(names), event
        assert list(constraints(event)) == names
        assert all(constraints(event).values())


def test_decimal_amounts_keep_their_digits_on_the_wire() -> None:
    row = full_row("Order Completed")
    row["products"][0]["price"] = Decimal("19.000")
    body = encode(catalog.build("Order Completed", row))
    assert b'"total":27.50' in body
    assert b'"subtotal":22.50' in body
    assert b'"price":19.000' in body
    assert b'"discount":2.50' in body


def test_floats_become_exact_decimals() -> None:
    call = catalog.build("Product Viewed", {**full_row("Product Viewed"), "price": 18.99})
    assert call["properties"]["price"] == Decimal("18.99")
    assert b'"price":18.99' in encode(call)


def test_builder_takes_a_dict_a_pydantic_object_and_a_spark_row() -> None:
    from pyspark.sql import Row  # a Row needs no session

    row = full_row("Order Completed")
    from_dict = catalog.build("Order Completed", row, message_id="m-1")
    model = catalog.model_for("Order Completed").parse(row)
    from_model = catalog.build("Order Completed", model, user_id="u-1", message_id="m-1")
    spark_row = Row(**{**row, "products": [Row(**p) for p in row["products"]]})
    from_row = catalog.build("Order Completed", spark_row, message_id="m-1")
    assert from_dict == from_model
    assert encode(from_dict) == encode(from_row)
    assert from_dict["messageId"] == "m-1"


def test_call_fields_are_taken_from_the_row_or_the_keywords() -> None:
    row = {
        **full_row("Cart Viewed"),
        "userId": None,
        "anonymousId": "anon-9",
        "timestamp": "2026-01-02T03:04:05Z",
        "context": {"locale": "en-US"},
        "event": "Cart Viewed",
    }
    del row["user_id"]
    call = catalog.build("Cart Viewed", row, integrations={"All": True})
    assert call["anonymousId"] == "anon-9"
    assert call["timestamp"] == "2026-01-02T03:04:05Z"
    assert call["context"] == {"locale": "en-US"}
    assert call["integrations"] == {"All": True}
    assert set(call["properties"]) == {"cart_id", "products"}


def test_email_recipient_ip_and_agent_travel_in_context(validator: MessageValidator) -> None:
    row = {**full_row("Email Opened"), "context": {"locale": "en-US"}}
    call = catalog.build("Email Opened", row)
    assert call["context"] == {
        "locale": "en-US",
        "traits": {"email": "cool.person@example.com"},
        "ip": "8.8.8.8",
        "userAgent": "Mozilla/5.0",
    }
    assert not {"email", "ip", "user_agent"} & set(call["properties"])
    assert validator.check_message(call, "track") == []


def test_a_chat_message_id_is_a_property_not_the_calls_id() -> None:
    call = catalog.build("Live Chat Message Sent", full_row("Live Chat Message Sent"))
    assert call["properties"]["message_id"] == "msg_1"
    assert "messageId" not in call
    call = catalog.build(
        "Live Chat Message Sent", full_row("Live Chat Message Sent"), message_id="call-1"
    )
    assert call["messageId"] == "call-1"


def test_a_video_ads_type_is_a_property() -> None:
    call = catalog.build("Video Ad Started", full_row("Video Ad Started"))
    assert call["type"] == "track"
    assert call["properties"]["type"] == "mid-roll"


def test_custom_properties_pass_through() -> None:
    call = catalog.build("Experiment Viewed", {**full_row("Experiment Viewed"), "page": "home"})
    assert call["properties"]["page"] == "home"


def test_refusals() -> None:
    with pytest.raises(ValidationError) as caught:
        catalog.build("Order Completed", {**full_row("Order Completed"), "event": "Order Placed"})
    assert caught.value.rule == "enum"
    with pytest.raises(ValidationError) as caught:
        catalog.build("Order Placed", full_row("Order Completed"))
    assert caught.value.rule == "unknown_event"
    with pytest.raises(ValidationError) as caught:
        catalog.build("Cart Viewed", {"cart_id": "c"})
    assert (caught.value.field, caught.value.rule) == ("user_id|anonymous_id", "required")
    with pytest.raises(ValidationError) as caught:
        catalog.build("Cart Viewed", ["not", "a", "row"])
    assert caught.value.rule == "type_object"


def test_message_rules_of_the_package_still_apply() -> None:
    with pytest.raises(ValidationError) as caught:
        catalog.build("Cart Viewed", {**full_row("Cart Viewed"), "user_id": "x" * 151})
    assert caught.value.rule == "max_id_bytes"


def test_violations_never_quote_the_value() -> None:
    secret = "ssn-123-45-6789"
    violations = catalog.check("Product Viewed", {**full_row("Product Viewed"), "url": secret})
    assert violations and all(secret not in str(v) for v in violations)
    with pytest.raises(ValidationError) as caught:
        catalog.build("Product Viewed", {**full_row("Product Viewed"), "price": secret})
    assert secret not in str(caught.value)


def test_table_constraints_are_guarded_by_the_event_column() -> None:
    table = catalog.catalog_constraints(["Cart Viewed", "Order Completed"])
    assert "Order Completed/total:total_inconsistent" in table
    guard = "NOT (`event` <=> 'Cart Viewed') OR "
    assert all(sql.startswith("(" + guard) for n, sql in table.items() if n.startswith("Cart"))
    assert len(catalog.catalog_constraints()) == sum(len(constraints(e)) for e in EVENTS)


def test_sql_literals_escape_quotes_and_backslashes() -> None:
    assert sql_literal("it's") == "'it\\'s'"
    assert sql_literal("a\\s") == "'a\\\\s'"
    assert sql_literal(3) == "3"


def test_spark_ddl_types_follow_the_models() -> None:
    ddl = catalog.spark_ddl(catalog.model_for("Order Completed"))
    assert "`total` DECIMAL(38,9)" in ddl
    assert "`products` ARRAY<STRUCT<`product_id`: STRING," in ddl
    assert "`quantity`: BIGINT" in ddl
    assert ddl.startswith("`user_id` STRING, `anonymous_id` STRING")


def test_the_catalogue_never_imports_pyspark() -> None:
    code = "import sys, customerio_sink.catalog.coverage; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_module_names_are_exported_once() -> None:
    import importlib

    for name in ("", ".base", ".constraints", ".registry", ".coverage", ".iso4217"):
        module = importlib.import_module("customerio_sink.catalog" + name)
        assert len(set(module.__all__)) == len(module.__all__)
        assert all(hasattr(module, attr) for attr in module.__all__)
    for family, models in catalog.FAMILIES.items():
        module = importlib.import_module(f"customerio_sink.catalog.{family}")
        assert set(module.__all__) >= {m.__name__ for m in models} | {"EVENTS"}
        assert all(family == model.FAMILY for model in models)


def test_rules_read_only_columns_the_events_table_has() -> None:
    for event, model in CATALOG.items():
        ddl = catalog.spark_ddl(model)
        for rule in rules_for(event):
            for column in rule.columns:
                assert f"`{column}` " in ddl, (event, rule.name, column)
