"""Validation over HTTP: the OpenAPI file's examples, the official client's traffic, strict and
permissive mode, readable reasons, built-in rules, and locating the file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from customerio.analytics import Client

from customerio_sink.emulator import Emulator, MessageValidator, find_openapi_file
from customerio_sink.emulator.validation import (
    OPENAPI_ENV_VAR,
    compile_spec,
    packaged_openapi_file,
)

if TYPE_CHECKING:
    from tests.emulator.conftest import Poster

KEY = "test-key"
PREFIXED_KEY = "pk_us_0123456789abcdef"
SPEC_PATH = find_openapi_file()


def track(message_id: str, user_id: str = "u1", **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user_id,
        "event": "Signed Up",
        "messageId": message_id,
        **extra,
    }


def _schema_examples(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """(JSON pointer of a schema, its example) for every schema-level example in the file."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("example", "examples") and not pointer.endswith("/properties"):
                for example in value if key == "examples" and isinstance(value, list) else [value]:
                    yield pointer, example
            else:
                yield from _schema_examples(value, f"{pointer}/{key.replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _schema_examples(value, f"{pointer}/{index}")


# -- the OpenAPI file's own examples --------------------------------------------------------


def test_validation_source_names_the_file(emulator: Emulator) -> None:
    assert emulator.validation_source == f"openapi:{SPEC_PATH}"


def test_every_call_example_in_the_file_is_accepted_in_strict_mode(
    post: Poster, emulator: Emulator
) -> None:
    assert SPEC_PATH is not None
    spec = json.loads(SPEC_PATH.read_text())
    posted = 0
    for path, item in spec["paths"].items():
        media = item["post"]["requestBody"]["content"]["application/json"]
        examples = [media["example"]] if "example" in media else []
        examples += [e.get("value", e) for e in media.get("examples", {}).values()]
        schema_name = media["schema"]["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][schema_name]
        examples += [schema["example"]] if "example" in schema else []
        examples += schema.get("examples", [])
        for example in examples:
            response = post(f"/v1{path}", example)
            assert response.status_code == 200, (path, response.text)
            posted += 1
    assert posted >= 5  # identify, track, page, screen, group carry examples
    assert emulator.stats().accepted == posted


def test_every_schema_level_example_validates_against_its_schema() -> None:
    assert SPEC_PATH is not None
    compiled = compile_spec(SPEC_PATH)
    examples = list(_schema_examples(compiled.spec["components"]))
    assert len(examples) > 20
    for pointer, example in examples:
        if isinstance(example, dict):
            example = {k: v for k, v in example.items() if v is not None}
        validator = compiled.validator_at(f"/components{pointer}")
        if pointer.endswith("/additionalProperties"):
            # an example of the extra keys as a whole: each value must fit the schema
            assert all(validator.is_valid(v) for v in example.values()), pointer
        else:
            assert validator.is_valid(example), (pointer, example)


# -- the official client ---------------------------------------------------------------------


def _send_everything(client: Client) -> int:
    calls = [
        lambda: client.identify("u1", {"email": "u1@example.com", "plan": "pro"}),
        lambda: client.identify(anonymous_id="anon-1", traits={"source": "ad"}),
        lambda: client.track("u1", "Course Started", {"title": "Intro"}),
        lambda: client.track(anonymous_id="anon-1", event="Viewed Pricing"),
        lambda: client.page("u1", name="Home", properties={"url": "https://example.com"}),
        lambda: client.page("u1", category="Docs", name="API"),
        lambda: client.screen("u1", name="feed", properties={"tab": "top"}),
        lambda: client.group("u1", "acme", {"objectTypeId": 2, "name": "Acme"}),
        lambda: client.group(
            "u1", "acme", {"object_type_id": "2", "relationshipAttributes": {"role": "admin"}}
        ),
        lambda: client.alias("anon-1", "u1"),
        lambda: client.track(
            "u1",
            "Device Created or Updated",
            {"app_version": "1.2"},
            context={"device": {"token": "tok-1", "type": "ios"}},
        ),
        lambda: client.track("u1", "Device Deleted", context={"device": {"token": "tok-1"}}),
        lambda: client.track("u1", "Relationship Deleted", {"objectId": "acme", "objectTypeId": 2}),
        lambda: client.track(
            anonymous_id="acme",
            event="Object Deleted",
            properties={"objectId": "acme", "objectTypeId": 2},
        ),
        lambda: client.track("u1", "User Suppressed"),
        lambda: client.track("u1", "User Unsuppressed"),
        lambda: client.track("u1", "User Deleted"),
        lambda: client.track(
            anonymous_id="dlv-1",
            event="Report Delivery Event",
            properties={"deliveryId": "dlv-1", "metric": "opened", "recipient": "tok-1"},
        ),
        lambda: client.track(
            anonymous_id="anon-1",
            event="Report Content Event",
            properties={"actionType": "viewed_content", "contentId": 7, "templateId": 3},
        ),
    ]
    for call in calls:
        call()
    return len(calls)


@pytest.mark.parametrize("key", [KEY, PREFIXED_KEY], ids=["basic-plain-key", "bearer-pk-key"])
def test_official_client_sync_mode_is_accepted_in_strict_mode(key: str) -> None:
    with Emulator(keys=(key,), strict_default=True) as emu:
        client = Client(key, host=emu.url, sync_mode=True)
        sent = _send_everything(client)  # sync mode raises APIError on any non-200
        assert emu.rejections() == []
        stats = emu.stats()
        assert (stats.requests, stats.accepted, stats.status_counts) == (sent, sent, {200: sent})
        kinds = {m["type"] for m in emu.messages()}
        assert kinds == {"identify", "track", "page", "screen", "group", "alias"}
        # the state after: deleted person, no device, no relationship, object deleted
        assert emu.people == {} and emu.devices == {} and emu.relationships == set()
        assert emu.objects == {}


def test_official_client_batched_and_gzipped_is_accepted_in_strict_mode() -> None:
    errors: list[Any] = []
    with Emulator(keys=(KEY,), strict_default=True) as emu:
        client = Client(
            KEY,
            host=emu.url,
            gzip=True,
            upload_size=50,
            upload_interval=0.02,  # the default 0.5 s would only slow the test down
            on_error=lambda error, batch: errors.append(error),
        )
        for i in range(120):
            client.track(f"user-{i}", "Order Completed", {"total": i, "items": ["a", "b"]})
        client.flush()
        client.join()
        assert errors == []
        assert emu.stats().accepted == 120
        assert emu.stats().requests >= 3  # batches of at most 50
        assert emu.rejections() == []


def test_official_client_sees_a_readable_error(tmp_path: Path) -> None:
    from customerio.analytics.request import APIError

    with Emulator(keys=(KEY,), strict_default=True) as emu:
        client = Client(KEY, host=emu.url, sync_mode=True)
        with pytest.raises(APIError) as raised:
            client.track("u1", "Relationship Deleted", {"objectTypeId": 2})
        assert raised.value.status == 400
        assert raised.value.code == "invalid_request"
        assert "'properties.objectId' is required for event 'Relationship Deleted'" in str(
            raised.value.message
        )


# -- invalid calls and their reasons ---------------------------------------------------------

INVALID = [
    (
        "missing ids",
        {"type": "track", "event": "x", "messageId": "a1"},
        "'userId' or 'anonymousId' is required",
    ),
    (
        "identify without ids",
        {"type": "identify", "traits": {}, "messageId": "a1"},
        "'userId' or 'anonymousId' is required",
    ),
    (
        "track without event",
        {"type": "track", "userId": "u1", "messageId": "a1"},
        "'event' is a required property",
    ),
    (
        "group without groupId",
        {"type": "group", "userId": "u1", "messageId": "a1"},
        "'groupId' is a required property",
    ),
    (
        "alias without previousId",
        {"type": "alias", "userId": "u1", "messageId": "a1"},
        "'previousId' is a required property",
    ),
    (
        "unknown type",
        {"type": "merge", "userId": "u1", "messageId": "a1"},
        "'type' must be one of identify, track, page, screen, group, alias",
    ),
    (
        "device without token",
        {
            "type": "track",
            "userId": "u1",
            "messageId": "a1",
            "event": "Device Created or Updated",
            "context": {"device": {"type": "ios"}},
        },
        "'context.device.token' is required for event 'Device Created or Updated'",
    ),
    (
        "device delete without user",
        {
            "type": "track",
            "anonymousId": "x",
            "messageId": "a1",
            "event": "Device Deleted",
            "context": {"device": {"token": "t"}},
        },
        "'userId' is required for event 'Device Deleted'",
    ),
    (
        "relationship without objectId",
        {
            "type": "track",
            "userId": "u1",
            "messageId": "a1",
            "event": "Relationship Deleted",
            "properties": {},
        },
        "'properties.objectId' is required for event 'Relationship Deleted'",
    ),
    (
        "object delete by userId",
        {
            "type": "track",
            "userId": "u1",
            "messageId": "a1",
            "event": "Object Deleted",
            "properties": {"objectId": "o"},
        },
        "'anonymousId' is required for event 'Object Deleted'",
    ),
    (
        "user deleted anonymously",
        {"type": "track", "anonymousId": "x", "messageId": "a1", "event": "User Deleted"},
        "'userId' is required for event 'User Deleted'",
    ),
    (
        "content event without action",
        {
            "type": "track",
            "anonymousId": "x",
            "messageId": "a1",
            "event": "Report Content Event",
            "properties": {},
        },
        "'properties.actionType' or 'properties.activityType' is required",
    ),
    (
        "userId not a string",
        {"type": "identify", "userId": 42, "messageId": "a1"},
        "'userId' must be a string, not integer",
    ),
    (
        "traits not an object",
        {"type": "identify", "userId": "u1", "traits": [1], "messageId": "a1"},
        "'traits' must be an object, not array",
    ),
]
INVALID_SCHEMA = [
    (
        "device type enum",
        {
            "type": "track",
            "userId": "u1",
            "messageId": "a1",
            "event": "Device Created or Updated",
            "context": {"device": {"token": "t", "type": "windows"}},
        },
        "'context.device.type': 'windows' is not one of ['ios', 'android']",
    ),
    (
        "email not a string",
        {"type": "identify", "userId": "u1", "messageId": "a1", "traits": {"email": 5}},
        "'traits.email': 5 is not of type 'string'",
    ),
    (
        "delivery metric enum",
        {
            "type": "track",
            "anonymousId": "d",
            "messageId": "a1",
            "event": "Report Delivery Event",
            "properties": {"metric": "exploded"},
        },
        "'properties.metric': 'exploded' is not one of",
    ),
    (
        "channel enum",
        {"type": "page", "userId": "u1", "messageId": "a1", "context": {"channel": "tv"}},
        "'context.channel': 'tv' is not one of ['browser', 'server', 'mobile']",
    ),
    (
        "objectTypeId not numeric",
        {
            "type": "track",
            "userId": "u1",
            "messageId": "a1",
            "event": "Relationship Deleted",
            "properties": {"objectId": "o", "objectTypeId": "two"},
        },
        "'properties.objectTypeId': 'two' is not of type 'integer' / 'two' does not match",
    ),
]


@pytest.mark.parametrize(
    ("name", "call", "reason"),
    INVALID + INVALID_SCHEMA,
    ids=[c[0] for c in INVALID + INVALID_SCHEMA],
)
def test_invalid_calls_are_rejected_with_a_readable_reason(
    post: Poster, emulator: Emulator, name: str, call: dict[str, Any], reason: str
) -> None:
    response = post.batch(track("ok-1"), track("ok-2"), call)
    assert response.status_code == 400
    errors = response.json()["meta"]["errors"]
    kind = call["type"] if call["type"] != "merge" else "call"
    assert errors[0].startswith(f"batch[2] {kind} messageId=a1: "), errors
    assert reason in errors[0], errors
    assert emulator.stats().accepted == 0  # strict: the request is rejected whole
    assert emulator.stats().rejected == 3


@pytest.mark.parametrize(("name", "call", "reason"), INVALID, ids=[c[0] for c in INVALID])
def test_builtin_rules_reject_the_same_calls(name: str, call: dict[str, Any], reason: str) -> None:
    with Emulator(keys=(KEY,), builtin_rules_only=True) as emu:
        assert emu.validation_source == "builtin"
        response = requests.post(
            f"{emu.url}/v1/batch",
            json={"batch": [call]},
            auth=(KEY, ""),
            headers={"X-Strict-Mode": "1"},
        )
        assert response.status_code == 400
        assert reason in response.json()["meta"]["errors"][0]


def test_builtin_rules_accept_valid_calls() -> None:
    with Emulator(keys=(KEY,), builtin_rules_only=True, strict_default=True) as emu:
        client = Client(KEY, host=emu.url, sync_mode=True)
        sent = _send_everything(client)
        assert emu.stats().accepted == sent


def test_strict_reasons_name_index_type_id_and_rule(post: Poster) -> None:
    response = post.batch(
        track("m0"),
        track("m1"),
        track("m2"),
        {"type": "track", "userId": "u1", "messageId": "abc"},
        {"type": "track", "userId": "u1"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["meta"]["errors"] == [
        "batch[3] track messageId=abc: 'event' is a required property",
        "batch[4] track (no messageId): 'event' is a required property",
    ]
    assert body["message"] == (
        "batch[3] track messageId=abc: 'event' is a required property (and 1 more)"
    )


def test_permissive_mode_accepts_the_valid_and_records_the_invalid(
    post: Poster, emulator: Emulator
) -> None:
    response = post.batch(
        track("m1"), {"type": "track", "messageId": "bad", "event": "x"}, track("m3"), strict=False
    )
    assert (response.status_code, response.json()) == (200, {})
    assert [m["messageId"] for m in emulator.messages()] == ["m1", "m3"]
    assert emulator.rejections() == [
        {
            "messageId": "bad",
            "type": "track",
            "reasons": ["'userId' or 'anonymousId' is required"],
            "status": 200,
            "endpoint": "/v1/batch",
            "index": 1,
        }
    ]
    stats = emulator.stats()
    assert (stats.messages, stats.accepted, stats.rejected) == (3, 2, 1)


def test_strict_rejection_records_every_call_of_the_request(
    post: Poster, emulator: Emulator
) -> None:
    post.batch(track("m1"), {"type": "track", "messageId": "bad", "event": "x"})
    first, second = emulator.rejections()
    assert first["messageId"] == "m1" and first["status"] == 400
    assert first["reasons"] == ["not accepted: the request was rejected in strict mode (1 invalid)"]
    assert second["reasons"] == ["'userId' or 'anonymousId' is required"]


def test_null_means_absent_and_alias_is_valid_in_a_batch(post: Poster, emulator: Emulator) -> None:
    response = post.batch(
        {
            "type": "track",
            "userId": "u1",
            "anonymousId": None,
            "event": "x",
            "integrations": None,
            "messageId": "m1",
            "context": None,
        },
        {"type": "alias", "previousId": "anon", "userId": "u1", "messageId": "m2"},
        {"type": "identify", "userId": "", "traits": {"email": "e@example.com"}, "messageId": "m3"},
    )
    assert response.status_code == 200, response.text
    assert emulator.stats().accepted == 3


def test_batch_envelope_is_validated(post: Poster) -> None:
    response = post("/v1/batch", {"batch": [track("m1")], "context": {"channel": "fax"}})
    assert response.status_code == 400
    assert "batch envelope: 'context.channel': 'fax' is not one of" in response.text


def test_ten_thousand_messages_validate(post: Poster, emulator: Emulator) -> None:
    for start in range(0, 10_000, 500):
        calls = [
            track(
                f"m{i}",
                f"user-{i}",
                properties={"n": i},
                context={"library": {"name": "customerio-sink", "version": "0.1.0"}},
            )
            for i in range(start, start + 500)
        ]
        assert post.batch(*calls).status_code == 200
    assert emulator.stats().accepted == 10_000


# -- locating the OpenAPI file ---------------------------------------------------------------


def test_openapi_file_from_argument_env_then_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(OPENAPI_ENV_VAR, raising=False)
    packaged = packaged_openapi_file()
    assert find_openapi_file() == packaged
    assert packaged.parent.name == "data" and packaged.parent.parent.name == "emulator"
    copy = tmp_path / "spec.json"
    copy.write_text(packaged.read_text())
    assert MessageValidator(copy).source == f"openapi:{copy.resolve()}"
    with pytest.raises(FileNotFoundError):
        Emulator(keys=(KEY,), openapi_path=tmp_path / "missing.json")
    monkeypatch.setenv(OPENAPI_ENV_VAR, str(copy))
    assert find_openapi_file() == copy.resolve()
    monkeypatch.setenv(OPENAPI_ENV_VAR, str(tmp_path / "nowhere.json"))
    with pytest.raises(FileNotFoundError, match="names no file"):
        find_openapi_file()
    monkeypatch.delenv(OPENAPI_ENV_VAR)
    # The working directory plays no part: nothing outside the package is searched.
    monkeypatch.chdir(tmp_path)
    assert find_openapi_file() == packaged
