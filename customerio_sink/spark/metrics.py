"""Per-batch metrics of the sink in a Delta ``metrics`` table, written by a streaming listener.

:func:`install_metrics` adds a :class:`MetricsListener` to the session. On every progress event
of a query it tracks (by query name = job name) it queues the batch; one metrics thread in the
driver process reads that batch's ledger rows (``foreachBatch`` writes them before the batch
ends) and the event's source offsets, and appends one row (the listener thread itself writes
nothing). Each row (idempotent per job, run and batch):

- delivery: ``rows_in``, ``acked``, ``dead_lettered``, ``parked``, ``skipped``, ``requests``,
  ``requests_ok`` (2xx), ``http_429`` (requests that ended on a 429), ``retries`` (HTTP attempts
  beyond the first), latency percentiles of the requests (``latency_p50/p95/p99_ms``),
  ``success_rate`` (acked / final outcomes), ``dead_letter_rate`` (dead letters / rows in),
  ``dead_by_reason`` (the field and rule code of each dead letter, e.g. ``event:required``);
- time: ``batch_seconds`` (lineage start to end), ``lag_versions`` (source table versions
  committed but not yet read when the batch's row is written: Delta sources),
  ``budget_share`` (requests over what the key's budget allowed in the batch's time, when a
  budget is set);
- business counts from the acknowledgements: ``events_by_name`` (track calls), people
  identified (identify calls, distinct keys), ``objects_changed`` (group calls of objects and
  ``Object Deleted``) and ``relationship_changes`` (group calls of a person-object key and
  ``Relationship Deleted``). Per hour or per day: sum them over ``finished_at``;
- data quality (:func:`quality_fields`): ``failure_rate_by_rule`` (dead letters per rule code /
  rows in), ``completeness`` (rows not missing a required value), ``duplicate_rate`` (repeated
  rows skipped / rows in), ``schema_compliance`` (rows whose values have the shape and size
  Customer.io takes).

:func:`record_batch_metrics` computes and writes one batch's row directly (e.g. from a job).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql.streaming import StreamingQueryListener

from customerio_sink.spark.ops_tables import append_ops, ensure_ops_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from customerio_sink.spark.ledger import Ledger
    from customerio_sink.spark.options import SinkOptions

__all__ = [
    "MetricsListener",
    "install_metrics",
    "lag_versions",
    "latest_delta_version",
    "record_batch_metrics",
]

log = logging.getLogger(__name__)

_COUNT_COLUMNS = ("rows_in", "acked", "dead_lettered", "parked", "skipped", "requests")


def lag_versions(
    sources: list[dict[str, Any]], latest_version: Callable[[str], int | None]
) -> int | None:
    """Delta source versions committed but not yet read when the batch ended (None: no Delta
    source). ``sources`` are the progress's sources (``description``, ``endOffset``);
    ``latest_version`` gives a table path's newest version.

    Delta's end offset names the version to read next (``index`` -1: from its start) or the one
    being read (``index`` >= 0): either way versions ``reservoirVersion`` and after are behind.
    """
    lag = None
    for source in sources:
        description = str(source.get("description") or "")
        end = source.get("endOffset")
        try:
            end = json.loads(end) if isinstance(end, str) else end
        except ValueError:
            continue
        if not (description.startswith("DeltaSource[") and isinstance(end, dict)):
            continue
        if "reservoirVersion" not in end:
            continue
        latest = latest_version(description[len("DeltaSource[") : -1])
        if latest is None:
            continue
        behind = max(0, int(latest) - int(end["reservoirVersion"]) + 1)
        lag = behind if lag is None else max(lag, behind)
    return lag


def latest_delta_version(spark: SparkSession, path: str) -> int | None:
    """The newest version of the Delta table at ``path`` (None if it cannot be read)."""
    from delta.tables import DeltaTable

    try:
        row = DeltaTable.forPath(spark, path).history(1).select("version").first()
    except Exception:
        return None
    return None if row is None else int(row[0])


def record_batch_metrics(
    spark: SparkSession,
    ledger: Ledger,
    *,
    job: str,
    run_id: str,
    batch_id: int,
    rate_requests: int | None = None,
    rate_period_s: float = 3.0,
    lag: int | None = None,
) -> dict[str, Any] | None:
    """Compute and append the metrics row of one batch from its ledger rows (None: the batch
    has no lineage row yet)."""
    from customerio_sink.spark.ledger_rows import BatchKey

    key = BatchKey(job, run_id, batch_id)

    def of_batch(name: str) -> Any:
        return key.rows_of(ledger, spark, name)

    lineage = of_batch("lineage").limit(1).collect()
    if not lineage:
        return None
    line = lineage[0]
    req = _request_stats(of_batch("requests"))
    dead_by_reason = _dead_by_reason(of_batch("dead_letters"))
    acks = of_batch("acks")
    business = _business_counts(acks)
    events = _events_by_name(acks)
    counts = {name: int(line[name] or 0) for name in _COUNT_COLUMNS}
    final = counts["acked"] + counts["dead_lettered"] + counts["parked"]
    seconds = (
        (line.finished_at - line.started_at).total_seconds()
        if line.finished_at and line.started_at
        else None
    )
    row = {
        "job": job,
        "run_id": run_id,
        "batch_id": batch_id,
        **counts,
        **_request_fields(req),
        "success_rate": counts["acked"] / final if final else 1.0,
        "dead_letter_rate": counts["dead_lettered"] / counts["rows_in"]
        if counts["rows_in"]
        else 0.0,
        "dead_by_reason": dead_by_reason,
        "events_by_name": events,
        **_business_fields(business),
        "batch_seconds": seconds,
        "lag_versions": lag,
        "budget_share": _budget_share(counts["requests"], seconds, rate_requests, rate_period_s),
        "started_at": line.started_at,
        "finished_at": line.finished_at,
        **quality_fields(counts["rows_in"], dead_by_reason, line.skipped_by_reason or {}),
    }
    ensure_ops_table(spark, ledger, "metrics")
    append_ops(spark, ledger, "metrics", [row], f"{job}:{run_id}:metrics", batch_id)
    return row


def quality_fields(
    rows_in: int, dead_by_reason: dict[str, int], skipped_by_reason: dict[str, int]
) -> dict[str, Any]:
    """The data-quality columns of a batch's metrics row, from its dead letters by
    ``field:rule`` and its skipped rows by reason: the failure rate of each rule (dead letters
    breaking it / rows in), ``completeness`` (rows not missing a required value),
    ``duplicate_rate`` (repeated rows / rows in) and ``schema_compliance`` (rows whose values
    have the shape and size Customer.io takes)."""
    from customerio_sink.messages.rules import COMPLETENESS_RULES, SCHEMA_RULES

    by_rule: dict[str, int] = {}
    for name, count in dead_by_reason.items():
        rule = name.rsplit(":", 1)[-1]
        by_rule[rule] = by_rule.get(rule, 0) + count
    if not rows_in:
        return {
            "failure_rate_by_rule": {},
            "completeness": 1.0,
            "duplicate_rate": 0.0,
            "schema_compliance": 1.0,
        }
    missing = sum(n for rule, n in by_rule.items() if rule in COMPLETENESS_RULES)
    misshapen = sum(n for rule, n in by_rule.items() if rule in SCHEMA_RULES)
    return {
        "failure_rate_by_rule": {rule: n / rows_in for rule, n in by_rule.items()},
        "completeness": 1 - missing / rows_in,
        "duplicate_rate": skipped_by_reason.get("duplicate", 0) / rows_in,
        "schema_compliance": 1 - misshapen / rows_in,
    }


def _request_stats(requests: DataFrame) -> Any:
    """One row of the batch's requests: count, 2xx, 429s, retries, latency percentiles."""
    from pyspark.sql import functions as F

    return requests.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.when(F.col("status").between(200, 299), 1).otherwise(0)).alias("ok"),
        F.sum(
            F.when(
                (F.col("status") == 429) | (F.col("error_class") == "RateLimitedError"), 1
            ).otherwise(0)
        ).alias("r429"),
        F.sum(F.greatest(F.col("attempts") - 1, F.lit(0))).alias("retries"),
        F.percentile_approx("latency_ms", [0.5, 0.95, 0.99]).alias("p"),
    ).first()


