"""What the emulator saw: request statistics, accepted messages, rejections, messageId counts.

One lock guards it all, so a snapshot (``stats()``) is consistent with ``messages()``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple, TypedDict

from customerio_sink.emulator.ratelimit import WindowPeak
from customerio_sink.emulator.workspace import Workspace

__all__ = ["EmulatorStats", "Recorder", "Rejection"]


class Rejection(TypedDict):
    """One rejected message: ``status`` is the HTTP status its request got, ``index`` its place
    in the batch (``None`` for single-call endpoints). A request rejected before its calls could
    be read (e.g. not JSON) gets one entry with ``messageId`` and ``type`` ``None``."""

    messageId: str | None
    type: str | None
    reasons: list[str]
    status: int
    endpoint: str
    index: int | None


@dataclass
class EmulatorStats:
    """A snapshot of the Pipelines traffic (App API traffic is counted apart, ``app_*``).

    * ``requests`` — Pipelines requests received (including dropped and refused ones);
    * ``messages`` — calls in requests that got as far as validation (= accepted + rejected);
    * ``duplicates`` — accepted messages whose ``messageId`` had already been accepted;
    * ``rejected_requests`` — requests refused as a whole (strict-mode 400s, unreadable or
      oversize bodies);
    * ``status_counts`` — answers written, by HTTP status (dropped connections are not answers:
      see ``dropped_before_read``/``dropped_after_accept``);
    * body sizes are as received on the wire (gzip bodies compressed); ``max_decoded_body_bytes``
      is the largest body after decompression;
    * ``max_requests_in_window`` — most requests received in any sliding rate window;
    * times are epoch seconds.
    """

    requests: int = 0
    messages: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)
    mean_body_bytes: float = 0.0
    max_body_bytes: int = 0
    max_decoded_body_bytes: int = 0
    max_requests_in_window: int = 0
    bytes_total: int = 0
    first_request_at: float | None = None
    last_request_at: float | None = None
    rejected_requests: int = 0
    rate_limited: int = 0
    injected_errors: int = 0
    dropped_before_read: int = 0
    dropped_after_accept: int = 0
    app_requests: int = 0
    app_status_counts: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as a plain dict (``status_counts`` keys stay ints)."""
        return asdict(self)


class RequestRecord(NamedTuple):
    """One answered Pipelines request: ``at`` is its arrival (``time.monotonic()``, the same
    clock as every process on this machine), ``retry_after`` the seconds of a 429's header."""

    at: float
    status: int
    retry_after: float | None


class Recorder:
    """Thread-safe record of the traffic; the :class:`Workspace` is updated under the same lock
    so state follows arrival order exactly."""

    def __init__(self, rate_window_s: float) -> None:
        self.workspace = Workspace()
        self._lock = threading.Lock()
        self._peak = WindowPeak(rate_window_s)
        self._init()

    def _init(self) -> None:
        self._stats = EmulatorStats()
        self._bodies = 0
        self._messages: list[dict[str, Any]] = []
        self._rejections: list[Rejection] = []
        self._ids: Counter[str] = Counter()
        self._answers: list[RequestRecord] = []
        self._peak.reset()

    def reset(self) -> None:
        with self._lock:
            self._init()
            self.workspace.clear()

    def note_request(self, now: float) -> None:
        """A Pipelines request arrived (``now`` is monotonic; the stats keep wall time)."""
        wall = time.time()
        with self._lock:
            stats = self._stats
            stats.requests += 1
            stats.first_request_at = stats.first_request_at or wall
            stats.last_request_at = wall
            self._peak.add(now)
            stats.max_requests_in_window = self._peak.peak

    def note_body(self, wire_bytes: int) -> None:
        with self._lock:
            stats = self._stats
            self._bodies += 1
            stats.bytes_total += wire_bytes
            stats.max_body_bytes = max(stats.max_body_bytes, wire_bytes)
            stats.mean_body_bytes = stats.bytes_total / self._bodies

    def note_decoded(self, decoded_bytes: int) -> None:
        with self._lock:
            self._stats.max_decoded_body_bytes = max(
                self._stats.max_decoded_body_bytes, decoded_bytes
            )

    def note_status(self, status: int, *, app: bool = False) -> None:
        with self._lock:
            stats = self._stats
            counts = stats.app_status_counts if app else stats.status_counts
            counts[status] = counts.get(status, 0) + 1
            if app:
                stats.app_requests += 1

    def note_answer(self, at: float, status: int, retry_after: str | None) -> None:
        """One Pipelines answer: arrival time (monotonic), status, ``Retry-After`` if any."""
        record = RequestRecord(at, status, float(retry_after) if retry_after else None)
        with self._lock:
            self._answers.append(record)

    def request_log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._answers)

    def note_event(self, name: str) -> None:
        """Count one of ``rate_limited``, ``injected_errors``, ``dropped_before_read``,
        ``dropped_after_accept``."""
        with self._lock:
            setattr(self._stats, name, getattr(self._stats, name) + 1)

    def record(
        self,
        accepted: Iterable[Mapping[str, Any]],
        rejected: Iterable[Rejection] = (),
        *,
        unreadable: Rejection | None = None,
        whole_request: bool = False,
    ) -> None:
        """Record full calls: accepted ones update ids, duplicates, messages and the workspace."""
        with self._lock:
            stats = self._stats
            for message in accepted:
                stats.messages += 1
                stats.accepted += 1
                message_id = message.get("messageId")
                if isinstance(message_id, str):
                    stats.duplicates += message_id in self._ids
                    self._ids[message_id] += 1
                self._messages.append(dict(message))
                self.workspace.apply(message)
            self._reject(rejected, unreadable, whole_request)

    def record_ids(
        self,
        accepted_ids: list[str],
        accepted_without_id: int,
        rejected: Iterable[Rejection] = (),
        *,
        unreadable: Rejection | None = None,
        whole_request: bool = False,
    ) -> None:
        """Fast mode: count accepted messages by id only (no message bodies, no workspace)."""
        with self._lock:
            stats = self._stats
            ids = self._ids
            # every accepted id is a duplicate except the first sighting of each (also within
            # this request); counted over the request's distinct ids, not the whole history
            first_seen = sum(1 for message_id in set(accepted_ids) if message_id not in ids)
            stats.duplicates += len(accepted_ids) - first_seen
            ids.update(accepted_ids)
            count = len(accepted_ids) + accepted_without_id
            stats.messages += count
            stats.accepted += count
            self._reject(rejected, unreadable, whole_request)

    def _reject(
        self, rejected: Iterable[Rejection], unreadable: Rejection | None, whole_request: bool
    ) -> None:
        # An unreadable body is listed once, but is not a message.
        stats = self._stats
        stats.rejected_requests += whole_request or unreadable is not None
        if unreadable is not None:
            self._rejections.append(unreadable)
        for rejection in rejected:
            self._rejections.append(rejection)
            stats.messages += 1
            stats.rejected += 1

    def stats(self) -> EmulatorStats:
        with self._lock:
            snapshot = EmulatorStats(**asdict(self._stats))
        return snapshot

    def messages(self, type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self._messages if type is None or m.get("type") == type]

    def rejections(self) -> list[Rejection]:
        with self._lock:
            return [r.copy() for r in self._rejections]

    def message_id_counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._ids)
