"""One maintenance entry point for the ledger: ``OPTIMIZE`` (Z-order on the lookup columns),
retention (rows older than N days deleted), then ``VACUUM``.

Z-order columns are the ones the sink, replay, trace and erasure look rows up by
(:data:`ZORDER_COLUMNS`); tables without them are only compacted. The ledger tables are not
partitioned: a ledger holds one row per message, and partitions by job or date would mostly
create small files; ``OPTIMIZE`` with Z-order gives the same data skipping on the lookup
columns without them. On Databricks, liquid clustering (``ALTER TABLE ... CLUSTER BY``) can
replace Z-order; ``cluster=True`` sets it (it needs a runtime with liquid clustering).

Every commit of a sink write carries ``userMetadata`` (``customerio-sink <job>:<run>:<table>``
and the batch), so ``DESCRIBE HISTORY`` tells which job and batch changed a ledger table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from customerio_sink.spark.retention import apply_retention, existing_tables, vacuum

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from customerio_sink.spark.ledger import Ledger

__all__ = ["ZORDER_COLUMNS", "maintain", "optimize"]

log = logging.getLogger(__name__)

#: The columns each table is looked up by (replay, trace, erasure, metrics).
ZORDER_COLUMNS: dict[str, tuple[str, ...]] = {
    "acks": ("message_id", "source_key"),
    "dead_letters": ("message_id", "source_key"),
    "retry_queue": ("message_id", "source_key"),
    "skipped": ("message_id", "source_key"),
    "lineage": ("job", "batch_id"),
    "requests": ("job", "batch_id"),
    "metrics": ("job", "finished_at"),
    "key_audit": ("job", "batch_id"),
}


def optimize(spark: SparkSession, ledger: Ledger, name: str, *, cluster: bool = False) -> None:
    """``OPTIMIZE`` one table, Z-ordered (or liquid-clustered) by its lookup columns."""
    from customerio_sink.spark.ledger import TABLE_PROPERTIES

    columns = ZORDER_COLUMNS.get(name, ())
    stats = TABLE_PROPERTIES.get(name, {}).get("delta.dataSkippingStatsColumns")
    if stats:  # Z-order only helps (and Delta only allows it) on columns with statistics
        columns = tuple(c for c in columns if c in stats.split(","))
    table = ledger.table(name)
    if columns and cluster:
        spark.sql(f"ALTER TABLE {table} CLUSTER BY ({', '.join(columns)})")
        spark.sql(f"OPTIMIZE {table}")
    elif columns:
        spark.sql(f"OPTIMIZE {table} ZORDER BY ({', '.join(columns)})")
    else:
        spark.sql(f"OPTIMIZE {table}")


def maintain(
    spark: SparkSession,
    ledger: Ledger,
    *,
    retention_days: int | Mapping[str, int] | None = None,
    vacuum_hours: float | None = 168.0,
    cluster: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Retention (when ``retention_days`` is given), ``OPTIMIZE`` and ``VACUUM`` every existing
    ledger and operations table. Returns what was done: rows deleted per table, tables
    optimized and vacuumed."""
    deleted: dict[str, int] = {}
    if retention_days is not None:
        # Vacuum once, after OPTIMIZE, so the compacted-away files go in the same pass.
        deleted = apply_retention(spark, ledger, retention_days, now=now, vacuum_hours=None)
    tables = existing_tables(spark, ledger)
    for name in tables:
        optimize(spark, ledger, name, cluster=cluster)
        log.info("maintenance: %s optimized", name)
    vacuumed: list[str] = []
    if vacuum_hours is not None:
        for name in tables:
            vacuum(spark, ledger, name, vacuum_hours)
            vacuumed.append(name)
    return {"deleted": deleted, "optimized": tables, "vacuumed": vacuumed}
