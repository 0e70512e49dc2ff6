"""The fast rules over plain wire dicts (the same rules the models apply)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from customerio_sink.errors import ValidationError
from customerio_sink.messages.validators import (
    check_attributes,
    check_email,
    check_event_name,
    check_id,
    check_message,
    check_timestamp,
    validate_message,
)


def rules(msg: Any, **kw: Any) -> set[tuple[str, str]]:
    return {(v.field, v.rule) for v in check_message(msg, **kw)}


@pytest.mark.parametrize(
    "msg",
    [
        {"type": "identify", "userId": "u1", "traits": {"email": "A@Example.com", "n": None}},
        {"type": "identify", "anonymousId": "a1"},
        {"type": "identify", "userId": "", "traits": {"email": "a@example.com"}},
        {"type": "track", "userId": "u", "event": "E", "properties": {"p": Decimal("1.5")}},
        {"type": "track", "groupId": "g", "event": "E"},
        {"type": "page", "anonymousId": "a", "name": "Home"},
        {"type": "screen", "userId": "u"},
        {"type": "group", "userId": "u", "groupId": "g", "traits": {"objectTypeId": 2}},
        {"type": "alias", "previousId": "a", "userId": "u"},
        {"type": "track", "userId": "u", "event": "User Deleted"},
        {
            "type": "track",
            "event": "Report Content Event",
            "properties": {"activityType": "viewed_content"},
        },
        {
            "type": "track",
            "userId": "u",
            "event": "Device Created or Updated",
            "context": {"device": {"token": "t", "type": "ios"}},
            "timestamp": "2024-05-01T12:00:00Z",
            "messageId": "m",
            "integrations": {"All": True},
        },
    ],
)
def test_valid_messages_pass(msg: dict[str, Any]) -> None:
    assert check_message(msg) == []


@pytest.mark.parametrize(
    ("msg", "expected"),
    [
        ("not a dict", ("message", "type_object")),
        ({"type": "delete"}, ("type", "unknown_type")),
        ({"userId": "u"}, ("type", "unknown_type")),
        ({"type": "identify"}, ("userId", "required")),
        ({"type": "identify", "userId": ""}, ("userId", "not_empty")),
        ({"type": "identify", "userId": 5}, ("userId", "type_string")),
        ({"type": "identify", "userId": "x" * 151}, ("userId", "max_id_bytes")),
        ({"type": "identify", "userId": "é" * 76}, ("userId", "max_id_bytes")),
        ({"type": "identify", "userId": "u", "traits": []}, ("traits", "type_object")),
        (
            {"type": "identify", "userId": "u", "traits": {"email": "nope"}},
            ("traits.email", "email_format"),
        ),
        (
            {"type": "identify", "userId": "u", "traits": {"a" * 151: 1}},
            ("traits." + "a" * 40 + "...", "max_name_bytes"),
        ),
        (
            {"type": "identify", "userId": "u", "traits": {"v": "x" * 1001}},
            ("traits.v", "max_value_bytes"),
        ),
        (
            {"type": "identify", "userId": "u", "traits": {"v": ["x" * 600, "y" * 600]}},
            ("traits.v", "max_value_bytes"),
        ),
        (
            {"type": "identify", "userId": "u", "traits": {str(i): i for i in range(301)}},
            ("traits", "max_attributes"),
        ),
        (
            {"type": "identify", "userId": "u", "timestamp": "yesterday"},
            ("timestamp", "timestamp_format"),
        ),
        (
            {"type": "identify", "userId": "u", "timestamp": "2024-05-01T12:00:00"},
            ("timestamp", "timestamp_format"),
        ),
        (
            {"type": "identify", "userId": "u", "sentAt": "2024-05-01"},
            ("sentAt", "timestamp_format"),
        ),
        ({"type": "identify", "userId": "u", "context": "web"}, ("context", "type_object")),
        (
            {"type": "identify", "userId": "u", "integrations": {"All": "yes"}},
            ("integrations", "type_boolean"),
        ),
        ({"type": "identify", "userId": "u", "messageId": ""}, ("messageId", "not_empty")),
        ({"type": "track", "userId": "u"}, ("event", "required")),
        ({"type": "track", "userId": "u", "event": ""}, ("event", "not_empty")),
        ({"type": "track", "userId": "u", "event": "e" * 101}, ("event", "max_event_bytes")),
        ({"type": "track", "event": "E"}, ("userId", "required")),
        (
            {"type": "track", "userId": "u", "event": "E", "properties": 1},
            ("properties", "type_object"),
        ),
        ({"type": "page", "name": "x"}, ("userId", "required")),
        ({"type": "screen", "userId": "u", "name": 3}, ("name", "type_string")),
        ({"type": "group", "userId": "u"}, ("groupId", "required")),
        ({"type": "group", "groupId": "g"}, ("userId", "required")),
        ({"type": "alias", "userId": "u"}, ("previousId", "required")),
        ({"type": "track", "event": "User Deleted", "anonymousId": "a"}, ("userId", "required")),
        (
            {"type": "track", "event": "Device Deleted", "userId": "u"},
            ("context.device.token", "required"),
        ),
        (
            {
                "type": "track",
                "event": "Device Created or Updated",
                "userId": "u",
                "context": {"device": {"token": "t", "type": "windows"}},
            },
            ("context.device.type", "enum"),
        ),
        (
            {"type": "track", "event": "Relationship Deleted", "userId": "u", "properties": {}},
            ("properties.objectId", "required"),
        ),
        (
            {
                "type": "track",
                "event": "Relationship Deleted",
                "userId": "u",
                "properties": {"objectId": "o", "objectTypeId": "2"},
            },
            ("properties.objectTypeId", "type_integer"),
        ),
        (
            {"type": "track", "event": "Object Deleted", "properties": {"objectId": "o"}},
            ("anonymousId", "required"),
        ),
        (
            {
                "type": "track",
                "event": "Report Delivery Event",
                "properties": {"deliveryId": "d", "metric": "read"},
            },
            ("properties.metric", "enum"),
        ),
        (
            {"type": "track", "event": "Report Content Event", "properties": {}},
            ("properties.actionType or properties.activityType", "required"),
        ),
        (
            {
                "type": "track",
                "event": "Report Content Event",
                "properties": {"actionType": "viewed_content", "contentId": "1"},
            },
            ("properties.contentId", "type_integer"),
        ),
        (
            {"type": "track", "userId": "u", "event": "E", "properties": {"x": "y" * 33000}},
            ("message", "max_message_bytes"),
        ),
        (
            {"type": "track", "userId": "u", "event": "E", "properties": {"x": Decimal("NaN")}},
            ("message", "finite_number"),
        ),
        (
            {"type": "track", "userId": "u", "event": "E", "properties": {"x": object()}},
            ("message", "json_encodable"),
        ),
    ],
)
def test_each_rule_names_field_and_rule(msg: Any, expected: tuple[str, str]) -> None:
    assert expected in rules(msg)


def test_event_data_limit_is_checked_past_100kb() -> None:
    msg = {"type": "track", "userId": "u", "event": "E", "properties": {"x": "y" * 100_001}}
    assert {("message", "max_message_bytes"), ("properties", "max_event_data")} <= rules(msg)


def test_message_size_boundary_is_inclusive() -> None:
    msg: dict[str, Any] = {"type": "track", "userId": "u", "event": "E", "properties": {"x": ""}}
    base = len(b'{"type":"track","userId":"u","event":"E","properties":{"x":""}}')
    msg["properties"]["x"] = "y" * (32768 - base)
    assert check_message(msg) == []
    msg["properties"]["x"] += "y"
    assert ("message", "max_message_bytes") in rules(msg)


def test_given_size_is_trusted_instead_of_encoding() -> None:
    msg = {"type": "track", "userId": "u", "event": "E"}
    assert ("message", "max_message_bytes") in rules(msg, size=40_000)
    assert rules({"event": "E", "userId": "u"}, message_type="track") == set()


def test_violations_never_carry_values() -> None:
    secret = "person@private.example"
    msg = {"type": "identify", "userId": "u", "traits": {"email": secret + " x", "v": secret * 100}}
    for violation in check_message(msg):
        assert "private" not in str(violation)


def test_small_checkers() -> None:
    assert check_id("ok", "userId") is None
    assert check_event_name("Course Started") is None
    assert check_timestamp(datetime.now(timezone.utc)) is None
    assert check_timestamp("2024-05-01T12:00:00.123+02:00") is None
    assert check_email("first.last+tag@sub.example.co.uk") is None
    for bad in ["a@b", "a b@c.d", "@c.d", "a@@c.d", "a@c..d", "x" * 65 + "@c.d"]:
        assert check_email(bad) is not None, bad
    assert check_attributes({"a": 1, "b": None, "c": True, "d": 1.5}) == []


def test_validate_message_raises_typed_error_with_message_id() -> None:
    with pytest.raises(ValidationError) as info:
        validate_message({"type": "track", "userId": "u", "messageId": "m-1"})
    assert info.value.field == "event" and info.value.rule == "required"
    assert info.value.message_ids == ("m-1",)
