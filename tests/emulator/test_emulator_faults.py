"""Switchable faults over real HTTP: errors, latency, dropped connections, 429 storms, rejected
ids — and that they switch at run time and reset."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
import requests

from customerio_sink.emulator import Emulator

if TYPE_CHECKING:
    from tests.emulator.conftest import Poster


def track(message_id: str, user_id: str = "u1") -> dict[str, Any]:
    return {"type": "track", "userId": user_id, "event": "Signed Up", "messageId": message_id}


def statuses(post: Poster, count: int) -> list[int]:
    return [post.batch(track(f"m{i}")).status_code for i in range(count)]


def test_error_rate_answers_error_status_without_recording(
    post: Poster, emulator: Emulator
) -> None:
    emulator.set_faults(error_rate=1.0, error_status=502)
    response = post.batch(track("m1"))
    assert response.status_code == 502
    assert response.json()["code"] == "injected_fault"
    stats = emulator.stats()
    assert (stats.messages, stats.accepted, stats.injected_errors) == (0, 0, 1)
    assert emulator.messages() == []


def test_seeded_faults_repeat_exactly(post: Poster, emulator: Emulator) -> None:
    emulator.set_faults(error_rate=0.5, seed=7)
    first = statuses(post, 30)
    emulator.set_faults(error_rate=0.5, seed=7)
    second = statuses(post, 30)
    assert first == second
    assert set(first) == {200, 503}
    emulator.clear_faults()
    assert statuses(post, 5) == [200] * 5


def test_latency_delays_every_answer(post: Poster, emulator: Emulator) -> None:
    post.batch(track("warm-up"))
    emulator.set_faults(latency_ms=40)
    started = time.perf_counter()
    assert post.batch(track("m1")).status_code == 200
    assert post.batch(track("m2"), key="wrong").status_code == 401  # refusals are slow too
    assert time.perf_counter() - started >= 0.08


def test_drop_before_read_records_nothing(post: Poster, emulator: Emulator) -> None:
    emulator.set_faults(drop_before_read=1.0)
    with pytest.raises(requests.ConnectionError):
        post.batch(track("m1"))
    stats = emulator.stats()
    assert (stats.requests, stats.dropped_before_read, stats.messages) == (1, 1, 0)
    assert stats.status_counts == {}
    emulator.clear_faults()
    assert post.batch(track("m1")).status_code == 200  # the session reconnects
    assert emulator.message_id_counts() == {"m1": 1}


def test_drop_after_accept_records_then_a_resend_is_a_duplicate(
    post: Poster, emulator: Emulator
) -> None:
    emulator.set_faults(drop_after_accept=1.0)
    with pytest.raises(requests.ConnectionError):
        post.batch(track("m1"), track("m2"))
    assert emulator.stats().dropped_after_accept == 1
    assert emulator.message_id_counts() == {"m1": 1, "m2": 1}  # accepted before the drop
    emulator.clear_faults()
    assert post.batch(track("m1"), track("m2")).status_code == 200  # the client's re-send
    stats = emulator.stats()
    assert (stats.accepted, stats.duplicates) == (4, 2)
    assert emulator.message_id_counts() == {"m1": 2, "m2": 2}


def test_drop_after_accept_seeded_fraction(post: Poster, emulator: Emulator) -> None:
    emulator.set_faults(drop_after_accept=0.5, seed=3)
    outcomes = []
    for i in range(20):
        try:
            outcomes.append(post.batch(track(f"m{i}")).status_code)
        except requests.ConnectionError:
            outcomes.append(0)
    assert 0 < outcomes.count(0) < 20
    assert emulator.stats().accepted == 20  # dropped or answered, all were recorded


def test_429_storm_for_a_while(post: Poster, emulator: Emulator) -> None:
    emulator.set_faults(storm_seconds=0.2, storm_retry_after=3)
    started = time.monotonic()
    response = post.batch(track("m1"))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert "429 storm" in response.json()["message"]
    time.sleep(max(0.0, 0.22 - (time.monotonic() - started)))  # the storm must pass
    assert post.batch(track("m2")).status_code == 200
    assert emulator.stats().status_counts == {429: 1, 200: 1}
    assert emulator.message_id_counts() == {"m2": 1}


def test_rejected_message_ids(post: Poster, emulator: Emulator) -> None:
    emulator.set_faults(reject_message_ids=["m2"])
    response = post.batch(track("m1"), track("m2"))
    assert response.status_code == 400
    assert response.json()["meta"]["errors"] == [
        "batch[1] track messageId=m2: messageId m2 rejected by fault injection"
    ]
    assert post.batch(track("m1"), track("m2"), strict=False).status_code == 200
    assert emulator.message_id_counts() == {"m1": 1}
    assert emulator.rejections()[-1]["reasons"] == ["messageId m2 rejected by fault injection"]


def test_faults_switch_over_http_at_run_time(
    post: Poster, emulator: Emulator, http: requests.Session
) -> None:
    control = f"{emulator.url}/_emulator/faults"
    assert http.post(control, json={"error_rate": 1, "error_status": 500}).status_code == 200
    assert post.batch(track("m1")).status_code == 500
    http.post(control, json={"reject_message_ids": ["m1"]})  # replaces the whole config
    assert post.batch(track("m1")).status_code == 400
    assert post.batch(track("m2")).status_code == 200
    http.post(f"{emulator.url}/_emulator/reset")
    assert post.batch(track("m1")).status_code == 200
    assert emulator.stats().requests == 1


def test_fault_settings_are_checked(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="error_rate"):
        emulator.set_faults(error_rate=1.5)
    with pytest.raises(ValueError, match="error_status"):
        emulator.set_faults(error_status=200)
    with pytest.raises(ValueError, match="storm_retry_after"):
        emulator.set_faults(storm_seconds=1, storm_retry_after=0)
    config = emulator.set_faults(reject_message_ids=("a", "b"), seed=1)
    assert config.as_dict()["reject_message_ids"] == ["a", "b"]


def test_a_storm_starts_at_the_first_request_after_it_is_set() -> None:
    # A client that takes a while to start (a Spark job on a busy machine) still meets the whole
    # storm; the clock is handed in, so no test time passes.
    from customerio_sink.emulator.faults import Faults

    faults = Faults()
    faults.set(storm_seconds=5, storm_retry_after=2)
    late = time.monotonic() + 3600.0  # an hour after it was set
    assert faults.storm_retry_after(late) == 2
    assert faults.storm_retry_after(late + 4.9) == 2
    assert faults.storm_retry_after(late + 5.0) is None
    faults.clear()
    assert faults.storm_retry_after(late) is None
