"""Fixtures for the client-core tests: fake time, a recording transport, the emulator."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest

from customerio_sink.client.transport import HttpResponse, Timeout
from customerio_sink.emulator import Emulator

PIPELINES_KEY = "test-key"
APP_KEY = "app-key"


class FakeTime:
    """A monotonic clock that only moves when ``sleep`` is called (or ``advance``)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@dataclass
class Recorded:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    timeout: Timeout


@dataclass
class RecordingTransport:
    """The network edge replaced for host/auth selection tests: records, answers 200 ``{}``."""

    status: int = 200
    requests: list[Recorded] = field(default_factory=list)
    closed: bool = False

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: Timeout,
    ) -> HttpResponse:
        self.requests.append(Recorded(method, url, dict(headers), body, timeout))
        return HttpResponse(self.status, {"content-type": "application/json"}, b"{}")

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def recording() -> RecordingTransport:
    return RecordingTransport()


EU_KEY = "pk_eu_prefixedkey123"
US_KEY = "sk_us_prefixedkey456"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """One emulator per test module, validating against the OpenAPI file.

    ``strict_default=False``: strict mode is on only because our client sends
    ``X-Strict-Mode: 1``, so every accepted message passed the strict checks.
    """
    with Emulator(
        keys=(PIPELINES_KEY, EU_KEY, US_KEY),
        port=0,
        app_api_keys=(APP_KEY,),
        strict_default=False,
        app_rate_limit=10_000,
    ) as emu:
        assert emu.validation_source.startswith("openapi:")
        yield emu


@pytest.fixture
def emu(emulator: Emulator) -> Iterator[Emulator]:
    """The module's emulator, reset (messages, stats, faults, rate windows)."""
    emulator.reset()
    yield emulator
