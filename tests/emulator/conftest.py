"""Emulator fixtures: a fresh emulator per test (starting one takes milliseconds; the OpenAPI
validators are compiled once per process) and a poster that speaks its HTTP.

Test modules annotate with ``Poster`` under ``TYPE_CHECKING`` only: conftest modules are not
meant to be imported at run time.
"""

from __future__ import annotations

import base64
import gzip as gzip_module
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests

from customerio_sink.emulator import Emulator

KEY = "test-key"
PREFIXED_KEY = "pk_us_0123456789abcdef"
APP_KEY = "app-key"


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


class Poster:
    """Posts to the emulator: JSON (or raw ``data``), strict by default, Basic auth with KEY."""

    def __init__(self, session: requests.Session, emulator: Emulator) -> None:
        self.session = session
        self.emulator = emulator

    def __call__(
        self,
        path: str = "/v1/batch",
        body: Any = None,
        *,
        data: bytes | None = None,
        strict: bool = True,
        key: str | None = KEY,
        authorization: str | None = None,
        gzip: bool = False,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> requests.Response:
        payload = data if data is not None else orjson.dumps(body)
        sent = {"Content-Type": "application/json"}
        if strict:
            sent["X-Strict-Mode"] = "1"
        if authorization is not None:
            sent["Authorization"] = authorization
        elif key is not None:
            sent["Authorization"] = basic(key)
        if gzip:
            payload = gzip_module.compress(payload)
            sent["Content-Encoding"] = "gzip"
        sent.update(headers or {})
        url = f"{self.emulator.url}{path}"
        return self.session.post(url, data=payload, headers=sent, timeout=timeout)

    def batch(self, *calls: dict[str, Any], **kwargs: Any) -> requests.Response:
        return self("/v1/batch", {"batch": list(calls)}, **kwargs)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A running emulator with a plain and a prefixed key; the App API budget is raised so
    App API tests are not rate limited by each other's calls (its own test uses the default)."""
    with Emulator(keys=(KEY, PREFIXED_KEY), app_rate_limit=1000) as emu:
        yield emu


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def post(http: requests.Session, emulator: Emulator) -> Poster:
    return Poster(http, emulator)