def _request_fields(req: Any) -> dict[str, Any]:
    """The metrics columns from :func:`_request_stats` (zeros and nulls without requests)."""
    pct = list(req["p"]) if req is not None and req["p"] is not None else [None] * 3
    return {
        "requests_ok": int(req["ok"] or 0) if req is not None else 0,
        "http_429": int(req["r429"] or 0) if req is not None else 0,
        "retries": int(req["retries"] or 0) if req is not None else 0,
        "latency_p50_ms": pct[0],
        "latency_p95_ms": pct[1],
        "latency_p99_ms": pct[2],
    }


def _dead_by_reason(dead_letters: DataFrame) -> dict[str, int]:
    """Dead letters per ``field:rule``, the name a Databricks expectation of the catalogue
    uses (e.g. ``event:required``)."""
    from pyspark.sql import functions as F

    dead_reason = F.concat_ws(
        ":", "error_field", F.coalesce("error_rule", "error_class", F.lit("unknown"))
    )
    return {r[0]: int(r[1]) for r in dead_letters.groupBy(dead_reason).count().collect()}


def _business_counts(acks: DataFrame) -> Any:
    """One row of the acknowledged calls: people identified, objects and relationships changed."""
    from pyspark.sql import functions as F

    from customerio_sink.spark.business import relationship_change, relationship_key

    return acks.agg(
        F.countDistinct(F.when(F.col("call_type") == "identify", F.col("source_key"))).alias(
            "people"
        ),
        F.sum(
            F.when(
                ((F.col("call_type") == "group") & ~relationship_key())
                | (F.col("event") == "Object Deleted"),
                1,
            ).otherwise(0)
        ).alias("objects"),
        F.sum(F.when(relationship_change(), 1).otherwise(0)).alias("relationships"),
    ).first()


