"""One request budget per workspace key, shared by every job that sends with that key.

Customer.io counts requests per workspace, so two jobs with one key must split the budget.
They meet in a *budget directory* every driver and executor can reach with plain file I/O (a
local path on one machine, ``/dbfs/...`` or a ``/Volumes/...`` path on a cluster; by default
``<journal dir>/_budget``)::

    <budget dir>/<sha256 of the key, 16 hex>/leases/<lease>.json   one per sending job run
    <budget dir>/<sha256 of the key, 16 hex>/pause_until           a 429's Retry-After, shared

A job run holds a *lease* (``job``, ``heartbeat``, ``expires``, ``sending_from``) while it
sends; its tasks renew it as they go, and a job that dies stops renewing, so its lease expires
after ``ttl_s`` and the others take its share back. Each job takes ``budget * headroom //
live leases`` and splits that between its tasks
(:class:`~customerio_sink.client.rate_limit.LaneLimiter`).
Tasks count the live leases again every ``refresh_s``; a job that joins while others are live
waits ``refresh_s + period`` before its first request, so by then the others have lowered their
share and their older, faster requests have left every window.

A 429's ``Retry-After`` is written to ``pause_until`` (wall-clock time); every task of every job
on the key reads it before each request and waits it out.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from customerio_sink.client.rate_limit import LaneLimiter
from customerio_sink.errors import ConfigError

__all__ = ["SharedBudget", "TaskLimiter", "key_hash", "release", "task_limiter"]

DEFAULT_TTL_S = 30.0
_PAUSE = "pause_until"
# How long a task waits for its job's first task to decide when the job may send.
_DECIDE_POLLS = 100
_DECIDE_POLL_S = 0.01


def key_hash(api_key: Any) -> str:
    """16 hex digits naming a key's budget directory (a hash, never the key)."""
    raw = api_key.reveal() if hasattr(api_key, "reveal") else str(api_key)
    return hashlib.sha256(b"customerio-sink budget\0" + raw.encode("utf-8")).hexdigest()[:16]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class SharedBudget:
    """The leases and the shared pause of one key's budget directory (wall-clock times)."""

    def __init__(
        self,
        root: str,
        api_key: Any,
        *,
        lease: str,
        job: str,
        period_s: float,
        ttl_s: float = DEFAULT_TTL_S,
        refresh_s: float | None = None,
    ) -> None:
        self.dir = Path(root) / key_hash(api_key)
        self.leases = self.dir / "leases"
        self.lease_name = hashlib.sha256(lease.encode("utf-8")).hexdigest()[:24]
        self.lease_path = self.leases / f"{self.lease_name}.json"
        self.job = job
        self.ttl_s = float(ttl_s)
        self.refresh_s = float(refresh_s if refresh_s is not None else period_s)
        self.join_wait_s = self.refresh_s + float(period_s) + 0.25
        try:
            self.leases.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"budget directory {root}: cannot create it ({exc.strerror}); give budget_dir "
                "a path every driver and executor can write"
            ) from None

    def _live(self, now: float) -> dict[str, dict[str, Any]]:
        live = {}
        for path in self.leases.glob("*.json"):
            data = _read_json(path)
            expires = float(data.get("expires", 0)) if data else 0.0
            if expires > now:
                live[path.stem] = data or {}
            elif expires < now - self.ttl_s:
                with contextlib.suppress(OSError):
                    path.unlink()  # long dead: tidy up (best effort)
        return live

    def join(self, now: float) -> float:
        """Hold (or renew) this run's lease; returns when it may send (later than ``now`` when
        other jobs were already sending, so they can lower their share first).

        A new lease is written (undecided) *before* the others are counted: of two jobs that
        join at the same moment, at least one sees the other and waits, so two jobs never both
        start at the whole budget. A task of a job whose first task is still deciding waits for
        the decision (a few file reads)."""
        mine = self._live(now).get(self.lease_name)
        for _ in range(_DECIDE_POLLS):
            if mine is None or mine.get("sending_from") is not None:
                break
            time.sleep(_DECIDE_POLL_S)
            mine = _read_json(self.lease_path)
        if mine is not None:
            decided = mine.get("sending_from")
            sending_from = float(decided) if decided is not None else now + self.join_wait_s
        else:
            self._renew(now, None)  # announce first, then look
            others = [name for name in self._live(now) if name != self.lease_name]
            sending_from = now + (self.join_wait_s if others else 0.0)
        self._renew(now, sending_from)
        return sending_from

    def _renew(self, now: float, sending_from: float | None) -> None:
        _write_json(
            self.lease_path,
            {
                "job": self.job,
                "heartbeat": now,
                "expires": now + self.ttl_s,
                "sending_from": sending_from,
            },
        )

    def live_count(self, now: float, *, sending_from: float) -> int:
        """Live leases (this one included, renewed when half its time is gone)."""
        live = self._live(now)
        mine = live.get(self.lease_name)
        if mine is None or float(mine.get("expires", 0)) - now < self.ttl_s / 2:
            self._renew(now, sending_from)
            live[self.lease_name] = {}
        return len(live)

    def leave(self) -> None:
        """Give the share back now (a stopped job); otherwise the lease expires by itself."""
        with contextlib.suppress(OSError):
            self.lease_path.unlink()

    def paused_until(self) -> float:
        try:
            return float((self.dir / _PAUSE).read_text(encoding="utf-8") or 0.0)
        except (OSError, ValueError):
            return 0.0

    def pause(self, until: float) -> None:
        """Hold every request of every job on this key until wall-clock time ``until``."""
        if until <= self.paused_until():
            return
        path = self.dir / _PAUSE
        tmp = path.with_name(f".{_PAUSE}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(repr(until), encoding="utf-8")
        os.replace(tmp, path)


class TaskLimiter:
    """One sending task's limiter: its lane of its job's share, the shared pause, the leases.

    ``budget`` is the whole key's budget per ``per_seconds``; the job's part is
    ``int(budget * headroom) // live jobs``. Without ``shared`` the job is alone (tests).
    Times are wall-clock (``clock``); :meth:`pause_until` takes the transport's monotonic time.
    """

    def __init__(
        self,
        budget: int,
        per_seconds: float,
        *,
        headroom: float = 0.95,
        tasks: int = 1,
        lanes: int | None = None,
        lane: int = 0,
        shared: SharedBudget | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = max(1, int(budget * headroom))
        self.shared = shared
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.refresh_s = shared.refresh_s if shared is not None else float(per_seconds)
        now = clock()
        self._sending_from = shared.join(now) if shared is not None else now
        self._refreshed = now
        self._paused = 0.0
        self.jobs = shared.live_count(now, sending_from=self._sending_from) if shared else 1
        self.lanes = LaneLimiter(
            self._job_budget(), per_seconds, tasks=tasks, lanes=lanes, lane=lane
        )

    def __repr__(self) -> str:
        return f"TaskLimiter({self.lanes!r}, jobs={self.jobs})"

    def _job_budget(self) -> int:
        return max(1, self.total // max(1, self.jobs))

    def _refresh(self, now: float) -> None:
        if self.shared is None:
            return
        self._paused = max(self._paused, self.shared.paused_until())
        if now - self._refreshed >= self.refresh_s:
            self._refreshed = now
            jobs = self.shared.live_count(now, sending_from=self._sending_from)
            if jobs != self.jobs:
                self.jobs = jobs
                self.lanes.set_budget(self._job_budget())

    def acquire(self) -> float:
        """Wait until this task may start a request; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._refresh(now)
                start = max(self.lanes.next_start(now), self._paused, self._sending_from)
                if start <= now:
                    self.lanes.commit(now)
                    return waited
            # Sleep in steps, so a pause or a new job seen meanwhile is honoured.
            step = min(start - now, self.refresh_s)
            self._sleep(step)
            waited += step

    def pause_until(self, until: float) -> None:
        """A 429's pause (``until`` on the transport's monotonic clock), for every task."""
        wall = self._clock() + (until - self._monotonic())
        with self._lock:
            self._paused = max(self._paused, wall)
        if self.shared is not None:
            self.shared.pause(wall)

    def close(self) -> None:
        """Nothing to release: the lease outlives the task (the job is still sending)."""


def _shared_budget(settings: Any) -> SharedBudget | None:
    if not (settings.rate_requests and settings.budget_dir and settings.api_key is not None):
        return None
    return SharedBudget(
        settings.budget_dir,
        settings.api_key,
        lease=settings.journal_key,
        job=settings.journal_key.split("/", 1)[0],
        period_s=settings.rate_period_s,
    )


def release(settings: Any) -> None:
    """Give a finished run's share back to the other jobs on its key at once (otherwise its
    lease expires by itself after ``DEFAULT_TTL_S``). Best effort: never raises."""
    with contextlib.suppress(Exception):
        shared = _shared_budget(settings)
        if shared is not None:
            shared.leave()


def task_limiter(settings: Any, lane: int) -> TaskLimiter | None:
    """The limiter of one sending task (``settings``: an engine ``SendSettings``); None when
    the budget is off (``rate_requests`` 0 or None)."""
    if not settings.rate_requests:
        return None
    return TaskLimiter(
        settings.rate_requests,
        settings.rate_period_s,
        headroom=settings.rate_headroom,
        tasks=max(1, settings.concurrency),
        lanes=settings.lanes,
        lane=lane,
        shared=_shared_budget(settings),
    )
