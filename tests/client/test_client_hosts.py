"""Host, region and auth selection, seen at the network edge.

Customer.io's US/EU hosts cannot be reached from here, so these tests inject a transport that
records the prepared request instead of sending it (the only fake of the network in the suite;
sending itself is tested against the emulator).
"""

from __future__ import annotations

import base64
import gzip
import http.server
import logging
import threading

import orjson
import pytest

from customerio_sink.client.pipelines import CustomerIOClient
from customerio_sink.client.regions import ALLOW_CROSS_REGION_ENV, rate_budget
from customerio_sink.errors import ConfigError, PayloadTooLargeError, RejectedError
from customerio_sink.reporting.app_api import AppAPIClient

from .conftest import RecordingTransport


@pytest.mark.parametrize(
    ("key", "options", "url", "auth"),
    [
        (
            "plain-key",
            {},
            "https://cdp.customer.io/v1/track",
            "Basic " + base64.b64encode(b"plain-key:").decode(),
        ),
        ("plain-key", {"region": "us"}, "https://cdp.customer.io/v1/track", "Basic"),
        ("plain-key", {"region": "eu"}, "https://cdp-eu.customer.io/v1/track", "Basic"),
        ("pk_eu_abc", {}, "https://cdp-eu.customer.io/v1/track", "Bearer pk_eu_abc"),
        ("sk_us_abc", {}, "https://cdp.customer.io/v1/track", "Bearer sk_us_abc"),
        (
            "pk_us_abc",
            {"region": "eu", "allow_cross_region": True},
            "https://cdp-eu.customer.io/v1/track",
            "Bearer pk_us_abc",
        ),
        (
            "plain-key",
            {"endpoint": "http://127.0.0.1:8765/"},
            "http://127.0.0.1:8765/v1/track",
            "Basic",
        ),
        (
            "pk_eu_abc",
            {"endpoint": "http://proxy.local/v1"},
            "http://proxy.local/v1/track",
            "Bearer pk_eu_abc",
        ),
        (
            "  plain-key\n",
            {},
            "https://cdp.customer.io/v1/track",
            "Basic " + base64.b64encode(b"plain-key:").decode(),
        ),
    ],
)
def test_url_and_auth(
    recording: RecordingTransport, key: str, options: dict[str, str], url: str, auth: str
) -> None:
    client = CustomerIOClient(key, transport=recording, **options)  # type: ignore[arg-type]
    client.track("u", "E")
    [sent] = recording.requests
    assert sent.method == "POST" and sent.url == url
    assert sent.headers["Authorization"].startswith(auth)
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["X-Strict-Mode"] == "1"
    assert sent.headers["User-Agent"].startswith("customerio-sink/")
    assert sent.timeout == 10.0


def test_cross_region_key_is_refused_before_anything_is_sent(
    recording: RecordingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_CROSS_REGION_ENV, raising=False)
    with pytest.raises(ConfigError, match="refusing to send a US API key to the EU host") as caught:
        CustomerIOClient("pk_us_secretpart", region="eu", transport=recording)
    assert "secretpart" not in str(caught.value)
    assert recording.requests == []


