"""The ledger: acknowledgements, dead letters, the retry queue, lineage and the request log, as
Delta tables created on first use from the schemas below.

Every write of one micro-batch is idempotent per ``(job, run, batch_id)``: it carries Delta's
``txnAppId``/``txnVersion`` writer options, so a replayed batch (the checkpoint had not recorded
its commit) writes nothing twice. ``run`` is the streaming query id, which is kept in the
checkpoint and changes when a checkpoint is reset — so a reset job, whose batch ids start again
at 0, is not mistaken for a replay.

The rows come from the delivery journal (:mod:`customerio_sink.journal`), which the sending tasks
wrote as they went; :meth:`Ledger.ingest` turns one batch's journal into table rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customerio_sink import journal
from customerio_sink.__version__ import __version__

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "JOURNAL_SCHEMA",
    "TABLES",
    "TABLE_PROPERTIES",
    "Ledger",
    "RequestLog",
    "run_concurrently",
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
        "dry_run BOOLEAN, started_at TIMESTAMP, finished_at TIMESTAMP, sink_version STRING"
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

# Ledgers whose tables this process has brought up to the declared columns (see ensure_tables).
_UPGRADED: set[str] = set()

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

#: One journal line (see :mod:`customerio_sink.journal`); every field optional.
JOURNAL_SCHEMA = (
    "outcome STRING, ids ARRAY<STRING>, keys ARRAY<STRING>, types ARRAY<STRING>, "
    "events ARRAY<STRING>, versions ARRAY<BIGINT>, payloads ARRAY<STRING>, reasons ARRAY<STRING>, "
    "status INT, attempts INT, latency_ms DOUBLE, request_bytes BIGINT, at STRING, "
    "error_class STRING, endpoint STRING, message_count INT, started_at STRING"
)


def run_concurrently(writes: list[Callable[[], None]]) -> None:
    """Run independent ledger writes at the same time (each is its own Delta commit).

    A Delta append is mostly fixed cost (snapshot, stats, commit) plus its Spark job; the jobs of
    different tables overlap on a cluster's idle slots. The threads inherit the calling thread's
    Spark local properties (job group, streaming query id). The first failure is raised after
    every write has finished, so no write is left running behind the caller's back.
    """
    if len(writes) <= 1:
        for write in writes:
            write()
        return
    import threading

    from pyspark import InheritableThread, SparkContext
    from pyspark.sql.utils import is_remote

    # Spark Connect has no local properties to inherit (and InheritableThread wants a session)
    classic = SparkContext._active_spark_context is not None and not is_remote()
    thread_class: Any = InheritableThread if classic else threading.Thread
    errors: list[BaseException] = []

    def guarded(write: Callable[[], None]) -> None:
        try:
            write()
        except BaseException as exc:  # re-raised on the calling thread below
            errors.append(exc)

    threads = [thread_class(target=guarded, args=(w,)) for w in writes[1:]]
    for thread in threads:
        thread.start()
    guarded(writes[0])
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@dataclass(frozen=True)
class Ledger:
    """Where the ledger tables live: a directory (``path``) or a catalog schema (``schema``).

    ``journal_dir`` must be reachable with plain file I/O from the driver and every executor
    (default: ``<path>/_journal``; required with ``schema``, e.g. a ``/Volumes/...`` path).
    """

    path: str | None = None
    schema: str | None = None
    journal_dir: str | None = None
    prefix: str = ""
    # A customerio_sink.protect.PayloadCipher: dead-letter and retry-queue payloads are stored
    # encrypted with it (None: stored as sent).
    cipher: Any = field(default=None, compare=False, repr=False)
    journal_shared: bool = False  # the user says a plain local journal_dir is on a shared FS

    def __post_init__(self) -> None:
        from customerio_sink.errors import ConfigError

        if bool(self.path) == bool(self.schema):
            raise ConfigError("ledger: give exactly one of path (a directory) or schema")
        if self.schema and not self.journal_dir:
            raise ConfigError(
                "ledger: with a catalog schema, also give journal_dir (a path every executor "
                "can write with plain file I/O, e.g. a /Volumes/... directory)"
            )
        self.journal  # noqa: B018 - an object-store location fails here, before any query starts

    @property
    def journal(self) -> str:
        """The journal directory as a plain file path (``dbfs:/x`` is its FUSE mount ``/dbfs/x``).

        Raises ConfigError for a URL without a FUSE path (``s3://``, ``abfss://``, ``gs://`` …).
        """
        if self.journal_dir:
            return journal_location(self.journal_dir, "journal_dir")
        return journal_location(f"{self.path}/_journal", "ledger_path")

    def table(self, name: str) -> str:
        """A name usable in SQL and ``spark.table``/``DataFrameWriter``."""
        if self.schema:
            return f"{self.schema}.{self.prefix}{name}"
        return f"delta.`{self.location(name)}`"

    def location(self, name: str) -> str:
        """The directory of a ledger table (``path`` ledgers)."""
        return f"{self.path}/{self.prefix}{name}"

    def ensure_tables(self, spark: SparkSession) -> None:
        """Create every ledger table that does not exist yet (safe to call every batch), and add
        the columns a newer version of the package declares to tables an older one created
        (checked once per process and ledger)."""
        self._create_tables(spark)
        where = self.table("")
        if where not in _UPGRADED:
            self._add_new_columns(spark)
            _UPGRADED.add(where)

    def _add_new_columns(self, spark: SparkSession) -> None:
        for name, ddl in TABLES.items():
            have = {c.lower() for c in self.read(spark, name).columns}
            declared = spark.createDataFrame([], ddl).schema.fields
            missing = [
                f"{f.name} {f.dataType.simpleString()}"
                for f in declared
                if f.name.lower() not in have
            ]
            if missing:
                spark.sql(f"ALTER TABLE {self.table(name)} ADD COLUMNS ({', '.join(missing)})")

    def _create_tables(self, spark: SparkSession) -> None:
        for name, ddl in TABLES.items():
            props = TABLE_PROPERTIES.get(name, {})
            extra = (
                " TBLPROPERTIES (" + ", ".join(f"'{k}' = '{v}'" for k, v in props.items()) + ")"
                if props
                else ""
            )
            statement = f"CREATE TABLE IF NOT EXISTS {self.table(name)} ({ddl}) USING delta{extra}"
            try:
                spark.sql(statement)
            except Exception:
                # Two jobs sharing a fresh ledger may both see no table and race for its first
                # commit; Delta lets one win (the other gets ProtocolChangedException). Fine if
                # the table is there now.
                if not self._exists(spark, name):
                    raise

    def _exists(self, spark: SparkSession, name: str) -> bool:
        if self.schema:
            return bool(spark.catalog.tableExists(f"{self.schema}.{self.prefix}{name}"))
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(spark, self.location(name)))

    def read(self, spark: SparkSession, name: str) -> DataFrame:
        return (
            spark.table(self.table(name))
            if self.schema
            else spark.read.format("delta").load(self.location(name))
        )

    def append_rows(self, spark: SparkSession, rows: list[dict[str, Any]], name: str) -> None:
        """Append plain rows (dicts with the table's columns) to one ledger table."""
        if rows:
            self._append(spark.createDataFrame(rows, TABLES[name]), name)

    def _append(
        self, df: DataFrame, name: str, app_id: str | None = None, version: int | None = None
    ) -> None:
        """Append to a ledger table; with ``app_id``/``version``, idempotently (Delta txn)."""
        writer = df.write.format("delta").mode("append")
        if app_id is not None:
            writer = writer.option("txnAppId", f"{app_id}:{name}").option("txnVersion", version)
            # Change tracking: which job, run and batch wrote this commit (DESCRIBE HISTORY's
            # userMetadata), after the session's own (the bundle's target and git commit).
            meta = f"customerio-sink {app_id} batch {version}"
            deployed = df.sparkSession.conf.get(USER_METADATA_CONF, None)
            writer = writer.option("userMetadata", f"{deployed}; {meta}" if deployed else meta)
        if self.schema:
            writer.saveAsTable(self.table(name))
        else:
            writer.save(self.location(name))

    # -- ingestion ---------------------------------------------------------------------------

    def ingest(
        self,
        spark: SparkSession,
        *,
        job: str,
        run_id: str,
        batch_id: int,
        summary: dict[str, Any],
        front_door: str,
        source: str,
        started_at: datetime,
        dry_run: bool = False,
        extra_skipped: DataFrame | None = None,
    ) -> dict[str, Any]:
        """Write one batch's journal into the ledger tables and its lineage row; return lineage.

        Idempotent: every table write carries ``txnAppId=<job>:<run>:<table>`` and
        ``txnVersion=batch_id``. The rows and counts of final outcomes come from everything the
        journal holds for the batch (distinct message ids across every attempt), so a re-run
        that found everything already sent still writes the batch's acks, dead letters and
        retry-queue rows, and its lineage adds up. ``summary`` (the last attempt's counts) is
        used as a shortcut only when it provably covers the journal: one complete attempt per
        partition and nothing already final.

        Skipped rows come from one complete attempt per partition (every attempt decides the
        same skips); ``extra_skipped`` (columns :data:`SKIPPED_ROW_COLUMNS`, already counted in
        ``summary``) adds rows the caller kept from the engine, in the same idempotent write.
        """
        from pyspark.sql import functions as F

        app_id = f"{job}:{run_id}"
        directory = journal.batch_dir(self.journal, f"{job}/{run_id}", batch_id)
        counts = {journal.ACKED: 0, journal.DEAD: 0, journal.PARKED: 0}
        requests = 0
        versions: tuple[Any, Any] = (summary.get("min_version"), summary.get("max_version"))
        writes: list[Callable[[], None]] = []
        cached: DataFrame | None = None
        skipped_rows = extra_skipped
        if not dry_run and directory.is_dir():
            outcomes, reqs, exact = self._journal_frames(spark, directory)
            # Only a batch that skipped rows pays for the extra append (a Delta commit).
            engine_skips = (
                self._skipped_frame(spark, directory)
                if any(int(n) for n in summary.get("skipped", {}).values())
                else None
            )
            if engine_skips is not None:
                skipped_rows = (
                    engine_skips
                    if skipped_rows is None
                    else engine_skips.unionByName(skipped_rows.select(*SKIPPED_ROW_COLUMNS))
                )
            # The summary is only this attempt's: it matches the journal only when no earlier
            # attempt of the batch finished anything (a re-run after the sends finished counts
            # everything as already final and would otherwise write an empty ledger).
            exact = exact and not int(summary.get("already_final", 0))
            if outcomes is not None:
                if exact:
                    # One complete attempt per partition: the engine's counts are the rows.
                    for name, key in (
                        (journal.ACKED, "acked"),
                        (journal.DEAD, "dead"),
                        (journal.PARKED, "parked"),
                    ):
                        counts[name] = int(summary.get(key, 0))
                else:
                    # A replay: the same message may be in several attempts; keep one.
                    outcomes = (
                        outcomes.where(F.col("outcome").isin(*journal.FINAL_OUTCOMES))
                        .dropDuplicates(["message_id"])
                        .cache()
                    )
                    for outcome, n in outcomes.groupBy("outcome").count().collect():
                        counts[outcome] = n
                    stats = outcomes.agg(F.min("commit_version"), F.max("commit_version")).first()
                    versions = (stats[0], stats[1]) if stats else (None, None)
                    cached = outcomes
                writes += self._outcome_writes(outcomes, counts, job, run_id, batch_id, app_id)
            if reqs is not None:
                requests = int(summary.get("requests", 0)) if exact else reqs.count()
                if requests:
                    request_rows = reqs.select(
                        F.lit(job).alias("job"),
                        F.lit(run_id).alias("run_id"),
                        F.lit(batch_id).cast("bigint").alias("batch_id"),
                        "endpoint",
                        "status",
                        "attempts",
                        "latency_ms",
                        "request_bytes",
                        "message_count",
                        "error_class",
                        F.to_timestamp("started_at").alias("started_at"),
                    )
                    writes.append(lambda: self._append(request_rows, "requests", app_id, batch_id))
        if not dry_run and skipped_rows is not None:
            writes.append(partial(self._skipped_write, skipped_rows, job, run_id, batch_id, app_id))
        if dry_run:
            counts = {
                journal.ACKED: 0,
                journal.DEAD: int(summary.get("dead", 0)),
                journal.PARKED: int(summary.get("parked", 0)),
            }
            requests = int(summary.get("requests", 0))
        skipped_by_reason = {k: int(v) for k, v in summary.get("skipped", {}).items()}
        if dry_run:
            skipped_by_reason["dry_run_would_send"] = int(summary.get("would_send", 0))
        lineage = {
            "job": job,
            "run_id": run_id,
            "batch_id": batch_id,
            "front_door": front_door,
            "source": source,
            "min_commit_version": versions[0],
            "max_commit_version": versions[1],
            "rows_in": int(summary.get("rows_in", 0)),
            "acked": counts[journal.ACKED],
            "dead_lettered": counts[journal.DEAD],
            "parked": counts[journal.PARKED],
            "skipped": sum(skipped_by_reason.values()),
            "skipped_by_reason": skipped_by_reason,
            "already_final": int(summary.get("already_final", 0)),
            "requests": requests if not dry_run else int(summary.get("requests", 0)),
            "request_bytes": int(summary.get("request_bytes", 0)),
            "in_trigger_window": int(summary.get("in_window", 0)),
            "dry_run": dry_run,
            "started_at": started_at,
            "finished_at": datetime.now(timezone.utc),
            "sink_version": __version__,
        }
        try:
            # The tables of one batch are written at the same time; lineage last, so a lineage
            # row always means the batch's other rows are in.
            run_concurrently(writes)
        finally:
            if cached is not None:
                cached.unpersist()
        lineage["finished_at"] = datetime.now(timezone.utc)
        self._append(
            spark.createDataFrame([lineage], TABLES["lineage"]), "lineage", app_id, batch_id
        )
        return lineage

    def _skipped_frame(self, spark: SparkSession, directory: Path) -> DataFrame | None:
        """The skipped rows of one complete attempt per partition (the newest), if any."""
        newest: dict[str, Path] = {}
        for path in directory.glob("part-*.outcomes.parquet"):
            partition = path.name.split("-")[1]
            if partition not in newest or path.stat().st_mtime > newest[partition].stat().st_mtime:
                newest[partition] = path
        if not newest:
            return None
        frame = spark.read.parquet(*[str(p) for p in sorted(newest.values())])
        if "related_id" not in frame.columns:  # written by an older sink version
            return None
        return frame.where(f"outcome = '{journal.SKIPPED}'").select(*SKIPPED_ROW_COLUMNS)

    def _skipped_write(
        self, rows: DataFrame, job: str, run_id: str, batch_id: int, app_id: str
    ) -> None:
        from pyspark.sql import functions as F

        frame = rows.select(
            F.lit(job).alias("job"),
            F.lit(run_id).alias("run_id"),
            F.lit(batch_id).cast("bigint").alias("batch_id"),
            "message_id",
            "call_type",
            "event",
            "source_key",
            F.col("commit_version").cast("bigint").alias("commit_version"),
            "reason",
            F.col("related_id").alias("related_message_id"),
            F.current_timestamp().alias("skipped_at"),
        )
        self._append(frame, "skipped", app_id, batch_id)

    def _journal_frames(
        self, spark: SparkSession, directory: Path
    ) -> tuple[DataFrame | None, DataFrame | None, bool]:
        """(outcomes, requests, exact) for one batch's journal.

        Complete task attempts left Parquet tables; attempts that crashed left only JSONL,
        which is parsed for them. ``exact`` is true when every partition had exactly one,
        complete attempt (no duplicates possible, the engine's counts hold).
        """
        from pyspark.sql import functions as F

        jsonl = sorted(directory.glob("part-*.jsonl"))
        stems = [p.name[: -len(".jsonl")] for p in jsonl]
        complete = [s for s in stems if (directory / f"{s}.outcomes.parquet").exists()]
        crashed = [str(directory / f"{s}.jsonl") for s in stems if s not in complete]
        partitions = [s.split("-")[1] for s in stems]
        exact = not crashed and len(set(partitions)) == len(partitions)
        frames_out: list[DataFrame] = []
        frames_req: list[DataFrame] = []
        if complete:
            frames_out.append(
                spark.read.parquet(*[str(directory / f"{s}.outcomes.parquet") for s in complete])
            )
            frames_req.append(
                spark.read.parquet(*[str(directory / f"{s}.requests.parquet") for s in complete])
            )
        if crashed:
            raw = spark.read.schema(JOURNAL_SCHEMA).json(crashed)
            frames_out.append(
                raw.where(F.col("outcome").isin(*journal.FINAL_OUTCOMES))
                .select(
                    "*",
                    F.posexplode(F.arrays_zip("ids", "keys", "types", "events", "versions")).alias(
                        "pos", "m"
                    ),
                )
                .select(
                    "outcome",
                    F.col("m.ids").alias("message_id"),
                    F.col("m.types").alias("call_type"),
                    F.col("m.events").alias("event"),
                    F.col("m.keys").alias("source_key"),
                    F.col("m.versions").alias("commit_version"),
                    F.col("status").alias("http_status"),
                    "attempts",
                    "request_bytes",
                    "latency_ms",
                    "at",
                    F.element_at("payloads", F.col("pos") + 1).alias("payload"),
                    F.element_at("reasons", F.col("pos") + 1).alias("reason"),
                    "error_class",
                    F.lit(None).cast("string").alias("related_id"),
                )
            )
            frames_req.append(
                raw.where("outcome = 'request'").select(
                    "endpoint",
                    "status",
                    "attempts",
                    "latency_ms",
                    "request_bytes",
                    "message_count",
                    "error_class",
                    "started_at",
                )
            )
        if not frames_out:
            return None, None, exact
        outcomes, reqs = frames_out[0], frames_req[0]
        for extra in frames_out[1:]:
            outcomes = outcomes.unionByName(extra)
        for extra in frames_req[1:]:
            reqs = reqs.unionByName(extra)
        return outcomes, reqs, exact

    def _outcome_writes(
        self,
        outcomes: DataFrame,
        counts: dict[str, int],
        job: str,
        run_id: str,
        batch_id: int,
        app_id: str,
    ) -> list[Callable[[], None]]:
        """The appends of one batch's final outcomes (acks, dead letters, retry queue)."""
        from pyspark.sql import functions as F

        base: list[Any] = [
            F.lit(job).alias("job"),
            F.lit(run_id).alias("run_id"),
            F.lit(batch_id).cast("bigint").alias("batch_id"),
            "message_id",
            "call_type",
            "event",
            "source_key",
            "commit_version",
        ]
        at = F.to_timestamp("at")
        frames: list[tuple[DataFrame, str]] = []
        if counts[journal.ACKED]:
            frames.append(
                (
                    outcomes.where("outcome = 'acked'").select(
                        *base,
                        "http_status",
                        "attempts",
                        "request_bytes",
                        "latency_ms",
                        at.alias("sent_at"),
                    ),
                    "acks",
                )
            )
        if counts[journal.DEAD]:
            frames.append(
                (
                    outcomes.where("outcome = 'dead'").select(
                        *base,
                        "payload",
                        "error_class",
                        F.coalesce("reason", "error_class").alias("error_message"),
                        "http_status",
                        at.alias("failed_at"),
                        F.lit(None).cast("timestamp").alias("replayed_at"),
                        F.lit(None).cast("string").alias("replay_status"),
                        *reason_columns(F.col("reason"), F.col("error_class")),
                    ),
                    "dead_letters",
                )
            )
        if counts[journal.PARKED]:
            frames.append(
                (
                    outcomes.where("outcome = 'parked'").select(
                        *base,
                        "payload",
                        "reason",
                        "error_class",
                        at.alias("parked_at"),
                        F.lit(None).cast("timestamp").alias("drained_at"),
                        F.lit(None).cast("string").alias("drain_status"),
                        F.lit(0).alias("drain_attempts"),
                    ),
                    "retry_queue",
                )
            )
        if self.cipher is not None:
            from customerio_sink.spark.keys import resolve_cipher

            cipher = resolve_cipher(self.cipher)
            frames = [
                (cipher.encrypt_columns(df, ["payload"]) if name != "acks" else df, name)
                for df, name in frames
            ]
        return [partial(self._append, df, name, app_id, batch_id) for df, name in frames]


def reason_columns(reason: Any, error_class: Any) -> list[Any]:
    """``error_field`` and ``error_rule`` of dead letters, split from the reason in SQL (the
    same split as :func:`customerio_sink.rules.split_reason`)."""
    from pyspark.sql import functions as F

    from customerio_sink.rules import REASON_FIELD_PATTERN, REASON_RULE_PATTERN, RULE_OF_ERROR_CLASS

    field = F.regexp_extract(reason, REASON_FIELD_PATTERN, 1)
    code = F.regexp_extract(reason, REASON_RULE_PATTERN, 1)
    by_class = F.create_map(*(F.lit(x) for pair in RULE_OF_ERROR_CLASS.items() for x in pair))
    fallback = F.coalesce(
        F.element_at(by_class, F.coalesce(error_class, F.lit(""))), F.lit("unknown")
    )
    return [
        F.when(field != "", field).alias("error_field"),
        F.when(code != "", code).otherwise(fallback).alias("error_rule"),
    ]


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


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def journal_location(location: str, option: str) -> str:
    """``location`` as a path every process opens with plain file I/O, or ConfigError.

    ``file:/x`` is ``/x``; ``dbfs:/x`` is ``/dbfs/x`` (Databricks' FUSE mount, like
    ``/Volumes/...``); any other URL scheme (object stores) has no such path.
    """
    from customerio_sink.errors import ConfigError

    match = _URL.match(location)
    if match is None or len(match.group(1)) == 1:  # no scheme, or a Windows drive letter
        return location
    scheme = match.group(1).lower()
    rest = location[match.end() :]
    if scheme == "file":
        return "/" + rest.lstrip("/") if rest.startswith("/") else rest
    if scheme == "dbfs":
        return "/dbfs/" + rest.lstrip("/")
    raise ConfigError(
        f"{option} {location.split('?')[0]!r}: the delivery journal needs a path every executor "
        f"writes with plain file I/O, and a {scheme}:// URL is not one; give journal_dir "
        "(--journal-dir) a FUSE path such as /Volumes/<catalog>/<schema>/<volume>/journal or "
        "/dbfs/..., or a shared mount"
    )


def check_journal_shared(spark: SparkSession, ledger: Ledger) -> None:
    """Refuse a plain local journal directory on a multi-node cluster (ConfigError).

    Executors write the journal and the driver reads it, so on a cluster whose master is not
    ``local…`` it must be a filesystem they share: ``/Volumes/...`` and ``/dbfs/...`` are;
    any other directory is taken to be executor-local unless ``journal_shared`` says it is
    shared (an NFS mount, say).
    """
    try:
        master = str(spark.conf.get("spark.master", "") or "")
    except Exception:  # a Connect server may not show it: Connect runs on clusters
        master = ""
    check_journal_for_master(master, ledger)


def check_journal_for_master(master: str, ledger: Ledger) -> None:
    """:func:`check_journal_shared` for a known ``spark.master`` value."""
    from customerio_sink.errors import ConfigError

    path = ledger.journal
    if ledger.journal_shared or path.startswith(SHARED_PREFIXES) or master.startswith("local"):
        return
    raise ConfigError(
        f"journal {path!r} is a local directory, but the cluster "
        f"({master or 'Spark Connect'}) runs executors on other machines that cannot see it: "
        "give journal_dir (--journal-dir) a shared path (/Volumes/... or /dbfs/...), or set "
        "journal_shared=true (--journal-shared) if this directory is on a filesystem every "
        "node mounts"
    )


SHARED_PREFIXES = ("/Volumes/", "/dbfs/")
