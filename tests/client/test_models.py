"""Models give exactly the wire JSON, and fail with our typed errors only."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest

from customerio_sink.errors import ValidationError
from customerio_sink.messages.models import (
    Alias,
    Group,
    Identify,
    Page,
    Screen,
    Track,
    parse_message,
)
from customerio_sink.messages.semantic import (
    SEMANTIC_MODELS,
    DeviceCreatedOrUpdated,
    DeviceDeleted,
    ObjectDeleted,
    RelationshipDeleted,
    ReportContentEvent,
    ReportDeliveryEvent,
    UserDeleted,
    UserSuppressed,
    UserUnsuppressed,
)
from customerio_sink.messages.validators import SEMANTIC_EVENTS

TS = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def test_identify_wire_is_exact() -> None:
    msg = Identify(
        user_id=42,
        traits={"email": "a@example.com", "cleared": None, "score": Decimal("12.50")},
        context={"ip": "1.2.3.4"},
        integrations={"All": True},
        timestamp=TS,
        message_id="m1",
    )
    assert msg.to_json() == (
        b'{"type":"identify","userId":"42","traits":{"email":"a@example.com","cleared":null,'
        b'"score":12.50},"context":{"ip":"1.2.3.4"},"integrations":{"All":true},'
        b'"timestamp":"2024-05-01T12:00:00.123+00:00","messageId":"m1"}'
    )


def test_absent_fields_are_left_out_and_camel_case_input_works() -> None:
    assert Track(userId="u", event="E").to_wire() == {"type": "track", "userId": "u", "event": "E"}
    assert Screen(anonymous_id="a").to_wire() == {"type": "screen", "anonymousId": "a"}


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (datetime(2024, 5, 1, 12, 0), "2024-05-01T12:00:00.000+00:00"),  # naive → UTC
        (
            datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
            "2024-05-01T14:00:00.000+02:00",
        ),
        (date(2024, 5, 1), "2024-05-01T00:00:00.000+00:00"),
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z"),
    ],
)
def test_timestamps(value: Any, wire: str) -> None:
    assert Track(user_id="u", event="E", timestamp=value).to_wire()["timestamp"] == wire


def test_other_calls() -> None:
    assert Page(user_id="u", name="Home", category="docs", properties={"url": "/"}).to_wire() == {
        "type": "page",
        "userId": "u",
        "name": "Home",
        "properties": {"url": "/", "category": "docs"},
    }
    assert Group(user_id="u", group_id=7, traits={"objectTypeId": 2}).to_wire() == {
        "type": "group",
        "userId": "u",
        "groupId": "7",
        "traits": {"objectTypeId": 2},
    }
    assert Alias(previous_id="a", user_id="u").to_wire() == {
        "type": "alias",
        "userId": "u",
        "previousId": "a",
    }
    assert Track(user_id="u", event="E", group_id="g").to_wire()["groupId"] == "g"


def test_values_keep_their_json_types() -> None:
    wire = orjson.loads(
        Track(
            user_id="u",
            event="E",
            properties={"d": Decimal("0.1"), "tags": {"b", "a"}, "when": date(2024, 1, 2)},
        ).to_json()
    )
    assert wire["properties"] == {"d": 0.1, "tags": ["a", "b"], "when": "2024-01-02"}


def test_semantic_wire_shapes() -> None:
    assert UserDeleted(user_id="u").to_wire() == {
        "type": "track",
        "userId": "u",
        "event": "User Deleted",
    }
    assert UserSuppressed(user_id="u").to_wire()["event"] == "User Suppressed"
    assert UserUnsuppressed(user_id="u", properties={"why": "x"}).to_wire()["properties"] == {
        "why": "x"
    }
    assert DeviceCreatedOrUpdated(
        user_id="u",
        token="t",
        device_type="ios",
        device_attributes={"app_version": "1.2"},
        context={"ip": "1.1.1.1"},
    ).to_wire() == {
        "type": "track",
        "userId": "u",
        "event": "Device Created or Updated",
        "context": {"ip": "1.1.1.1", "device": {"app_version": "1.2", "token": "t", "type": "ios"}},
    }
    assert DeviceDeleted(user_id="u", token="t").to_wire()["context"] == {"device": {"token": "t"}}
    assert RelationshipDeleted(user_id="u", object_id=9).to_wire()["properties"] == {
        "objectId": "9",
        "objectTypeId": 1,
    }
    assert ObjectDeleted(object_id="o", object_type_id=3).to_wire() == {
        "anonymousId": "o",
        "type": "track",
        "event": "Object Deleted",
        "properties": {"objectId": "o", "objectTypeId": 3},
    }
    assert ObjectDeleted(object_id="o", anonymous_id="anon").to_wire()["anonymousId"] == "anon"
    delivery = ReportDeliveryEvent(delivery_id="d1", metric="opened", recipient="tok").to_wire()
    assert delivery["anonymousId"] == "d1"
    assert delivery["properties"] == {"deliveryId": "d1", "metric": "opened", "recipient": "tok"}
    assert (
        "anonymousId"
        not in ReportDeliveryEvent(user_id="u", delivery_id="d", metric="clicked").to_wire()
    )
    assert ReportContentEvent(action_type="clicked_content", content_id=1, template_id=2).to_wire()[
        "properties"
    ] == {
        "actionType": "clicked_content",
        "activityType": "clicked_content",
        "contentId": 1,
        "templateId": 2,
    }


def test_every_semantic_event_has_a_model_and_a_rule() -> None:
    assert set(SEMANTIC_MODELS) == set(SEMANTIC_EVENTS)
    assert len(SEMANTIC_MODELS) == 9


@pytest.mark.parametrize(
    ("build", "field", "rule"),
    [
        (lambda: Identify(traits={"email": "x"}), "userId", "required"),
        (lambda: Identify(user_id="u", traits="nope"), "traits", "type_object"),
        (lambda: Identify(user_id="u", bogus=1), "bogus", "unknown_field"),
        (lambda: Identify(user_id=True), "userId", "type_string"),
        (
            lambda: Identify(user_id="u", integrations={"All": "true"}),
            "integrations.All",
            "type_boolean",
        ),
        (lambda: Track(user_id="u"), "event", "required"),
        (lambda: Track(user_id="u", event="e" * 101), "event", "max_event_bytes"),
        (lambda: Group(user_id="u"), "groupId", "required"),
        (lambda: UserDeleted(), "userId", "required"),
        (
            lambda: DeviceCreatedOrUpdated(user_id="u", token="t", device_type="web"),
            "deviceType",
            "enum",
        ),
        (lambda: ReportDeliveryEvent(delivery_id="d", metric="read"), "metric", "enum"),
        (
            lambda: RelationshipDeleted(user_id="u", object_id="o", object_type_id="x"),
            "objectTypeId",
            "type_integer",
        ),
    ],
)
def test_failures_are_our_validation_error(build: Any, field: str, rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    assert (info.value.field, info.value.rule) == (field, rule)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_errors_never_quote_input() -> None:
    with pytest.raises(ValidationError) as info:
        Identify(user_id="u", traits={"email": "private-person@nowhere"})
    assert "private-person" not in str(info.value) and "private-person" not in repr(info.value)


def test_parse_message_round_trips() -> None:
    wire = {"type": "track", "userId": "u", "event": "E", "sentAt": "x", "messageId": "m"}
    msg = parse_message(wire)
    assert isinstance(msg, Track) and msg.message_id == "m"
    assert msg.to_wire() == {"type": "track", "userId": "u", "event": "E", "messageId": "m"}
    with pytest.raises(ValidationError, match="unknown_type"):
        parse_message({"type": "merge"})
    with pytest.raises(ValidationError):
        parse_message([])  # type: ignore[arg-type]
