"""The request log of code outside the sink: :class:`RequestLog` keeps a client's HTTP requests
for the ledger's ``requests`` table (importable from :mod:`customerio_sink.spark.ledger`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from customerio_sink.spark.ledger import Ledger

__all__ = ["RequestLog"]


class RequestLog:
    """A ``CustomerIOClient(on_request=...)`` hook that keeps requests for the ``requests`` table.

    Lets code outside the sink (notebooks, one-off scripts) put its HTTP requests in the same
    request log the sink writes::

        log = RequestLog(ledger, job="notebook")
        with CustomerIOClient(key, on_request=log) as client:
            client.identify(user_id="u1", traits={"plan": "pro"})
        log.flush(spark)   # appends one row per request, then forgets them
    """

    def __init__(self, ledger: Ledger, job: str, run_id: str = "client") -> None:
        self.ledger = ledger
        self.job = job
        self.run_id = run_id
        self.rows: list[dict[str, Any]] = []

    def __call__(self, metrics: Any) -> None:
        self.rows.append(
            {
                "job": self.job,
                "run_id": self.run_id,
                "batch_id": -1,
                "endpoint": metrics.endpoint,
                "status": metrics.status,
                "attempts": metrics.attempts,
                "latency_ms": float(metrics.latency_ms),
                "request_bytes": metrics.request_bytes,
                "message_count": metrics.message_count,
                "error_class": metrics.error_class,
                "started_at": datetime.now(timezone.utc),
            }
        )

    def flush(self, spark: SparkSession) -> int:
        """Append the kept rows to the ``requests`` table; returns how many."""
        rows, self.rows = self.rows, []
        if rows:
            self.ledger.ensure_tables(spark)
            self.ledger.append_rows(spark, rows, "requests")
        return len(rows)
