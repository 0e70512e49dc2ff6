"""One request budget per key: task shares, leases between jobs, the shared 429 pause, "off".

The limiters run on fake clocks here; the Spark tests check the same against the emulator.
"""

from __future__ import annotations

import bisect
import heapq
import threading
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from customerio_sink.client.budget import SharedBudget, TaskLimiter, key_hash, release
from customerio_sink.client.rate_limit import LaneLimiter
from customerio_sink.client.secrets import SecretKey
from customerio_sink.emulator import Emulator
from customerio_sink.engine.partition import (
    INPUT_COLUMNS,
    SendSettings,
    build_client,
    run_partition,
)

KEY = "budget-test-key"


class WallClock:
    """A fake wall clock that only moves when told to (or slept on)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def max_in_window(starts: list[float], window: float) -> int:
    """The most starts in any half-open window [t, t + window) (less a microsecond: grid slot
    times are float products, exact to far less than that)."""
    starts = sorted(starts)
    return max(bisect.bisect_left(starts, s + window - 1e-6) - i for i, s in enumerate(starts))


def greedy_starts(lanes: list[LaneLimiter], t0: float, total: int) -> list[float]:
    """Every lane sends back to back from ``t0`` (requests take no time): the worst case."""
    ready = [(lanes[i].next_start(t0), i) for i in range(len(lanes))]
    heapq.heapify(ready)
    starts = []
    while len(starts) < total:
        at, i = heapq.heappop(ready)
        lanes[i].commit(at)
        starts.append(at)
        heapq.heappush(ready, (lanes[i].next_start(at), i))
    return starts


@settings(max_examples=80, deadline=None)
@given(
    budget=st.integers(1, 400),
    tasks=st.integers(1, 80),
    extra_lanes=st.integers(0, 40),
    period=st.sampled_from([1.0, 3.0]),
    t0=st.floats(0, 1e6),
)
def test_task_shares_never_add_up_above_the_budget(
    budget: int, tasks: int, extra_lanes: int, period: float, t0: float
) -> None:
    lanes = [
        LaneLimiter(budget, period, tasks=tasks, lanes=tasks + extra_lanes, lane=i)
        for i in range(tasks)
    ]
    starts = greedy_starts(lanes, t0, total=3 * max(budget, tasks))
    assert max_in_window(starts, period) <= budget
    # and every task gets its turn: nobody starves
    assert all(lane._starts for lane in lanes)


def test_sixty_four_tasks_at_a_budget_of_thirty() -> None:
    # The old rule gave each task max(1, int(30 * 0.95 / 64)) = 1 request per period: 64 per 3 s.
    clock = WallClock()
    limiters = [
        TaskLimiter(30, 3.0, tasks=64, lane=i, clock=clock, sleep=clock.sleep) for i in range(64)
    ]
    assert {lim.lanes.budget for lim in limiters} == {28}  # int(30 * 0.95)
    starts = greedy_starts([lim.lanes for lim in limiters], clock.now, total=640)
    assert max_in_window(starts, 3.0) <= 28
    # each task sends once per 64/28 periods, evenly: all 28 slots of a window are used
    assert max_in_window(starts, 3.0) == 28


def test_rate_requests_zero_builds_no_limiter(tmp_path: Path) -> None:
    off = SendSettings(
        journal_key="job/run",
        journal_dir=str(tmp_path),
        api_key=SecretKey(KEY),
        endpoint="http://127.0.0.1:9",
        rate_requests=0,
    )
    client = build_client(off)
    try:
        assert client.sender.rate_limiter is None
    finally:
        client.close()


def _shared(root: Path, lease: str, key: str = KEY) -> SharedBudget:
    return SharedBudget(str(root), SecretKey(key), lease=lease, job=lease, period_s=3.0)


def test_a_second_job_on_the_key_halves_the_first_and_waits_for_it(tmp_path: Path) -> None:
    clock = WallClock()
    first = TaskLimiter(
        3000, 3.0, shared=_shared(tmp_path, "a/run"), clock=clock, sleep=clock.sleep
    )
    assert first.lanes.budget == 2850  # alone: the whole budget (with headroom)
    joined_at = clock.now
    second = TaskLimiter(
        3000, 3.0, shared=_shared(tmp_path, "b/run"), clock=clock, sleep=clock.sleep
    )
    assert second.lanes.budget == 1425
    # the newcomer sends only after the first has seen it and its old pace left the window
    second.acquire()
    assert clock.now >= joined_at + first.refresh_s + 3.0
    first.acquire()  # its refresh is due by now
    assert first.jobs == 2 and first.lanes.budget == 1425
    # a different key has a budget of its own
    other = TaskLimiter(
        3000, 3.0, shared=_shared(tmp_path, "c/run", key="other"), clock=clock, sleep=clock.sleep
    )
    assert other.lanes.budget == 2850
    # the key never appears in the budget directory, only its hash
    names = [str(p) for p in tmp_path.rglob("*")]
    texts = [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    assert any(key_hash(SecretKey(KEY)) in n for n in names)
    assert not any(KEY in n for n in names + texts)


def test_a_dead_jobs_lease_expires_and_its_share_comes_back(tmp_path: Path) -> None:
    clock = WallClock()
    alive = TaskLimiter(
        3000, 3.0, shared=_shared(tmp_path, "a/run"), clock=clock, sleep=clock.sleep
    )
    TaskLimiter(3000, 3.0, shared=_shared(tmp_path, "b/run"), clock=clock, sleep=clock.sleep)
    clock.now += 3.0
    alive.acquire()
    assert alive.jobs == 2
    # b dies: it stops renewing; a keeps sending (and renewing its own lease)
    for _ in range(40):
        clock.now += 1.0
        alive.acquire()
    assert alive.jobs == 1 and alive.lanes.budget == 2850


def test_retry_after_pauses_every_task_of_every_job_on_the_key(tmp_path: Path) -> None:
    clock = WallClock()
    mono = WallClock(500.0)  # the transport's monotonic clock
    tasks = [
        TaskLimiter(
            300,
            3.0,
            tasks=2,
            lane=i,
            shared=_shared(tmp_path, "a/run"),
            clock=clock,
            sleep=clock.sleep,
            monotonic=mono,
        )
        for i in range(2)
    ]
    tasks[0].acquire()
    tasks[1].acquire()
    tasks[0].pause_until(mono.now + 2.0)  # task 0 got "429, Retry-After: 2"
    paused_from = clock.now
    tasks[1].acquire()  # the other task waits it out too
    assert clock.now >= paused_from + 2.0
    later_job = TaskLimiter(300, 3.0, shared=_shared(tmp_path, "b/run"), clock=clock)
    assert later_job.shared is not None and later_job.shared.paused_until() >= paused_from + 2.0


def _events(n: int, prefix: str) -> dict[str, list[object]]:
    cols: dict[str, list[object]] = {c: [] for c in INPUT_COLUMNS}
    for i in range(n):
        mid = f"{prefix}-{i:04d}"
        payload = (
            '{"type":"track","userId":"u%d","event":"E","messageId":"%s","properties":{}}'
            % (i, mid)
        ).encode()
        for name, value in zip(
            INPUT_COLUMNS,
            (f"u{i}", mid, "track", "E", payload, None, "insert", 1, "h", False, False),
            strict=True,
        ):
            cols[name].append(value)
    return cols


def test_two_jobs_sending_at_once_share_one_keys_budget(tmp_path: Path) -> None:
    """Two jobs (two engines in threads) on one key: no 3-s window above the budget."""
    budget = 40
    with Emulator(keys=(KEY,)) as emu:

        def job(name: str) -> None:
            send = SendSettings(
                journal_key=f"{name}/run",
                journal_dir=str(tmp_path / "journal"),
                api_key=SecretKey(KEY),
                endpoint=emu.url,
                rate_requests=budget,
                budget_dir=str(tmp_path / "budget"),
                max_batch_messages=1,
            )
            run_partition([_events(70, name)], send, batch_id=0, partition_id=0)

        threads = [threading.Thread(target=job, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert len(emu.message_id_counts()) == 140
        log = emu.request_log()
    starts = [r.at for r in log]
    assert max_in_window(starts, 3.0) <= budget


def test_a_stopped_run_gives_its_share_back_at_once(tmp_path: Path) -> None:
    clock = WallClock()
    send = SendSettings(
        journal_key="a/run",
        journal_dir=str(tmp_path / "journal"),
        api_key=SecretKey(KEY),
        rate_requests=3000,
        budget_dir=str(tmp_path),
    )
    TaskLimiter(3000, 3.0, shared=_shared(tmp_path, "a/run"), clock=clock)
    release(send)  # run_sync does this when its query stops
    newcomer = TaskLimiter(3000, 3.0, shared=_shared(tmp_path, "b/run"), clock=clock)
    assert newcomer.jobs == 1 and newcomer.lanes.budget == 2850
    assert newcomer.acquire() == 0.0  # no join wait: nobody else is sending
