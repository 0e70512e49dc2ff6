"""The ledger: acknowledgements, dead letters, the retry queue, lineage and the request log, as
Delta tables created on first use from their schemas (``TABLES``).

Every write of one micro-batch is idempotent per ``(job, run, batch_id)``, so a replayed batch
(the checkpoint had not recorded its commit) writes nothing twice: writes carry Delta's
``txnAppId``/``txnVersion`` writer options — except a foreachBatch stream's first attempt of a
batch, which claims the batch's journal (``_ingest.started``) and appends plainly; a later
attempt finds the claim and keeps the rows an earlier one committed (see
:func:`~customerio_sink.spark.ledger_rows.append_batch`).

``run`` is the streaming query id, which is kept in the checkpoint and changes when a checkpoint
is reset — so a reset job, whose batch ids start again at 0, is not mistaken for a replay.

The rows come from the delivery journal (:mod:`customerio_sink.engine.journal`), which the sending
tasks wrote as they went; :meth:`Ledger.ingest` turns one batch's journal into table rows.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from customerio_sink.errors import ConfigError
from customerio_sink.spark.ledger_ingest import ingest_batch, run_concurrently
from customerio_sink.spark.ledger_requests import RequestLog
from customerio_sink.spark.ledger_rows import BatchKey
from customerio_sink.spark.ledger_rows import reason_columns as reason_columns
from customerio_sink.spark.ledger_tables import (
    JOURNAL_SCHEMA,
    TABLE_PROPERTIES,
    TABLES,
    USER_METADATA_CONF,
)
from customerio_sink.spark.ledger_tables import SKIPPED_ROW_COLUMNS as SKIPPED_ROW_COLUMNS

# The table schemas (ledger_tables), a batch's ingestion (ledger_ingest, which reads the journal
# with ledger_frames and builds the table rows with ledger_rows) and the RequestLog
# (ledger_requests) live in modules of their own; their names stay importable from here.

if TYPE_CHECKING:
    from datetime import datetime

    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "JOURNAL_SCHEMA",
    "TABLES",
    "TABLE_PROPERTIES",
    "Ledger",
    "RequestLog",
    "commit_metadata",
    "run_concurrently",
]

#: Ledger tables that gained columns in a later version (checked by ensure_tables, once per
#: process and ledger, so a job starting on an old ledger adds them).
GROWN_TABLES = ("dead_letters",)

#: How often a CREATE TABLE is tried while another job may be creating the same table, and the
#: first wait between tries (growing linearly: 0.2 + 0.4 + … ≈ 3 s in all).
CREATE_ATTEMPTS = 6
CREATE_WAIT_S = 0.2
_CREATING = ("DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION", "ProtocolChanged", "Concurrent")


def _another_job_creating(exc: BaseException) -> bool:
    """Whether a failed CREATE TABLE looks like another job's creation of it in progress."""
    text = str(exc)
    return any(marker in text for marker in _CREATING)


def _pause(seconds: float) -> None:
    time.sleep(seconds)


