"""The API key appears in no log record, exception text, traceback or repr.

Checked with DEBUG logging on for every logger (urllib3's included), on success, on 401, on a
strict-mode rejection and on connection errors, for both auth schemes and the App API.
"""

from __future__ import annotations

import base64
import logging
import pickle
import socket
import traceback
from collections.abc import Iterator

import pytest

from customerio_sink.client.pipelines import CustomerIOClient
from customerio_sink.client.retry import RetryPolicy
from customerio_sink.emulator import Emulator
from customerio_sink.errors import (
    AuthenticationError,
    CustomerIOSinkError,
    RejectedError,
    TransientError,
)
from customerio_sink.reporting.app_api import AppAPIClient

from .conftest import EU_KEY, PIPELINES_KEY

UNKNOWN_PLAIN = "plain-UNKNOWN-s3cr3t-value"
UNKNOWN_PREFIXED = "sk_us_UNKNOWN-s3cr3t-value"
HEADER_INJECTION = "abc\r\nX-Injected: s3cr3t"


def forms(key: str) -> list[str]:
    """Every way the key could leak: raw, as a Basic token, and without a pk_/sk_ prefix."""
    found = [key, base64.b64encode(f"{key}:".encode()).decode()]
    if key[:3] in ("pk_", "sk_") and len(key) > 14:
        found.append(key[6:])
    return found


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def assert_clean(key: str, *texts: str) -> None:
    for text in texts:
        for form in forms(key):
            assert form not in text


def exception_texts(err: BaseException) -> list[str]:
    return [
        str(err),
        repr(err),
        "".join(traceback.format_exception(err)),
        repr(pickle.loads(pickle.dumps(err))),
    ]


@pytest.mark.parametrize("key", [UNKNOWN_PLAIN, UNKNOWN_PREFIXED])
def test_401(emu: Emulator, debug_logs: pytest.LogCaptureFixture, key: str) -> None:
    with CustomerIOClient(f" {key}\n", endpoint=emu.url) as client:
        with pytest.raises(AuthenticationError) as info:
            client.identify("u", {"email": "a@example.com"})
        texts = [repr(client), repr(client.sender), repr(client.api_key), str(vars(client))]
    assert_clean(key, debug_logs.text, *exception_texts(info.value), *texts)


@pytest.mark.parametrize("key", [PIPELINES_KEY + "-but-longer", UNKNOWN_PREFIXED])
def test_connection_errors(debug_logs: pytest.LogCaptureFixture, key: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = CustomerIOClient(
        key,
        endpoint=f"http://127.0.0.1:{port}",
        retry=RetryPolicy(max_attempts=2),
        sleep=lambda s: None,
    )
    with pytest.raises(TransientError) as info:
        client.track("u", "E")
    assert info.value.__cause__ is None  # no requests exception (host, port, URL) chained
    assert info.value.__context__ is None or info.value.__suppress_context__
    assert_clean(key, debug_logs.text, *exception_texts(info.value))


@pytest.mark.parametrize("key", [PIPELINES_KEY, EU_KEY])
def test_success_and_rejection(
    emu: Emulator, debug_logs: pytest.LogCaptureFixture, key: str
) -> None:
    with CustomerIOClient(key, endpoint=emu.url) as client:
        client.identify("u", {"email": "a@example.com"})
        with pytest.raises(RejectedError) as info:
            client.send_encoded([b'{"type":"track","userId":"u","messageId":"m"}'], ["m"])
    assert_clean(key, debug_logs.text, *exception_texts(info.value))


def test_app_api(emu: Emulator, debug_logs: pytest.LogCaptureFixture) -> None:
    with AppAPIClient(UNKNOWN_PLAIN, endpoint=emu.url) as app:
        with pytest.raises(AuthenticationError) as info:
            list(app.campaigns())
        texts = [repr(app), str(vars(app))]
    assert_clean(UNKNOWN_PLAIN, debug_logs.text, *exception_texts(info.value), *texts)


def test_a_key_that_cannot_be_a_header_is_refused_without_echo(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(CustomerIOSinkError) as info:
        CustomerIOClient(HEADER_INJECTION)
    assert_clean("s3cr3t", *exception_texts(info.value), debug_logs.text)