def _business_fields(business: Any) -> dict[str, int]:
    """The metrics columns from :func:`_business_counts`."""
    return {
        "people_identified": int(business["people"] or 0) if business else 0,
        "objects_changed": int(business["objects"] or 0) if business else 0,
        "relationship_changes": int(business["relationships"] or 0) if business else 0,
    }


def _events_by_name(acks: DataFrame) -> dict[str, int]:
    """Acknowledged track calls per event name."""
    return {
        r[0]: int(r[1])
        for r in acks.where("call_type = 'track' AND event IS NOT NULL")
        .groupBy("event")
        .count()
        .collect()
    }


def _budget_share(
    requests: int, seconds: float | None, rate_requests: int | None, rate_period_s: float
) -> float | None:
    """Requests over what the key's budget allowed in the batch's time (None: no budget)."""
    if rate_requests and seconds:
        allowed = rate_requests * max(seconds, rate_period_s) / rate_period_s
        return round(requests / allowed, 6)
    return None


@dataclass
class _Tracked:
    options: SinkOptions
    done: set[int] = field(default_factory=set)


class MetricsListener(StreamingQueryListener):
    """Queues each progress event of a tracked query; a thread writes its metrics row.

    Track a job with :meth:`track` (its query name is the job name, as ``run_sync`` names it).
    :meth:`wait_for` blocks until a batch's row is written (or ``timeout_s`` passes).
    """

    def __init__(self, spark: SparkSession) -> None:
        self._session = spark
        self._jobs: dict[str, _Tracked] = {}
        self._queue: queue.Queue[tuple[str, str, int, list[dict[str, Any]]]] = queue.Queue()
        self._changed = threading.Condition()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._loop, name="customerio-metrics", daemon=True)
        self._thread.start()

    def track(self, options: SinkOptions) -> None:
        self._jobs[options.job] = _Tracked(options)

    # -- listener callbacks (Spark's listener thread: queue only) ---------------------------

    def onQueryStarted(self, event: Any) -> None:
        pass

    def onQueryProgress(self, event: Any) -> None:
        progress = event.progress
        if progress.name not in self._jobs or not progress.numInputRows:
            return
        sources = [
            {"description": s.description, "endOffset": s.endOffset} for s in progress.sources
        ]
        self._queue.put((progress.name, str(progress.id), int(progress.batchId), sources))

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        pass

    # -- the metrics thread -----------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            job, run_id, batch_id, sources = self._queue.get()
            tracked = self._jobs[job]
            opts = tracked.options
            try:
                lag = lag_versions(sources, lambda path: latest_delta_version(self._session, path))
                record_batch_metrics(
                    self._session,
                    opts.ledger,
                    job=job,
                    run_id=run_id,
                    batch_id=batch_id,
                    rate_requests=opts.rate_requests,
                    rate_period_s=opts.rate_period_s,
                    lag=lag,
                )
            except Exception as exc:  # metrics never fail a sync; logged and kept
                log.warning("metrics of %s batch %s not written: %s", job, batch_id, exc)
                self.errors.append(exc)
            with self._changed:
                tracked.done.add(batch_id)
                self._changed.notify_all()

    def wait_for(self, job: str, batch_ids: set[int], timeout_s: float = 120.0) -> bool:
        """Whether the rows of ``batch_ids`` of ``job`` were written within ``timeout_s``."""
        with self._changed:
            return self._changed.wait_for(
                lambda: batch_ids <= self._jobs[job].done, timeout=timeout_s
            )


def install_metrics(spark: SparkSession, *options: SinkOptions) -> MetricsListener:
    """Add a :class:`MetricsListener` to the session, tracking the jobs of ``options``."""
    listener = MetricsListener(spark)
    for opts in options:
        listener.track(opts)
    spark.streams.addListener(listener)
    return listener
