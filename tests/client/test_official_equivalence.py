"""Our client and Customer.io's official client send equivalent messages.

Same inputs go through ``customerio.analytics.Client`` (1.1.0, ``sync_mode=True``) and through
``CustomerIOClient``; the emulator records both. Compared: type, ids, event/name, traits or
properties, context without ``library``, timestamp and messageId (given explicitly to both).
Not compared, by design: ``context.library`` (names the sender), ``sentAt``, the official
client's ``null`` placeholders (``anonymousId: null`` …) and the empty ``integrations``,
``properties`` and ``traits`` objects it sends where we leave the field out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from customerio.analytics import Client as OfficialClient

from customerio_sink.client.pipelines import CustomerIOClient
from customerio_sink.emulator import Emulator

from .conftest import EU_KEY, PIPELINES_KEY

TS = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=timezone.utc)
WHEN = datetime(2023, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
TRAITS = {
    "email": "ada@example.com",
    "name": "Ada",
    "plan": "pro",
    "logins": 12,
    "score": Decimal("9.5"),
    "vip": True,
    "cleared": None,
    "signed_up": WHEN,
    "tags": ["a", "b"],
    "address": {"city": "Lisbon"},
}
PROPS = {"title": "Intro", "price": Decimal("12.5"), "items": [1, 2], "at": WHEN}
CONTEXT = {"ip": "203.0.113.9", "locale": "en-US"}

Call = Callable[[Any, str], Any]

# (name, official call, our call): each takes (client, message_id).
CASES: list[tuple[str, Call, Call]] = [
    (
        "identify",
        lambda c, m: c.identify(
            "u1", dict(TRAITS), context=dict(CONTEXT), timestamp=TS, message_id=m
        ),
        lambda c, m: c.identify("u1", TRAITS, context=CONTEXT, timestamp=TS, message_id=m),
    ),
    (
        "identify-anonymous",
        lambda c, m: c.identify(
            anonymous_id="anon-1", traits={"plan": "free"}, timestamp=TS, message_id=m
        ),
        lambda c, m: c.identify(
            anonymous_id="anon-1", traits={"plan": "free"}, timestamp=TS, message_id=m
        ),
    ),
    (
        "track",
        lambda c, m: c.track(
            "u1", "Course Started", dict(PROPS), context=dict(CONTEXT), timestamp=TS, message_id=m
        ),
        lambda c, m: c.track(
            "u1", "Course Started", PROPS, context=CONTEXT, timestamp=TS, message_id=m
        ),
    ),
    (
        "track-numeric-id",
        lambda c, m: c.track(
            42, "E", {"x": 1}, timestamp=TS, message_id=m, integrations={"All": False}
        ),
        lambda c, m: c.track(
            42, "E", {"x": 1}, timestamp=TS, message_id=m, integrations={"All": False}
        ),
    ),
    (
        "page",
        lambda c, m: c.page(
            "u1", name="Home", properties={"url": "https://x.test"}, timestamp=TS, message_id=m
        ),
        lambda c, m: c.page("u1", "Home", {"url": "https://x.test"}, timestamp=TS, message_id=m),
    ),
    (
        "screen",
        lambda c, m: c.screen(
            anonymous_id="a2", name="Feed", properties={"n": 3}, timestamp=TS, message_id=m
        ),
        lambda c, m: c.screen(
            anonymous_id="a2", name="Feed", properties={"n": 3}, timestamp=TS, message_id=m
        ),
    ),
    (
        "group",
        lambda c, m: c.group(
            "u1", "acme", {"objectTypeId": 2, "name": "ACME"}, timestamp=TS, message_id=m
        ),
        lambda c, m: c.group(
            "u1", "acme", {"objectTypeId": 2, "name": "ACME"}, timestamp=TS, message_id=m
        ),
    ),
    (
        "alias",
        lambda c, m: c.alias("anon-1", "u1", timestamp=TS, message_id=m),
        lambda c, m: c.alias("anon-1", "u1", timestamp=TS, message_id=m),
    ),
    (
        "semantic-delete",
        lambda c, m: c.track("u1", "User Deleted", timestamp=TS, message_id=m),
        lambda c, m: c.delete_user("u1", timestamp=TS, message_id=m),
    ),
    (
        "semantic-device",
        lambda c, m: c.track(
            "u1",
            "Device Created or Updated",
            context={"device": {"token": "t1", "type": "ios"}},
            timestamp=TS,
            message_id=m,
        ),
        lambda c, m: c.add_device("u1", "t1", device_type="ios", timestamp=TS, message_id=m),
    ),
    (
        "semantic-relationship",
        lambda c, m: c.track(
            "u1",
            "Relationship Deleted",
            {"objectId": "acme", "objectTypeId": 2},
            timestamp=TS,
            message_id=m,
        ),
        lambda c, m: c.delete_relationship(
            "u1", "acme", object_type_id=2, timestamp=TS, message_id=m
        ),
    ),
]


def comparable(message: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in message.items() if v is not None and k != "sentAt"}
    context = {k: v for k, v in (out.pop("context", None) or {}).items() if k != "library"}
    if context:
        out["context"] = context
    if not out.get("integrations"):
        out.pop("integrations", None)
    for field in ("properties", "traits"):  # the official client sends {} for "none given"
        if out.get(field) == {}:
            out.pop(field)
    return out


@pytest.fixture
def quiet_official_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="customerio")


@pytest.mark.parametrize("key", [PIPELINES_KEY, EU_KEY], ids=["basic", "bearer"])
@pytest.mark.parametrize(("name", "official_call", "our_call"), CASES, ids=[c[0] for c in CASES])
def test_same_inputs_arrive_as_equivalent_messages(
    emu: Emulator,
    quiet_official_logs: None,
    key: str,
    name: str,
    official_call: Call,
    our_call: Call,
) -> None:
    official = OfficialClient(key, host=emu.url, sync_mode=True)
    official_call(official, f"official-{name}")
    with CustomerIOClient(key, endpoint=emu.url) as ours:
        our_call(ours, f"ours-{name}")
    assert emu.rejections() == []
    theirs, mine = emu.messages()
    assert theirs["messageId"] == f"official-{name}" and mine["messageId"] == f"ours-{name}"
    theirs["messageId"] = mine["messageId"] = "same"
    assert comparable(mine) == comparable(theirs)
