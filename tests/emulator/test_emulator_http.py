"""The emulator as an HTTP server: lifecycle, keep-alive, routing, bodies, control endpoints."""

from __future__ import annotations

import base64
import http.client
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
import pytest
import requests

from customerio_sink.emulator import Emulator, EmulatorStats

if TYPE_CHECKING:
    from tests.emulator.conftest import Poster

KEY = "test-key"


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def track(message_id: str, user_id: str = "u1", **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user_id,
        "event": "Signed Up",
        "messageId": message_id,
        **extra,
    }


def test_start_stop_without_context_manager_binds_a_free_loopback_port() -> None:
    emu = Emulator(keys=(KEY,))
    with pytest.raises(RuntimeError):
        _ = emu.url
    emu.start()
    try:
        assert emu.url.startswith("http://127.0.0.1:")
        assert emu.port > 0
        assert emu.start() is emu  # idempotent
        response = requests.post(f"{emu.url}/v1/track", json=track("m1"), auth=(KEY, ""))
        assert response.status_code == 200
        assert response.json() == {}
        url = emu.url
    finally:
        emu.stop()
    emu.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{url}/v1/track", json=track("m1"), auth=(KEY, ""), timeout=1)


def test_keep_alive_one_connection_serves_many_requests(emulator: Emulator) -> None:
    # One connection, many answers, each complete (Content-Length, no close). That answers are
    # not held back by Nagle's algorithm is checked on the socket option itself
    # (test_emulator_fast.py::test_server_sockets_disable_nagle), not by a stopwatch.
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    body = orjson.dumps({"batch": [track("m1")]})
    headers = {"Authorization": basic(KEY), "Content-Type": "application/json"}
    sockets = set()
    for _ in range(100):
        connection.request("POST", "/v1/batch", body=body, headers=headers)
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Length") == "2"
        assert response.getheader("Connection") is None  # keep-alive (HTTP/1.1 default)
        assert response.read() == b"{}"
        sockets.add(id(connection.sock))
    connection.close()
    assert len(sockets) == 1  # never reconnected
    assert emulator.stats().requests == 100


def test_every_answer_has_content_length_and_json(
    emulator: Emulator, http: requests.Session
) -> None:
    for method, path in [
        ("GET", "/nope"),
        ("POST", "/v1/batch"),
        ("GET", "/_emulator/stats"),
        ("PUT", "/v1/batch"),
        ("GET", "/v1/campaigns"),
    ]:
        response = http.request(method, f"{emulator.url}{path}")
        assert "Content-Length" in response.headers
        assert int(response.headers["Content-Length"]) == len(response.content)
        assert response.headers["Content-Type"].startswith("application/json")
        response.json()


def test_unknown_paths_are_404_with_a_reason(emulator: Emulator, http: requests.Session) -> None:
    response = http.get(f"{emulator.url}/v2/whatever")
    assert response.status_code == 404
    assert response.json()["meta"]["errors"] == ["no endpoint GET /v2/whatever"]
    app_auth = {"Authorization": "Bearer app-key"}  # /v1/ paths other than Pipelines: App API
    response = http.post(f"{emulator.url}/v1/unknown", headers=app_auth)
    assert response.status_code == 404