def test_cross_region_key_when_allowed_warns_once(
    recording: RecordingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    client = CustomerIOClient(
        "pk_us_secretpart", region="eu", transport=recording, allow_cross_region=True
    )
    client.track("u", "E")
    client.track("u", "E")
    assert caplog.text.count("US API key is being sent to the EU host") == 1
    assert "secretpart" not in caplog.text


@pytest.mark.parametrize("region", ["us", "eu"])
def test_default_rate_budget_is_the_regions(recording: RecordingTransport, region: str) -> None:
    client = CustomerIOClient("plain-key", region=region, transport=recording)
    limiter = client.sender.rate_limiter
    assert (limiter.requests, limiter.per_seconds) == rate_budget(region)


def test_options_reach_the_request(recording: RecordingTransport) -> None:
    client = CustomerIOClient(
        "k", transport=recording, strict=False, gzip=True, timeout=(2.0, 5.0), user_agent="my-job/1"
    )
    client.identify("u", {"a": 1})
    [sent] = recording.requests
    assert "X-Strict-Mode" not in sent.headers
    assert sent.headers["Content-Encoding"] == "gzip"
    assert sent.headers["User-Agent"] == "my-job/1"
    assert sent.timeout == (2.0, 5.0)
    assert orjson.loads(gzip.decompress(sent.body or b""))["traits"] == {"a": 1}


def test_batch_body_shape(recording: RecordingTransport) -> None:
    client = CustomerIOClient("k", transport=recording)
    client.send_encoded([b'{"type":"track","userId":"u","event":"E"}'], ["m"])
    [sent] = recording.requests
    assert sent.url.endswith("/v1/batch")
    body = orjson.loads(sent.body or b"")
    assert set(body) == {"batch", "sentAt"} and body["batch"][0]["event"] == "E"


def test_injected_transport_is_not_closed_by_the_client(recording: RecordingTransport) -> None:
    with CustomerIOClient("k", transport=recording):
        pass
    assert recording.closed is False


def test_every_call_gets_an_id_and_a_timestamp(recording: RecordingTransport) -> None:
    client = CustomerIOClient("k", transport=recording)
    client.track("u", "E")
    client.track("u", "E", message_id="given", timestamp="2024-05-01T00:00:00Z")
    first, second = (orjson.loads(r.body or b"") for r in recording.requests)
    assert len(first["messageId"]) == 36 and first["timestamp"].endswith("+00:00")
    assert (second["messageId"], second["timestamp"]) == ("given", "2024-05-01T00:00:00Z")


def test_bad_options() -> None:
    with pytest.raises(ConfigError):
        CustomerIOClient("k", region="ap")
    with pytest.raises(ConfigError):
        CustomerIOClient("k", max_body_bytes=1000)
    with pytest.raises(ConfigError):
        CustomerIOClient("")


@pytest.mark.parametrize(
    ("options", "url"),
    [
        ({}, "https://api.customer.io/v1/campaigns"),
        ({"region": "eu"}, "https://api-eu.customer.io/v1/campaigns"),
        ({"endpoint": "http://127.0.0.1:9"}, "http://127.0.0.1:9/v1/campaigns"),
    ],
)
def test_app_api_hosts_and_bearer(
    recording: RecordingTransport, options: dict[str, str], url: str
) -> None:
    app = AppAPIClient("app-secret", transport=recording, **options)  # type: ignore[arg-type]
    assert list(app.campaigns()) == []
    [sent] = recording.requests
    assert sent.method == "GET" and sent.url == url
    assert sent.headers["Authorization"] == "Bearer app-secret"


def test_app_api_query_encoding(recording: RecordingTransport) -> None:
    app = AppAPIClient("app-secret", transport=recording)
    app.find_customers("first+tag@example.com")
    assert (
        recording.requests[0].url
        == "https://api.customer.io/v1/customers?email=first%2Btag%40example.com"
    )


def test_the_32kb_limit_counts_sent_at_on_single_calls(recording: RecordingTransport) -> None:
    client = CustomerIOClient("k", transport=recording)
    message = {"type": "track", "userId": "u", "event": "E", "properties": {"pad": ""}}
    size = len(orjson.dumps(client.prepare(message)))
    message["properties"] = {"pad": "x" * (32768 - size)}  # exactly at the limit without sentAt
    assert len(orjson.dumps(client.prepare(message))) == 32768
    with pytest.raises(PayloadTooLargeError) as info:
        client.send(message)
    assert info.value.limit == 32768 and len(info.value.message_ids) == 1
    assert recording.requests == []
    client.batch([message])  # in a batch, sentAt is on the envelope: it fits
    assert len(recording.requests) == 1


def test_redirects_are_reported_not_followed() -> None:
    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:1/v1/batch")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = CustomerIOClient("k", endpoint=f"http://127.0.0.1:{server.server_port}")
        with pytest.raises(RejectedError) as info:
            client.track("u", "E")
        assert (info.value.status, info.value.attempts) == (307, 1)
    finally:
        server.shutdown()
        server.server_close()
