"""Fast mode (benchmarks): ids and counts without validation or recording, still the limits,
auth, budget and faults — and the throughput it exists for."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customerio_sink.emulator import Emulator

KEY = "test-key"
STRICT = {"X-Strict-Mode": "1", "Content-Type": "application/json"}


def track(message_id: str | None, user_id: str = "u1", **extra: Any) -> dict[str, Any]:
    call = {"type": "track", "userId": user_id, "event": "Order Completed", **extra}
    if message_id is not None:
        call["messageId"] = message_id
    return call


@pytest.fixture
def fast() -> Iterator[Emulator]:
    with Emulator(keys=(KEY,), fast=True) as emu:
        yield emu


def send(
    emu: Emulator,
    calls: list[dict[str, Any]],
    strict: bool = True,
    session: requests.Session | None = None,
    path: str = "/v1/batch",
) -> requests.Response:
    body = orjson.dumps({"batch": calls} if path == "/v1/batch" else calls[0])
    headers = STRICT if strict else {"Content-Type": "application/json"}
    return (session or requests).post(
        f"{emu.url}{path}", data=body, auth=(KEY, ""), headers=headers
    )


def test_fast_mode_counts_messages_and_duplicates(fast: Emulator) -> None:
    assert send(fast, [track("a"), track("b"), track("c")]).status_code == 200
    assert send(fast, [track("b"), track("d")]).status_code == 200
    assert send(fast, [track("a")], path="/v1/track").status_code == 200
    stats = fast.stats()
    assert (stats.requests, stats.messages, stats.accepted, stats.duplicates) == (3, 6, 6, 2)
    assert fast.message_id_counts() == {"a": 2, "b": 2, "c": 1, "d": 1}
    assert fast.messages() == [] and fast.people == {}  # nothing recorded beyond ids


def test_fast_mode_skips_schema_validation(fast: Emulator) -> None:
    response = send(fast, [{"type": "track", "messageId": "no-user-no-event"}])
    assert response.status_code == 200
    assert fast.message_id_counts() == {"no-user-no-event": 1}


def test_fast_mode_ids_with_escapes_and_spaces(fast: Emulator) -> None:
    body = b'{"batch": [{"type": "track", "messageId" : "q\\"uote", "userId": "u"}]}'
    requests.post(f"{fast.url}/v1/batch", data=body, auth=(KEY, ""))
    assert fast.message_id_counts() == {'q"uote': 1}


def test_fast_mode_single_call_without_id_still_counts(fast: Emulator) -> None:
    assert send(fast, [track(None)], path="/v1/track").status_code == 200
    assert (fast.stats().messages, fast.stats().accepted) == (1, 1)


def test_fast_mode_enforces_the_32_kb_message_limit(fast: Emulator) -> None:
    big = track("big", properties={"blob": "x" * 40_000})
    size = len(orjson.dumps(big))
    response = send(fast, [track("ok"), big])
    assert response.status_code == 400
    assert response.json()["meta"]["errors"] == [
        f"batch[1] track messageId=big: message is {size} bytes, over the 32768-byte limit"
    ]
    assert send(fast, [track("ok"), big], strict=False).status_code == 200
    assert fast.message_id_counts() == {"ok": 1}
    assert fast.stats().rejected == 3  # 2 in the strict request, 1 in the permissive one


def test_fast_mode_reads_the_body_when_calls_lack_ids(fast: Emulator) -> None:
    # > 32 KB of calls without ids: the cheap span check cannot vouch for them, so it parses
    calls = [track(None, f"user-{i}", properties={"pad": "p" * 300}) for i in range(120)]
    assert send(fast, calls).status_code == 200
    assert (fast.stats().messages, fast.stats().accepted) == (120, 120)


def test_fast_mode_enforces_the_request_limit(fast: Emulator) -> None:
    calls = [track(f"m{i}", properties={"pad": "p" * 1000}) for i in range(600)]
    response = send(fast, calls)
    assert response.status_code == 400
    assert "over the 500000-byte limit" in response.json()["message"]
    assert (fast.stats().rejected, fast.stats().accepted) == (600, 0)


def test_fast_mode_keeps_auth_budget_and_faults() -> None:
    with Emulator(keys=(KEY,), fast=True, rate_limit=3, rate_window_s=30) as emu:
        assert requests.post(f"{emu.url}/v1/batch", data=b"{}", auth=("x", "")).status_code == 401
        emu.set_faults(drop_after_accept=1.0)
        with pytest.raises(requests.ConnectionError):
            send(emu, [track("a")])
        emu.set_faults(reject_message_ids=["b"])
        assert send(emu, [track("a"), track("b")]).status_code == 400
        emu.clear_faults()
        assert send(emu, [track("a")]).status_code == 200  # the re-send
        assert send(emu, [track("a")]).status_code == 429
        assert (emu.stats().accepted, emu.stats().duplicates) == (2, 1)


@pytest.fixture(scope="module")
def both_modes() -> Iterator[tuple[Emulator, Emulator]]:
    with Emulator(keys=(KEY,), fast=True) as fast_emu, Emulator(keys=(KEY,)) as full_emu:
        yield fast_emu, full_emu


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(
        st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), min_size=1, max_size=8),
        min_size=1,
        max_size=4,
    ),
    padding=st.integers(min_value=0, max_value=12_000),
)
def test_fast_and_full_modes_count_alike(
    both_modes: tuple[Emulator, Emulator], batches: list[list[str]], padding: int
) -> None:
    counts = []
    for emu in both_modes:
        emu.reset()
        for ids in batches:
            send(emu, [track(m, properties={"pad": "p" * padding}) for m in ids])
        stats = emu.stats()
        counts.append((stats.accepted, stats.duplicates, emu.message_id_counts()))
    sent = [m for ids in batches for m in ids]
    assert counts[0] == counts[1] == (len(sent), len(sent) - len(set(sent)), Counter(sent))


def test_fast_mode_counts_every_message_of_490_kb_bodies() -> None:
    """Correctness of fast mode on full-size bodies; how many of them it answers per second is a
    benchmark figure (``make bench``, phase ``emulator``), never a test threshold."""
    calls = [track(f"{i:032x}", f"user-{i}", properties={"note": "x" * 440}) for i in range(850)]
    body = orjson.dumps({"batch": calls})
    assert 470_000 < len(body) < 500_000
    with Emulator(keys=(KEY,), fast=True) as emu, requests.Session() as session:
        for _ in range(20):
            response = session.post(
                f"{emu.url}/v1/batch", data=body, auth=(KEY, ""), headers=STRICT
            )
            assert response.status_code == 200
        stats = emu.stats()
        assert (stats.requests, stats.accepted, stats.duplicates) == (20, 20 * 850, 19 * 850)
        assert stats.max_body_bytes == len(body)
        assert emu.message_id_counts()[f"{849:032x}"] == 20


def test_server_sockets_disable_nagle(fast: Emulator) -> None:
    """Without TCP_NODELAY each answer waits ~40 ms for a delayed ACK on loopback, and a
    benchmark would measure that wait instead of the code."""
    import socket

    with requests.Session() as session:  # keep-alive: the server's socket stays open
        res = session.post(
            f"{fast.url}/v1/batch",
            data=orjson.dumps({"batch": [track("nagle-1")]}),
            auth=(KEY, ""),
            headers={"Content-Type": "application/json"},
        )
        assert res.status_code == 200
        server = fast._server
        assert server is not None
        with server._connections_lock:
            open_sockets = list(server._connections)
        assert open_sockets
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in open_sockets)


def _scan_by_regex(body: bytes, limit: int) -> tuple[list[str], bool]:
    """What ``scan_body`` answered for a batch over ``limit`` before it read ids from its split:
    the regex's ids, and the two-gap span check."""
    from itertools import pairwise

    from customerio_sink.emulator.fastscan import find_ids

    ids = find_ids(body)
    gaps = [len(part) + len(b'"messageId"') for part in body.split(b'"messageId"')]
    fits = all(a + b <= limit for a, b in pairwise(gaps))
    return ids, not (ids and fits and len(gaps) == len(ids) + 1)