def test_no_per_request_logging(emulator: Emulator, capfd: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):
        requests.post(f"{emulator.url}/v1/track", json=track("m1"), auth=(KEY, ""))
    requests.get(f"{emulator.url}/nope")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_single_endpoints_set_the_type(post: Poster, emulator: Emulator) -> None:
    calls = {
        "identify": {"userId": "u1", "traits": {"email": "a@example.com"}},
        "track": {"userId": "u1", "event": "Signed Up"},
        "page": {"userId": "u1", "name": "Home"},
        "screen": {"anonymousId": "a1", "name": "feed"},
        "group": {"userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}},
        "alias": {"previousId": "a1", "userId": "u1"},
    }
    for kind, body in calls.items():
        response = post(f"/v1/{kind}", dict(body, messageId=f"m-{kind}"))
        assert response.status_code == 200, response.text
    assert [m["type"] for m in emulator.messages()] == list(calls)
    assert [m["messageId"] for m in emulator.messages(type="group")] == ["m-group"]
    # a wrong "type" in the body does not override the endpoint
    assert post("/v1/track", dict(calls["track"], type="identify")).status_code == 200
    assert emulator.messages()[-1]["type"] == "track"


def test_batch_items_are_expanded_in_arrival_order(post: Poster, emulator: Emulator) -> None:
    post.batch(track("m1"), {"type": "identify", "userId": "u2", "messageId": "m2"})
    post.batch(track("m3"))
    assert [m["messageId"] for m in emulator.messages()] == ["m1", "m2", "m3"]
    assert [m["messageId"] for m in emulator.messages(type="track")] == ["m1", "m3"]
    assert emulator.message_id_counts() == {"m1": 1, "m2": 1, "m3": 1}


def test_gzip_bodies_are_accepted(post: Poster, emulator: Emulator) -> None:
    response = post.batch(track("m1"), track("m2"), gzip=True)
    assert response.status_code == 200, response.text
    stats = emulator.stats()
    assert stats.accepted == 2
    assert stats.max_body_bytes < stats.max_decoded_body_bytes  # wire size is the gzip size


def test_bad_gzip_and_unknown_encodings_are_400(post: Poster) -> None:
    response = post(data=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "not valid gzip" in response.json()["meta"]["errors"][0]
    response = post(data=b"{}", headers={"Content-Encoding": "br"})
    assert response.status_code == 400
    assert "unsupported Content-Encoding 'br'" in response.json()["message"]


@pytest.mark.parametrize("strict", [True, False])
def test_malformed_json_is_400_in_both_modes(
    post: Poster, emulator: Emulator, strict: bool
) -> None:
    response = post(data=b'{"batch": [', strict=strict)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_request"
    assert body["meta"]["errors"][0].startswith("body is not valid JSON")
    assert emulator.rejections()[0]["messageId"] is None
    stats = emulator.stats()
    assert (stats.rejected_requests, stats.messages) == (1, 0)


def test_bodies_not_shaped_as_calls_are_400(post: Poster) -> None:
    assert post(body=[1, 2]).status_code == 400
    assert post(body={"calls": []}).json()["meta"]["errors"] == [
        "body must be a JSON object with a 'batch' array of calls"
    ]
    assert post("/v1/track", body="text").status_code == 400


def test_chunked_bodies_are_read(emulator: Emulator) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"batch": ['
        yield orjson.dumps(track("m1"))
        yield b"]}"

    response = requests.post(f"{emulator.url}/v1/batch", data=chunks(), auth=(KEY, ""))
    assert response.status_code == 200
    assert emulator.stats().accepted == 1


def test_control_endpoints(post: Poster, emulator: Emulator, http: requests.Session) -> None:
    post.batch(track("m1"), {"type": "identify", "userId": "u1", "messageId": "m2"})
    stats = http.get(f"{emulator.url}/_emulator/stats").json()
    assert stats["accepted"] == 2
    assert stats["status_counts"] == {"200": 1}
    messages = http.get(f"{emulator.url}/_emulator/messages", params={"type": "track"}).json()
    assert [m["messageId"] for m in messages["messages"]] == ["m1"]
    state = http.get(f"{emulator.url}/_emulator/state").json()
    assert state["people"] == {"u1": {"traits": {}, "suppressed": False}}

    response = http.post(f"{emulator.url}/_emulator/faults", json={"error_rate": 1.0})
    assert response.json()["faults"]["error_rate"] == 1.0
    assert post.batch(track("m3")).status_code == 503
    bad = http.post(f"{emulator.url}/_emulator/faults", json={"error_rate": 2})
    assert bad.status_code == 400 and "error_rate" in bad.json()["message"]
    bad = http.post(f"{emulator.url}/_emulator/faults", json={"nonsense": 1})
    assert bad.status_code == 400

    assert http.post(f"{emulator.url}/_emulator/reset").status_code == 200
    assert emulator.stats() == EmulatorStats()
    assert emulator.messages() == [] and emulator.people == {}
    assert http.get(f"{emulator.url}/_emulator/faults").json()["faults"]["error_rate"] == 0.0
    assert post.batch(track("m3")).status_code == 200


def test_stats_track_sizes_times_and_windows(post: Poster, emulator: Emulator) -> None:
    before = time.time()
    sizes = [
        len(post.batch(*[track(f"m{i}-{j}") for j in range(i + 1)]).request.body) for i in range(3)
    ]
    stats = emulator.stats()
    assert stats.requests == 3 and stats.messages == 6 and stats.accepted == 6
    assert stats.bytes_total == sum(sizes)
    assert stats.max_body_bytes == max(sizes)
    assert stats.mean_body_bytes == pytest.approx(sum(sizes) / 3)
    assert stats.max_requests_in_window == 3
    assert stats.first_request_at is not None and stats.last_request_at is not None
    assert before <= stats.first_request_at <= stats.last_request_at <= time.time()
    assert stats.as_dict()["status_counts"] == {200: 3}


def test_stop_closes_open_keep_alive_connections() -> None:
    emu = Emulator(keys=(KEY,)).start()
    url = emu.url
    session = requests.Session()
    assert session.post(f"{url}/v1/track", json=track("m1"), auth=(KEY, "")).status_code == 200
    # stop() must not wait for the client to close its idle keep-alive connection; the join's
    # timeout only stops the test if it hangs.
    stopper = threading.Thread(target=emu.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=60)
    assert not stopper.is_alive(), "stop() hung on an open keep-alive connection"
    with pytest.raises(requests.ConnectionError):
        session.post(f"{url}/v1/track", json=track("m1"), auth=(KEY, ""), timeout=2)
