"""The ledger's table schemas and properties, and the shapes of the rows ingestion reads.

:class:`~customerio_sink.spark.ledger.Ledger` creates the tables from :data:`TABLES` (with
:data:`TABLE_PROPERTIES`) on first use; :mod:`customerio_sink.spark.ledger_ingest` fills them
from a batch's delivery journal (:data:`JOURNAL_SCHEMA`, :data:`SKIPPED_ROW_COLUMNS`).
"""

from __future__ import annotations

__all__ = [
    "JOURNAL_SCHEMA",
    "SKIPPED_ROW_COLUMNS",
    "TABLES",
    "TABLE_PROPERTIES",
    "USER_METADATA_CONF",
]

TABLES: dict[str, str] = {
    "acks": (
        "job STRING, run_id STRING, batch_id BIGINT, message_id STRING, call_type STRING, "
        "event STRING, source_key STRING, commit_version BIGINT, http_status INT, attempts INT, "
        "request_bytes BIGINT, latency_ms DOUBLE, sent_at TIMESTAMP"
    ),
    "dead_letters": (
        "job STRING, run_id STRING, batch_id BIGINT, message_id STRING, call_type STRING, "
        "event STRING, source_key STRING, commit_version BIGINT, payload STRING, "
        "error_class STRING, error_message STRING, http_status INT, failed_at TIMESTAMP, "
        "replayed_at TIMESTAMP, replay_status STRING, error_field STRING, error_rule STRING"
    ),
    "retry_queue": (
        "job STRING, run_id STRING, batch_id BIGINT, message_id STRING, call_type STRING, "
        "event STRING, source_key STRING, commit_version BIGINT, payload STRING, reason STRING, "
        "error_class STRING, parked_at TIMESTAMP, drained_at TIMESTAMP, drain_status STRING, "
        "drain_attempts INT"
    ),
    "lineage": (
        "job STRING, run_id STRING, batch_id BIGINT, front_door STRING, source STRING, "
        "min_commit_version BIGINT, max_commit_version BIGINT, rows_in BIGINT, acked BIGINT, "
        "dead_lettered BIGINT, parked BIGINT, skipped BIGINT, "
        "skipped_by_reason MAP<STRING,BIGINT>, "
        "already_final BIGINT, requests BIGINT, request_bytes BIGINT, in_trigger_window BIGINT, "
        "dry_run BOOLEAN, started_at TIMESTAMP, finished_at TIMESTAMP, sink_version STRING, "
        # Where the batch's time went (foreachBatch door; NULL where a door cannot tell).
        "map_seconds DOUBLE, send_seconds DOUBLE, ledger_seconds DOUBLE, overhead_seconds DOUBLE"
    ),
    "requests": (
        "job STRING, run_id STRING, batch_id BIGINT, endpoint STRING, status INT, attempts INT, "
        "latency_ms DOUBLE, request_bytes BIGINT, message_count INT, error_class STRING, "
        "started_at TIMESTAMP"
    ),
    # One row per source row that was not sent: reason is update_preimage, superseded,
    # unchanged, duplicate or already_delivered; related_message_id is the message sent for the
    # key instead (collapse), the repeated id (duplicate) or the earlier pipeline's id.
    "skipped": (
        "job STRING, run_id STRING, batch_id BIGINT, message_id STRING, call_type STRING, "
        "event STRING, source_key STRING, commit_version BIGINT, reason STRING, "
        "related_message_id STRING, skipped_at TIMESTAMP"
    ),
    # A change of id scheme (see customerio_sink.migrate.rekey): which new key an old one moved
    # to, and the alias call that moved it, so lineage follows a person across the change.
    "key_map": (
        "job STRING, run_id STRING, old_key STRING, new_key STRING, alias_message_id STRING, "
        "mapped_at TIMESTAMP"
    ),
}

#: Table properties set when a ledger table is created. The acks and skipped tables (one row
#: per message) keep file statistics only for the columns they are looked up by: statistics on
#: every column cost about a quarter of the append.
TABLE_PROPERTIES: dict[str, dict[str, str]] = {
    "acks": {"delta.dataSkippingStatsColumns": "job,run_id,batch_id,message_id,sent_at"},
    "skipped": {
        "delta.dataSkippingStatsColumns": "job,run_id,batch_id,message_id,source_key,reason"
    },
}

USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"

#: Columns of the rows a caller adds to a batch's skipped rows (``ingest(extra_skipped=...)``).
SKIPPED_ROW_COLUMNS = (
    "message_id",
    "call_type",
    "event",
    "source_key",
    "commit_version",
    "reason",
    "related_id",
)

#: One journal line (see :mod:`customerio_sink.engine.journal`); every field optional.
JOURNAL_SCHEMA = (
    "outcome STRING, ids ARRAY<STRING>, keys ARRAY<STRING>, types ARRAY<STRING>, "
    "events ARRAY<STRING>, versions ARRAY<BIGINT>, payloads ARRAY<STRING>, reasons ARRAY<STRING>, "
    "status INT, attempts INT, latency_ms DOUBLE, request_bytes BIGINT, at STRING, "
    "error_class STRING, endpoint STRING, message_count INT, started_at STRING"
)
