"""What goes into and comes out of one sending task: :class:`SendSettings` (shipped from the
driver to the executors) and :class:`PartitionSummary` (the counts each task reports back).

Both are re-exported by :mod:`customerio_sink.engine.partition`, where callers import them. Pure
Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from customerio_sink.client.breaker import FAILURE_THRESHOLD, RECOVERY_S
from customerio_sink.client.retry import BASE_DELAY_S, MAX_ATTEMPTS, MAX_DELAY_S, RETRY_AFTER_CAP_S
from customerio_sink.messages.limits import RATE_PERIOD_S, RATE_REQUESTS

#: The HTTP timeout of one request the sink sends (the sink's default, for 500 KB bodies).
SEND_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SendSettings:
    """Everything a sending task needs; picklable, shipped from the driver to executors.

    ``journal_key`` names this job's run in the journal (``<job>/<run id>``).
    ``api_key`` is a :class:`customerio_sink.client.secrets.SecretKey` (its repr hides the value).
    ``rate_requests`` of None (or 0) means no client-side budget at all. The budget is per
    key: every job sending with the key at the same time shares it through ``budget_dir``
    (see :mod:`customerio_sink.client.budget`). ``concurrency`` is how many partitions send at the
    same time: each gets ``job share // concurrency`` (or, below one per window, its own slots
    among ``lanes``, the batch's partition count when known).
    """

    journal_key: str
    journal_dir: str
    api_key: Any = None
    endpoint: str | None = None
    region: str | None = None
    rate_requests: int | None = RATE_REQUESTS
    rate_period_s: float = RATE_PERIOD_S
    rate_headroom: float = 0.95
    concurrency: int = 1
    lanes: int | None = None
    budget_dir: str | None = None
    max_body_bytes: int | None = None
    max_batch_messages: int | None = None
    max_attempts: int = MAX_ATTEMPTS
    base_delay_s: float = BASE_DELAY_S
    max_delay_s: float = MAX_DELAY_S
    retry_after_cap_s: float = RETRY_AFTER_CAP_S
    breaker_threshold: int = FAILURE_THRESHOLD
    breaker_recovery_s: float = RECOVERY_S
    timeout_s: float = SEND_TIMEOUT_S
    gzip: bool = False
    allow_cross_region: bool = False
    on_transient: str = "fail"  # "fail" | "park"
    collapse: bool = False
    # With collapse: order a key's rows by their message's timestamp, not by commit version (a
    # queue of snapshots with latest_per_key; repeated messageIds are duplicates first).
    latest_by_time: bool = False
    dry_run: bool = False
    fsync: bool = False
    # (message field, source column) of the mapping's raw JSON columns, named in dead letters
    # when an input batch's ``raw_json`` spans hold one that is not exactly one JSON object.
    raw_json_columns: tuple[tuple[str, str], ...] = ()
    # A track queue whose event comes from a column: rows naming a semantic event have their
    # fields checked here (customerio_sink.engine.semantic_guard), not in the JVM.
    semantic_guard: bool = False


@dataclass
class PartitionSummary:
    """Counts for one partition attempt; summed by the driver into the lineage row."""

    partition_id: int = 0
    rows_in: int = 0
    acked: int = 0
    dead: int = 0
    parked: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    already_final: int = 0
    requests: int = 0
    request_bytes: int = 0
    in_window: int = 0
    would_send: int = 0
    min_version: int | None = None
    max_version: int | None = None
    # Seconds this task waited for its input (Spark reading and mapping the rows in the JVM,
    # then handing them over as Arrow) and spent in all (input, packing, HTTP, journal).
    input_s: float = 0.0
    task_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def merge(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Sum partition summaries (as dicts) into one batch summary."""
        total: dict[str, Any] = {"skipped": {}, "min_version": None, "max_version": None}
        for part in parts:
            for name, value in part.items():
                if name == "partition_id":
                    continue
                if name in ("min_version", "max_version"):
                    if value is not None:
                        pick = min if name == "min_version" else max
                        current = total[name]
                        total[name] = value if current is None else pick(current, value)
                    continue
                if name == "skipped":
                    for reason, n in value.items():
                        total["skipped"][reason] = total["skipped"].get(reason, 0) + n
                else:
                    total[name] = total.get(name, 0) + value
        return total