_ID_TEXT = st.text(
    alphabet=st.sampled_from(["a", "Z", "0", "-", '"', "\\", "\n", "é", "\u2028", "😀", ":", " "]),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(
    calls=st.lists(
        st.tuples(
            st.one_of(st.none(), _ID_TEXT, st.integers(-(2**63), 2**63 - 1), st.just("")),
            st.integers(min_value=0, max_value=20_000),
            st.booleans(),  # a "messageId" key inside the call's properties too
        ),
        min_size=1,
        max_size=8,
    ),
    spaced=st.booleans(),
    raw=st.sampled_from([None, b'"messageId":"open', b'"messageId" :"x"', b'"messageId":"a\nb"']),
)
def test_fast_scan_reads_ids_as_the_regex_did(
    calls: list[tuple[Any, int, bool]], spaced: bool, raw: bytes | None
) -> None:
    """Compact (orjson) and spaced (json.dumps, the official client's) bodies, ids with quotes,
    backslashes, newlines and non-ASCII, ids that are not strings, calls without ids, nested
    keys and bodies cut short: the same ids and the same "parse it" answer as the regex."""
    import json

    from customerio_sink.emulator.fastscan import scan_body

    items = []
    for message_id, pad, nested in calls:
        properties: dict[str, Any] = {"pad": "p" * pad}
        if nested:
            properties["messageId"] = "inner"
        items.append(track(message_id, properties=properties))
    document = {"batch": items}
    body = json.dumps(document).encode() if spaced else orjson.dumps(document)
    if raw is not None:  # text no encoder writes: a body cut short, odd spacing, a raw newline
        body = body[:-2] + b"," + raw + b"]}"
    # A per-message limit under the body's size: every example takes the split (a body within
    # the limit is read by the regex alone), some spans fit it and some do not.
    limit = len(body) // 2 + 1
    scan = scan_body(body, True, limit)
    assert (scan.ids, scan.needs_parse) == _scan_by_regex(body, limit)
