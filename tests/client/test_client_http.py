"""CustomerIOClient over real HTTP against the emulator: every endpoint and helper.

The emulator runs permissive by default; strict mode applies because the client sends
``X-Strict-Mode: 1``, and it validates every call against the OpenAPI file — so "zero
rejections" means every payload we produced is valid under the strict reading of the spec.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest

from customerio_sink.client.metrics import RequestMetrics
from customerio_sink.client.pipelines import LIBRARY, CustomerIOClient
from customerio_sink.emulator import Emulator
from customerio_sink.errors import (
    AuthenticationError,
    PayloadTooLargeError,
    RejectedError,
    ValidationError,
)
from customerio_sink.messages.models import Track
from customerio_sink.messages.semantic import UserDeleted

from .conftest import EU_KEY, PIPELINES_KEY, US_KEY

TS = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)

CALLS: list[tuple[str, Callable[[CustomerIOClient], RequestMetrics], dict[str, Any]]] = [
    (
        "identify",
        lambda c: c.identify(
            "u1", {"email": "a@example.com", "score": Decimal("1.50")}, timestamp=TS
        ),
        {"type": "identify", "userId": "u1", "traits": {"email": "a@example.com", "score": 1.5}},
    ),
    (
        "track",
        lambda c: c.track("u1", "Course Started", {"title": "Intro"}, context={"ip": "1.2.3.4"}),
        {
            "type": "track",
            "userId": "u1",
            "event": "Course Started",
            "properties": {"title": "Intro"},
        },
    ),
    (
        "page",
        lambda c: c.page(anonymous_id="a1", name="Home", properties={"url": "https://x.test/"}),
        {"type": "page", "anonymousId": "a1", "name": "Home"},
    ),
    (
        "screen",
        lambda c: c.screen("u1", "feed", {"subscriptions": ["a", "b"]}),
        {"type": "screen", "userId": "u1", "name": "feed"},
    ),
    (
        "group",
        lambda c: c.group("u1", "acme", {"objectTypeId": 2, "name": "ACME, Inc."}),
        {
            "type": "group",
            "userId": "u1",
            "groupId": "acme",
            "traits": {"objectTypeId": 2, "name": "ACME, Inc."},
        },
    ),
    (
        "alias",
        lambda c: c.alias("anon-1", "u1"),
        {"type": "alias", "userId": "u1", "previousId": "anon-1"},
    ),
    (
        "delete_user",
        lambda c: c.delete_user("u1"),
        {"type": "track", "userId": "u1", "event": "User Deleted"},
    ),
    (
        "suppress_user",
        lambda c: c.suppress_user("u1", timestamp=TS),
        {"type": "track", "userId": "u1", "event": "User Suppressed"},
    ),
    (
        "unsuppress_user",
        lambda c: c.unsuppress_user("u1"),
        {"type": "track", "userId": "u1", "event": "User Unsuppressed"},
    ),
    (
        "add_device",
        lambda c: c.add_device(
            "u1", "tok-1", device_type="ios", device_attributes={"app_version": "2.1"}
        ),
        {"type": "track", "userId": "u1", "event": "Device Created or Updated"},
    ),
    (
        "delete_device",
        lambda c: c.delete_device("u1", "tok-1", device_type="android"),
        {"type": "track", "userId": "u1", "event": "Device Deleted"},
    ),
    (
        "delete_relationship",
        lambda c: c.delete_relationship("u1", "acme", object_type_id=2),
        {
            "type": "track",
            "userId": "u1",
            "event": "Relationship Deleted",
            "properties": {"objectId": "acme", "objectTypeId": 2},
        },
    ),
    (
        "delete_object",
        lambda c: c.delete_object("acme", object_type_id=2),
        {"type": "track", "anonymousId": "acme", "event": "Object Deleted"},
    ),
    (
        "report_delivery_event",
        lambda c: c.report_delivery_event("dlv-1", "opened", recipient="tok-1"),
        {"type": "track", "anonymousId": "dlv-1", "event": "Report Delivery Event"},
    ),
    (
        "report_content_event",
        lambda c: c.report_content_event("clicked_content", 11, 22),
        {"type": "track", "event": "Report Content Event"},
    ),
]


def subset(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    return all(actual.get(k) == v for k, v in expected.items())


@pytest.mark.parametrize(
    "key", [PIPELINES_KEY, EU_KEY, US_KEY], ids=["basic", "bearer-eu", "bearer-us"]
)
@pytest.mark.parametrize(("name", "call", "expected"), CALLS, ids=[c[0] for c in CALLS])
def test_every_endpoint_and_helper(
    emu: Emulator,
    key: str,
    name: str,
    call: Callable[[CustomerIOClient], RequestMetrics],
    expected: dict[str, Any],
) -> None:
    seen: list[RequestMetrics] = []
    with CustomerIOClient(key, endpoint=emu.url, on_request=seen.append) as client:
        metrics = call(client)
    assert metrics.ok and metrics.attempts == 1 and metrics.status == 200
    assert seen == [metrics]
    assert emu.rejections() == []
    [message] = emu.messages()
    assert subset(expected, message), message
    assert message["messageId"] == metrics.message_ids[0]
    assert message["context"]["library"] == LIBRARY
    assert message["timestamp"] and message["sentAt"]
    endpoint = "/v1/" + (expected["type"])
    assert metrics.endpoint == endpoint


def test_semantic_payload_details(emu: Emulator) -> None:
    with CustomerIOClient(PIPELINES_KEY, endpoint=emu.url) as client:
        client.add_device(
            "u1", "tok-1", device_type="ios", device_attributes={"app_version": "2.1"}
        )
        client.report_content_event("viewed_content", 1, 2)
    device, content = emu.messages()
    assert device["context"]["device"] == {"app_version": "2.1", "token": "tok-1", "type": "ios"}
    assert content["properties"]["actionType"] == "viewed_content"
    assert emu.devices["u1"]["tok-1"]["type"] == "ios"


def test_batch_packs_many_bodies_in_order(emu: Emulator) -> None:
    messages = [
        Track(user_id=f"u{i}", event="Viewed", properties={"pad": "x" * 900, "i": i})
        for i in range(120)
    ]
    with CustomerIOClient(PIPELINES_KEY, endpoint=emu.url, max_body_bytes=40_000) as client:
        results = client.batch(
            [*messages, UserDeleted(user_id="u0"), {"type": "identify", "userId": "u9"}]
        )
    assert len(results) == 4 and all(r.ok for r in results)
    assert sum(r.message_count for r in results) == 122
    assert all(r.body_bytes <= 40_000 for r in results)
    assert emu.rejections() == []
    received = emu.messages()
    assert [m.get("properties", {}).get("i") for m in received[:120]] == list(range(120))
    assert received[-1]["type"] == "identify"
    assert emu.stats().as_dict()["max_body_bytes"] <= 40_000


def test_batch_validates_everything_before_sending(emu: Emulator) -> None:
    with (
        CustomerIOClient(PIPELINES_KEY, endpoint=emu.url) as client,
        pytest.raises(ValidationError) as info,
    ):
        client.batch(
            [{"type": "track", "userId": "u", "event": "ok"}, {"type": "track", "userId": "u"}]
        )
    assert info.value.field == "batch[1].event" and info.value.rule == "required"
    assert emu.stats().as_dict()["requests"] == 0


def test_send_encoded_is_the_bulk_path(emu: Emulator) -> None:
    items = [
        orjson.dumps(
            {
                "type": "track",
                "userId": f"u{i}",
                "event": "E",
                "messageId": f"m{i}",
                "timestamp": "2024-05-01T12:00:00.000+00:00",
            }
        )
        for i in range(5)
    ]
    seen: list[RequestMetrics] = []
    with CustomerIOClient(PIPELINES_KEY, endpoint=emu.url, on_request=seen.append) as client:
        metrics = client.send_encoded(items, [f"m{i}" for i in range(5)])
    assert seen == [metrics]
    assert (metrics.endpoint, metrics.status, metrics.attempts, metrics.message_count) == (
        "/v1/batch",
        200,
        1,
        5,
    )
    assert metrics.message_ids == tuple(f"m{i}" for i in range(5))
    assert metrics.request_bytes == metrics.body_bytes > sum(len(i) for i in items)
    assert emu.message_id_counts() == {f"m{i}": 1 for i in range(5)}
    assert emu.rejections() == []


def test_send_encoded_refuses_what_cannot_be_sent(emu: Emulator) -> None:
    with (
        CustomerIOClient(PIPELINES_KEY, endpoint=emu.url) as client,
        pytest.raises(PayloadTooLargeError) as info,
    ):
        client.send_encoded([b"{}", b'"' + b"x" * 32768 + b'"'], ["a", "b"])
        assert info.value.index == 1 and info.value.message_ids == ("b",)
        with pytest.raises(PayloadTooLargeError):
            client.send_encoded([b'"' + b"x" * 30000 + b'"'] * 17, [])
    assert emu.stats().as_dict()["requests"] == 0


def test_strict_rejection_carries_reasons_and_ids(emu: Emulator) -> None:
    bad = b'{"type":"track","userId":"u","messageId":"m-bad"}'  # no event
    good = b'{"type":"track","userId":"u","event":"E","messageId":"m-good"}'
    with (
        CustomerIOClient(PIPELINES_KEY, endpoint=emu.url) as client,
        pytest.raises(RejectedError) as info,
    ):
        client.send_encoded([good, bad], ["m-good", "m-bad"])
    err = info.value
    assert (err.status, err.attempts, err.message_ids) == (400, 1, ("m-good", "m-bad"))
    assert any("m-bad" in reason and "event" in reason for reason in err.reasons), err.reasons
    assert "m-good" not in " ".join(err.reasons)


def test_permissive_client_gets_200_for_the_same_body(emu: Emulator) -> None:
    bad = b'{"type":"track","userId":"u","messageId":"m-bad"}'
    with CustomerIOClient(PIPELINES_KEY, endpoint=emu.url, strict=False) as client:
        assert client.send_encoded([bad], ["m-bad"]).status == 200


def test_wrong_key_is_an_authentication_error(emu: Emulator) -> None:
    with (
        CustomerIOClient("not-a-known-key", endpoint=emu.url) as client,
        pytest.raises(AuthenticationError) as info,
    ):
        client.track("u", "E")
    assert (info.value.status, info.value.attempts) == (401, 1)


def test_gzip_bodies(emu: Emulator) -> None:
    with CustomerIOClient(PIPELINES_KEY, endpoint=emu.url, gzip=True) as client:
        metrics = client.batch([Track(user_id="u", event="E", properties={"p": "y" * 5000})])[0]
        client.identify("u", {"plan": "pro"})
    assert metrics.request_bytes < metrics.body_bytes
    assert emu.rejections() == [] and len(emu.messages()) == 2


def test_one_client_many_threads(emu: Emulator) -> None:
    with CustomerIOClient(PIPELINES_KEY, endpoint=emu.url, pool_size=4) as client:
        adapter = client.sender.transport.session.get_adapter(emu.url)  # type: ignore[attr-defined]
        assert adapter._pool_maxsize == 4

        def work(n: int) -> None:
            for i in range(10):
                client.track(f"u{n}", "E", {"i": i})

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(adapter.poolmanager.pools) == 1
    assert len(adapter.poolmanager.pools) == 0  # the context manager closed the pool
    assert emu.stats().as_dict()["accepted"] == 40 and emu.rejections() == []


def test_invalidation_hook_sees_written_people(emu: Emulator) -> None:
    evicted: list[str] = []
    with CustomerIOClient(PIPELINES_KEY, endpoint=emu.url, invalidate=evicted.append) as client:
        client.identify("u1", {"email": "p@example.com"})
        client.track("u1", "Just an event")
        client.delete_user("u2")
        client.alias("anon-3", "u3")
        client.batch([{"type": "identify", "userId": "u4"}])
    assert evicted == ["u1", "p@example.com", "u2", "u3", "anon-3", "u4"]
