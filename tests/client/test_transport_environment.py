"""The transport reads proxy settings from the environment once per origin, as requests would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from customerio_sink.client.transport import RequestsTransport


class _Proxy(BaseHTTPRequestHandler):
    """A loopback "proxy" that answers every request itself and remembers its request line."""

    seen: list[str] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).seen.append(self.path)
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_requests_go_through_the_proxy_named_in_the_environment(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    transport = RequestsTransport()
    try:
        for _ in range(2):
            res = transport.send(
                "POST",
                "http://cdp.example.invalid/v1/batch",
                headers={"Content-Type": "application/json"},
                body=b"{}",
                timeout=5.0,
            )
            assert res.status == 200
    finally:
        transport.close()
    # A proxy receives the absolute URL; the host itself was never resolved.
    assert _Proxy.seen == ["http://cdp.example.invalid/v1/batch"] * 2


def test_no_proxy_and_ca_bundle_are_honoured_per_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "eu.example.invalid")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/custom.pem")
    transport = RequestsTransport()
    try:
        proxies, verify = transport._settings("https://us.example.invalid/v1/batch")
        assert proxies.get("https") == "http://proxy.internal:3128"
        assert verify == "/etc/ssl/custom.pem"
        bypassed, _ = transport._settings("https://eu.example.invalid/v1/batch")
        assert bypassed == {}
        # Read once per origin: a later change of the environment does not apply to it.
        monkeypatch.setenv("HTTPS_PROXY", "http://other.internal:3128")
        again, _ = transport._settings("https://us.example.invalid/v1/identify")
        assert again.get("https") == "http://proxy.internal:3128"
    finally:
        transport.close()
