"""The operations tables beside the ledger: key audit, erasure audit, metrics and alerts.

They live where the ledger lives (same directory or catalog schema, same prefix) and are created
on first use, like the ledger tables; none of them ever holds a key or a payload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from customerio_sink.spark.ledger import Ledger

__all__ = ["OPS_TABLES", "append_ops", "ensure_ops_table"]

OPS_TABLES: dict[str, str] = {
    # One row per job, run and micro-batch: which secret the batch's key came from, and a
    # one-way fingerprint (8 hex chars of SHA-256) that tells keys apart. Never the key.
    "key_audit": (
        "job STRING, run_id STRING, batch_id BIGINT, key_source STRING, secret_name STRING, "
        "fingerprint STRING, previous_fingerprint STRING, rotated BOOLEAN, read_at TIMESTAMP"
    ),
    # One row per erased person: a keyed hash of the user id (never the id itself), what was
    # sent, what was removed from which ledger table, when and by which job.
    "erasure_audit": (
        "request_id STRING, user_hash STRING, suppressed BOOLEAN, delete_message_id STRING, "
        "delivery STRING, rows_removed MAP<STRING,BIGINT>, erased_by STRING, run_id STRING, "
        "erased_at TIMESTAMP"
    ),
    # One row per job, run and micro-batch (see customerio_sink.spark.metrics).
    "metrics": (
        "job STRING, run_id STRING, batch_id BIGINT, rows_in BIGINT, acked BIGINT, "
        "dead_lettered BIGINT, parked BIGINT, skipped BIGINT, requests BIGINT, "
        "requests_ok BIGINT, http_429 BIGINT, retries BIGINT, latency_p50_ms DOUBLE, "
        "latency_p95_ms DOUBLE, latency_p99_ms DOUBLE, success_rate DOUBLE, "
        "dead_letter_rate DOUBLE, dead_by_reason MAP<STRING,BIGINT>, "
        "events_by_name MAP<STRING,BIGINT>, people_identified BIGINT, objects_changed BIGINT, "
        "relationship_changes BIGINT, batch_seconds DOUBLE, lag_versions BIGINT, "
        "budget_share DOUBLE, started_at TIMESTAMP, finished_at TIMESTAMP, "
        "failure_rate_by_rule MAP<STRING,DOUBLE>, completeness DOUBLE, duplicate_rate DOUBLE, "
        "schema_compliance DOUBLE"
    ),
    # One row per alert that fired (see customerio_sink.spark.alerts).
    "alerts": (
        "rule STRING, job STRING, severity STRING, value DOUBLE, threshold DOUBLE, "
        "message STRING, window_start TIMESTAMP, window_end TIMESTAMP, fired_at TIMESTAMP, "
        "webhook_status INT"
    ),
}


# Operations tables this process has brought up to their declared columns.
_UPGRADED: set[tuple[str, str]] = set()


def ensure_ops_table(spark: SparkSession, ledger: Ledger, name: str) -> None:
    """Create one operations table if it does not exist yet."""
    statement = f"CREATE TABLE IF NOT EXISTS {ledger.table(name)} ({OPS_TABLES[name]}) USING delta"
    try:
        spark.sql(statement)
    except Exception:
        if not ledger._exists(spark, name):  # two writers raced for the first commit
            raise
    if (ledger.table(name), name) not in _UPGRADED:  # an older version's table: add columns
        ledger.add_new_columns(spark, name, OPS_TABLES[name])
        _UPGRADED.add((ledger.table(name), name))


def append_ops(
    spark: SparkSession,
    ledger: Ledger,
    name: str,
    rows: list[dict[str, Any]],
    app_id: str | None = None,
    version: int | None = None,
) -> None:
    """Append plain rows to an operations table (idempotently with ``app_id``/``version``)."""
    if rows:
        ledger._append(spark.createDataFrame(rows, OPS_TABLES[name]), name, app_id, version)
