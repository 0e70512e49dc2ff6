"""Auth as the official client sends it, the per-key rate budget, and the size limits."""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

import orjson
import pytest
import requests

from customerio_sink.emulator import Emulator

if TYPE_CHECKING:
    from tests.emulator.conftest import Poster

KEY = "test-key"
PREFIXED_KEY = "pk_us_0123456789abcdef"


def track(message_id: str, user_id: str = "u1", **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user_id,
        "event": "Signed Up",
        "messageId": message_id,
        **extra,
    }


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "authorization",
    [f"Basic {b64(KEY + ':')}", f"Basic {b64(PREFIXED_KEY + ':')}", f"Bearer {PREFIXED_KEY}"],
)
def test_accepted_auth_forms(post: Poster, emulator: Emulator, authorization: str) -> None:
    response = post.batch(track("m1"), authorization=authorization)
    assert response.status_code == 200, response.text
    assert emulator.stats().accepted == 1


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing Authorization header"),
        (f"Basic {b64('wrong-key-123:')}", "unknown API key"),
        (f"Bearer {KEY}", "Bearer is for pk_/sk_ region keys"),
        ("Bearer pk_us_wrongwrongwrong", "unknown API key"),
        ("Basic %%%not-base64", "not valid base64"),
        (f"Token {KEY}", "Basic or Bearer"),
    ],
)
def test_refused_auth_is_401_and_never_echoes_the_key(
    post: Poster, emulator: Emulator, authorization: str | None, reason: str
) -> None:
    response = post.batch(track("m1"), key=None, authorization=authorization)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "unauthorized"
    assert reason in body["meta"]["errors"][0]
    for secret in (KEY, "wrong-key-123", "pk_us_wrongwrongwrong", b64("wrong-key-123:")):
        assert secret not in response.text
    stats = emulator.stats()
    assert (stats.accepted, stats.messages, stats.status_counts) == (0, 0, {401: 1})


def test_auth_applies_in_permissive_mode_too(post: Poster) -> None:
    assert post.batch(track("m1"), key="nope", strict=False).status_code == 401


def test_rate_budget_429_with_retry_after_per_key() -> None:
    with Emulator(keys=(KEY, PREFIXED_KEY), rate_limit=5, rate_window_s=30) as emu:
        session = requests.Session()
        body = orjson.dumps({"batch": [track("m1")]})
        statuses = [
            session.post(f"{emu.url}/v1/batch", data=body, auth=(KEY, "")).status_code
            for _ in range(5)
        ]
        assert statuses == [200] * 5
        refused = session.post(f"{emu.url}/v1/batch", data=body, auth=(KEY, ""))
        assert refused.status_code == 429
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 30
        assert "over the rate budget of 5 requests per 30 s" in refused.json()["message"]
        # the budget is per key: the other key still gets through
        other = session.post(
            f"{emu.url}/v1/batch", data=body, headers={"Authorization": f"Bearer {PREFIXED_KEY}"}
        )
        assert other.status_code == 200
        stats = emu.stats()
        assert stats.rate_limited == 1
        assert stats.status_counts == {200: 6, 429: 1}
        assert stats.max_requests_in_window == 7  # every request received counts here
        assert stats.accepted == 6  # the refused request recorded nothing


def test_rate_window_slides() -> None:
    with Emulator(keys=(KEY,), rate_limit=2, rate_window_s=0.2) as emu:
        session = requests.Session()
        url = f"{emu.url}/v1/track"
        codes = [session.post(url, json=track("m"), auth=(KEY, "")).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        # Retry-After is whole seconds, never below 1, even for a 0.2 s window
        assert session.post(url, json=track("m"), auth=(KEY, "")).headers["Retry-After"] == "1"
        time.sleep(0.25)  # the window must pass; nothing else can show it slides
        assert session.post(url, json=track("m"), auth=(KEY, "")).status_code == 200


def test_message_over_32_kb_is_rejected_with_its_size(post: Poster, emulator: Emulator) -> None:
    big = track("big", properties={"blob": "x" * 40_000})
    size = len(orjson.dumps(big))
    response = post.batch(track("ok"), big)
    assert response.status_code == 400
    assert response.json()["meta"]["errors"] == [
        f"batch[1] track messageId=big: message is {size} bytes, over the 32768-byte limit"
    ]
    assert emulator.stats().accepted == 0  # strict: nothing accepted

    assert post.batch(track("ok"), big, strict=False).status_code == 200
    assert [m["messageId"] for m in emulator.messages()] == ["ok"]
    rejection = emulator.rejections()[-1]
    assert rejection == {
        "messageId": "big",
        "type": "track",
        "reasons": [f"message is {size} bytes, over the 32768-byte limit"],
        "status": 200,
        "endpoint": "/v1/batch",
        "index": 1,
    }


def test_40_kb_trait_on_the_single_identify_endpoint(post: Poster) -> None:
    body = {"userId": "u1", "traits": {"bio": "y" * 40_000}, "messageId": "m1"}
    response = post("/v1/identify", body)
    assert response.status_code == 400
    (reason,) = response.json()["meta"]["errors"]
    assert reason.startswith("identify messageId=m1: message is 400")
    assert reason.endswith("bytes, over the 32768-byte limit")


def test_limits_are_configurable() -> None:
    with Emulator(keys=(KEY,), max_message_bytes=200, max_request_bytes=1000) as emu:
        session = requests.Session()
        url = f"{emu.url}/v1/batch"
        headers = {"X-Strict-Mode": "1"}
        small = session.post(url, json={"batch": [track("m1")]}, auth=(KEY, ""), headers=headers)
        assert small.status_code == 200
        large = {"batch": [track("m2", properties={"p": "z" * 300})]}
        response = session.post(url, json=large, auth=(KEY, ""), headers=headers)
        assert "over the 200-byte limit" in response.json()["message"]
        many = {"batch": [track(f"m{i}") for i in range(20)]}
        response = session.post(url, json=many, auth=(KEY, ""), headers=headers)
        assert "over the 1000-byte limit" in response.json()["message"]


def test_600_kb_batch_is_rejected_whole(post: Poster, emulator: Emulator) -> None:
    calls = [track(f"m{i}", properties={"pad": "p" * 1000}) for i in range(600)]
    size = len(orjson.dumps({"batch": calls}))
    assert size > 600_000
    response = post.batch(*calls)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "request_too_large"
    assert body["meta"]["errors"] == [f"request body is {size} bytes, over the 500000-byte limit"]
    stats = emulator.stats()
    assert (stats.accepted, stats.rejected, stats.rejected_requests) == (0, 600, 1)

    # permissive: 200, and every call in it counted rejected
    assert post.batch(*calls, strict=False).status_code == 200
    stats = emulator.stats()
    assert (stats.accepted, stats.rejected, stats.messages) == (0, 1200, 1200)
    assert emulator.rejections()[-1]["status"] == 200


def test_request_limit_applies_after_gzip(post: Poster, emulator: Emulator) -> None:
    calls = [track(f"m{i}", properties={"pad": "p" * 1000}) for i in range(600)]
    response = post.batch(*calls, gzip=True)
    assert response.status_code == 400
    assert len(response.request.body or b"") < 100_000  # small on the wire, large decoded
    assert emulator.stats().max_decoded_body_bytes > 600_000