# Ledgers whose tables this process has brought up to the declared columns (see ensure_tables).
_UPGRADED: set[str] = set()
# Ledger tables this process has seen exist after its CREATE TABLE (see _create_one).
_CREATED: set[str] = set()


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
    # A customerio_sink.spark.protect.PayloadCipher: dead-letter and retry-queue payloads are stored
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
        """Add the declared columns an older version's table lacks. Only a table whose columns
        are all declared ones is a ledger table of an older version; any other table is left
        as it is, so writing to it fails loudly instead of it being bent into shape."""
        for name in GROWN_TABLES:  # only these have gained columns since tables were created
            self.add_new_columns(spark, name, TABLES[name])

    def add_new_columns(self, spark: SparkSession, name: str, ddl: str) -> None:
        """Add the columns of ``ddl`` that table ``name`` lacks, when every column it has is
        one of ``ddl``'s (see :meth:`ensure_tables`)."""
        have = {c.lower() for c in self.read(spark, name).columns}
        declared = spark.createDataFrame([], ddl).schema.fields
        if not have <= {f.name.lower() for f in declared}:
            return
        missing = [
            f"{f.name} {f.dataType.simpleString()}" for f in declared if f.name.lower() not in have
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
            self._create_one(spark, name, statement)

    def _create_one(self, spark: SparkSession, name: str, statement: str) -> None:
        """Run one CREATE TABLE, allowing for another job creating the same table right now.

        Two jobs sharing a fresh ledger may both see no table. The loser gets Delta's
        ProtocolChangedException (fine: the table is there), or — when it looks while the winner
        has made the folder but not yet its first commit — either
        DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION or a CREATE that does nothing. Then it waits
        for that commit, a few times, and gives up with a ConfigError naming the folder.
        """
        target = self.table(name)
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                spark.sql(statement)
            except Exception as exc:
                if not _another_job_creating(exc) and not self._exists(spark, name):
                    raise
            if target in _CREATED or self._exists(spark, name):
                _CREATED.add(target)
                return
            if attempt < CREATE_ATTEMPTS:
                _pause(CREATE_WAIT_S * attempt)
        where = self.location(name) if not self.schema else target
        raise ConfigError(
            f"ledger table {name!r}: {where} holds files but is not a Delta table (no job "
            "finished creating it); point ledger_path at an empty folder or remove those files"
        )

    def _exists(self, spark: SparkSession, name: str) -> bool:
        """Whether ledger table ``name`` is a Delta table now. Plain SQL, so it works on Spark
        Connect too (``DeltaTable.isDeltaTable`` needs Delta's Connect plugin on the server)."""
        if self.schema:
            return bool(spark.catalog.tableExists(f"{self.schema}.{self.prefix}{name}"))
        try:
            row = spark.sql(f"DESCRIBE DETAIL {self.table(name)}").first()
        except Exception:  # not a Delta table (yet): no table, or its first commit still missing
            return False
        return row is not None and str(row["format"]).lower() == "delta"

    def read(self, spark: SparkSession, name: str) -> DataFrame:
        """One ledger table (``"acks"``, ``"dead_letters"``, ``"skipped"`` … a key of ``TABLES``) as
        a DataFrame, from the metastore schema or the Delta path, whichever the ledger uses."""
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
        self,
        df: DataFrame,
        name: str,
        app_id: str | None = None,
        version: int | None = None,
        *,
        txn: bool = True,
    ) -> None:
        """Append to a ledger table; with ``app_id``/``version``, idempotently (Delta txn) —
        unless ``txn`` is false (the caller knows the rows cannot be there yet: see
        :func:`~customerio_sink.spark.ledger_rows.append_batch`); the commit is labelled either
        way."""
        writer = df.write.format("delta").mode("append")
        if app_id is not None:
            if txn:
                writer = writer.option("txnAppId", f"{app_id}:{name}")
                writer = writer.option("txnVersion", version)
            # Change tracking: which job, run and batch wrote this commit (DESCRIBE HISTORY's
            # userMetadata), after the session's own (the bundle's target and git commit).
            meta = f"customerio-sink {app_id} batch {version}"
            deployed = df.sparkSession.conf.get(USER_METADATA_CONF, None)
            writer = writer.option("userMetadata", f"{deployed}; {meta}" if deployed else meta)
        if name == "lineage":  # a ledger made by an older version gains the newer columns
            writer = writer.option("mergeSchema", "true")
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
        claim: bool = False,
    ) -> dict[str, Any]:
        """Write one batch's journal into the ledger tables and its lineage row; return lineage.

        Idempotent: every table write carries ``txnAppId=<job>:<run>:<table>`` and
        ``txnVersion=batch_id`` — unless ``claim`` (the caller is the only process that writes
        this batch's ledger rows, as a stream's foreachBatch is): then the attempt that claims
        the batch's journal first and sent the whole batch appends without Delta's costly txn
        check, and any later attempt keeps what an earlier one committed
        (:func:`~customerio_sink.spark.ledger_rows.append_batch`).

        The rows and counts of final outcomes come from everything the journal holds for the
        batch (distinct message ids across every attempt), so a re-run that found everything
        already sent still writes the batch's acks, dead letters and retry-queue rows, and its
        lineage adds up. ``summary`` (the last attempt's counts) is
        used as a shortcut only when it provably covers the journal: one complete attempt per
        partition and nothing already final.

        Skipped rows come from one complete attempt per partition (every attempt decides the
        same skips); ``extra_skipped`` (columns :data:`SKIPPED_ROW_COLUMNS`, already counted in
        ``summary``) adds rows the caller kept from the engine, in the same idempotent write.
        """
        return ingest_batch(
            self,
            spark,
            BatchKey(job, run_id, batch_id),
            summary,
            front_door=front_door,
            source=source,
            started_at=started_at,
            dry_run=dry_run,
            extra_skipped=extra_skipped,
            claim=claim,
        )


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


@contextmanager
def commit_metadata(spark: SparkSession, meta: str) -> Iterator[None]:
    """Delta commits made inside (a MERGE, a DELETE) carry ``meta`` as ``userMetadata`` in
    ``DESCRIBE HISTORY``, after the session's own (the bundle's target and git commit): the
    session's conf is set for the block and put back after it. SQL and ``DeltaTable`` commands
    take no per-command option, as appends do."""
    deployed = spark.conf.get(USER_METADATA_CONF, None)
    spark.conf.set(USER_METADATA_CONF, f"{deployed}; {meta}" if deployed else meta)
    try:
        yield
    finally:
        if deployed is None:
            spark.conf.unset(USER_METADATA_CONF)
        else:
            spark.conf.set(USER_METADATA_CONF, deployed)
