"""Retention of the ledger tables: delete rows older than N days, then ``VACUUM``.

Each table has one time column that says when its row happened (:data:`TIME_COLUMNS`). A
retention run deletes, per table, the rows whose time is before ``now - days`` and then vacuums
the table, so the deleted rows also leave the files older table versions still reference
(``VACUUM`` keeps files newer than ``vacuum_hours``, Delta's default 168). Tables without a rule
or that do not exist yet are left alone. Rows with no time (never the case for rows the sink
writes) are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from customerio_sink.errors import ConfigError
from customerio_sink.spark.ledger import commit_metadata

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from customerio_sink.spark.ledger import Ledger

__all__ = ["TIME_COLUMNS", "apply_retention", "existing_tables", "vacuum"]

log = logging.getLogger(__name__)

#: The column that dates each row, per ledger and operations table.
TIME_COLUMNS: dict[str, str] = {
    "acks": "sent_at",
    "dead_letters": "failed_at",
    "retry_queue": "parked_at",
    "lineage": "finished_at",
    "requests": "started_at",
    "skipped": "skipped_at",
    "key_map": "mapped_at",
    "key_audit": "read_at",
    "erasure_audit": "erased_at",
    "metrics": "finished_at",
    "alerts": "fired_at",
}


def existing_tables(spark: SparkSession, ledger: Ledger) -> list[str]:
    """The ledger and operations tables that exist, in :data:`TIME_COLUMNS` order."""
    return [name for name in TIME_COLUMNS if ledger._exists(spark, name)]


def vacuum(spark: SparkSession, ledger: Ledger, name: str, hours: float) -> None:
    """``VACUUM`` one table, keeping files newer than ``hours``."""
    spark.sql(f"VACUUM {ledger.table(name)} RETAIN {float(hours)} HOURS")


def _days_per_table(days: int | Mapping[str, int]) -> dict[str, int]:
    per = {name: days for name in TIME_COLUMNS} if isinstance(days, int) else dict(days)
    unknown = sorted(set(per) - set(TIME_COLUMNS))
    if unknown:
        raise ConfigError(
            f"retention: no ledger table {', '.join(unknown)} (tables: {', '.join(TIME_COLUMNS)})"
        )
    bad = [f"{k}={v}" for k, v in per.items() if not isinstance(v, int) or v < 0]
    if bad:
        raise ConfigError(f"retention: days are whole numbers >= 0, got {', '.join(bad)}")
    return per


def apply_retention(
    spark: SparkSession,
    ledger: Ledger,
    days: int | Mapping[str, int],
    *,
    now: datetime | None = None,
    vacuum_hours: float | None = 168.0,
) -> dict[str, int]:
    """Delete rows older than ``days`` (one number for every table, or per table name), then
    ``VACUUM`` each table that lost rows (``vacuum_hours=None``: no vacuum). ``now`` is the
    wall clock (a fixed time in tests). Returns the rows deleted per table.
    """
    per = _days_per_table(days)
    now = now or datetime.now(timezone.utc)
    deleted: dict[str, int] = {}
    for name in existing_tables(spark, ledger):
        if name not in per:
            continue
        cutoff = now - timedelta(days=per[name])
        column = TIME_COLUMNS[name]
        micros = int(cutoff.timestamp() * 1_000_000)  # an instant: no session time zone involved
        meta = f"customerio-sink retention {name} before {cutoff.isoformat()}"
        with commit_metadata(spark, meta):
            result = spark.sql(
                f"DELETE FROM {ledger.table(name)} WHERE {column} < timestamp_micros({micros})"
            ).collect()
        count = int(result[0][0]) if result and result[0][0] is not None else 0
        deleted[name] = count
        log.info("retention: %s rows of %s older than %s deleted", count, name, cutoff)
        if count and vacuum_hours is not None:
            vacuum(spark, ledger, name, vacuum_hours)
    return deleted
