"""The one-call front door: ``cio.sync(...)``, ``cio.writer(...)``, ``cio.register(spark)``.

    import customerio_sink as cio

    result = cio.sync(spark, source="main.crm.people", mapping=cio.People(user_id="id",
                      traits=["email", "plan"]), checkpoint="/Volumes/main/cio/state/people",
                      ledger="/Volumes/main/cio/ledger")

``source`` is a Delta table (name or path), read as a stream — its change feed or its appends,
as the mapping says — or a DataFrame: a streaming one is used as it is, a static one is sent
once as a batch write (same engine, same ledger, with a run id of its own). The key comes from
``api_key`` (a string, a :class:`~customerio_sink.client.secrets.SecretKey` or :func:`secret`), else
``$CUSTOMERIO_API_KEY``. Every other option of
:class:`~customerio_sink.spark.options.SinkOptions` may be given by keyword.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from customerio_sink.client.secrets import SecretKey
from customerio_sink.errors import ConfigError
from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.mappings import SinkMapping
from customerio_sink.spark.options import SinkOptions, resolve_api_key
from customerio_sink.spark.runner import SyncResult, read_source, run_sync

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from customerio_sink.spark.writer import CustomerIOWriter

__all__ = ["SecretRef", "flush", "options", "register", "secret", "sync", "writer"]

_FIXED = ("job", "mapping", "ledger", "api_key", "endpoint", "region", "dry_run", "source_name")
_TUNABLE = tuple(f.name for f in dataclasses.fields(SinkOptions) if f.name not in _FIXED)


@dataclass(frozen=True)
class SecretRef:
    """A Databricks secret by scope and key name; read when the sink starts, never printed."""

    scope: str
    key: str

    def resolve(self) -> SecretKey:
        """Read the secret now and return it as a :class:`SecretKey` (which never prints its value).

        Raises:
            ConfigError: not on Databricks, where alone secrets can be read (the message names
                the scope and key, never a value).
        """
        found = resolve_api_key(secret_scope=self.scope, secret_key=self.key)
        assert found is not None  # resolve_api_key raises rather than return None here
        return found


def secret(scope: str, key: str) -> SecretRef:
    """The API key from the Databricks secret ``scope``/``key``."""
    return SecretRef(scope, key)


def _ledger(ledger: str | Ledger) -> Ledger:
    if isinstance(ledger, Ledger):
        return ledger
    if isinstance(ledger, str) and ledger.strip():
        return Ledger(path=ledger)
    raise ConfigError(f"ledger: a directory path or cio.Ledger(...), got {ledger!r}")


def _key(api_key: str | SecretKey | SecretRef | None, dry_run: bool) -> SecretKey | None:
    if isinstance(api_key, SecretRef):
        return api_key.resolve()
    if isinstance(api_key, SecretKey) or api_key is None:
        return api_key or resolve_api_key(dry_run=dry_run)
    return resolve_api_key(api_key=api_key)


def _job_name(mapping: SinkMapping, source: Any) -> str:
    base = source.rstrip("/").rsplit("/", 1)[-1] if isinstance(source, str) else "dataframe"
    name = f"{type(mapping).__name__.lower()}-{base}"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:100]


def options(
    mapping: SinkMapping,
    *,
    ledger: str | Ledger,
    job: str,
    api_key: str | SecretKey | SecretRef | None = None,
    endpoint: str | None = None,
    region: str | None = None,
    dry_run: bool = False,
    source_name: str = "",
    **tuning: Any,
) -> SinkOptions:
    """The :class:`SinkOptions` of one sync (checked: unknown or out-of-range options raise)."""
    unknown = sorted(set(tuning) - set(_TUNABLE))
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r} (options: {', '.join(sorted(_TUNABLE))})")
    if not hasattr(mapping, "to_mapping"):
        raise ConfigError(
            "mapping: one of cio.People, cio.Events, cio.Objects, cio.Relationships, "
            f"cio.Devices; got {type(mapping).__name__}"
        )
    return SinkOptions(
        job=job,
        mapping=mapping.to_mapping(),
        ledger=_ledger(ledger),
        api_key=_key(api_key, dry_run),
        endpoint=endpoint,
        region=region,
        dry_run=dry_run,
        source_name=source_name,
        **tuning,
    )


def sync(
    spark: SparkSession,
    *,
    source: str | DataFrame,
    mapping: SinkMapping,
    ledger: str | Ledger,
    checkpoint: str | None = None,
    job: str | None = None,
    api_key: str | SecretKey | SecretRef | None = None,
    trigger: str = "available-now",
    start: str = "backfill",
    front_door: str = "foreachBatch",
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = print,
    reader_options: dict[str, str] | None = None,
    run_id: str | None = None,
    **settings: Any,
) -> SyncResult:
    """Send ``source`` to Customer.io as ``mapping`` says; return what happened.

    A table or a streaming DataFrame runs as a stream (``checkpoint`` required) until it is
    caught up (``trigger="available-now"``, the default) or, for an interval trigger such as
    ``"10 seconds"``, until ``timeout_s`` passes. A static DataFrame is sent once as a batch
    write (through ``front_door``, like a stream); its ``run_id`` (default: a new one, on the
    result as ``query_id``) names its rows in the ledger — give the same ``run_id`` to resume an
    interrupted batch write without sending what it already delivered.

    Raises:
        ConfigError: a bad option, mapping or column (one line, before anything is sent).
    """
    name = job or _job_name(mapping, source)
    source_name = source if isinstance(source, str) else ""
    opts = options(
        mapping, ledger=ledger, job=name, api_key=api_key, source_name=source_name, **settings
    )
    if isinstance(source, str):
        kind = opts.mapping.source
        df = read_source(spark, source, kind=kind, start=start, reader_options=reader_options)
    else:
        df = source
    if not df.isStreaming:
        return _batch(opts, df, run_id, progress, front_door)
    if not checkpoint:
        raise ConfigError("checkpoint: a directory for this sync's stream state is required")
    return run_sync(
        spark,
        opts,
        df,
        checkpoint=checkpoint,
        trigger=trigger,
        front_door=front_door,
        timeout_s=timeout_s,
        progress=progress,
    )


def _batch(
    opts: SinkOptions,
    df: DataFrame,
    run_id: str | None,
    progress: Callable[[str], None] | None,
    front_door: str,
) -> SyncResult:
    from customerio_sink.spark.writer import batch_run_id

    run = batch_run_id(run_id)
    result = SyncResult(job=opts.job, query_id=run)
    if front_door == "datasource":
        result.batches.extend(_batch_through_datasource(opts, df, run))
    elif front_door == "foreachBatch":
        from customerio_sink.spark.writer import CustomerIOWriter

        write = CustomerIOWriter(opts, front_door="batch", run_id=run)
        write(df, 0)
        result.batches.extend(write.history)
    else:
        raise ConfigError(f"front_door: 'foreachBatch' or 'datasource', got {front_door!r}")
    if progress:
        progress(f"{result.summary_line()} (batch write, run id {run})")
    return result


def _batch_through_datasource(opts: SinkOptions, df: DataFrame, run: str) -> list[dict[str, Any]]:
    """``df.write.format("customerio")`` under run id ``run``; its ledger rows once written."""
    from customerio_sink.spark.datasource import ingest_committed, prepare
    from customerio_sink.spark.datasource import register as register_source

    spark = df.sparkSession
    register_source(spark)
    writer = prepare(df, opts).write.format("customerio").options(**opts.to_options())
    writer.option("run_id", run).mode("append").save()
    return ingest_committed(spark, opts, run)


def writer(
    mapping: SinkMapping,
    *,
    ledger: str | Ledger,
    job: str,
    api_key: str | SecretKey | SecretRef | None = None,
    **settings: Any,
) -> CustomerIOWriter:
    """The ``foreachBatch`` function for a stream you build yourself::

    df.writeStream.foreachBatch(cio.writer(cio.People(user_id="id"), ledger=..., job="people"))
    """
    from customerio_sink.spark.writer import CustomerIOWriter

    return CustomerIOWriter(options(mapping, ledger=ledger, job=job, api_key=api_key, **settings))


def register(spark: SparkSession) -> None:
    """Make ``format("customerio")`` available in this session, ledger included.

    Also starts the ledger thread of this process and a listener on this session's queries:
    every batch a ``format("customerio")`` stream or batch write commits is written to the
    ledger with no further call (see :func:`flush` to wait for it). Call it just before
    ``start()`` (it makes ``spark`` the thread's active session, where Spark looks for the
    format).
    """
    from customerio_sink.spark.datasource import register as register_source

    register_source(spark)


def flush(timeout_s: float | None = None) -> list[dict[str, Any]]:
    """Wait until everything ``format("customerio")`` committed in this process is in the ledger.

    The ledger is written in the background as batches commit; call this when you need it
    complete now — e.g. to read the ledger right after ``query.stop()`` or ``save()``. Returns
    the lineage rows written since the previous flush (each with its ``job`` and ``run_id`` —
    how a batch write finds its generated run id). It also runs at interpreter exit.

    Raises:
        TimeoutError: not done within ``timeout_s`` seconds.
        Exception: a ledger write that failed (its batches stay in the journal for the next try).
    """
    from customerio_sink.spark.listener import flush as flush_ledger

    return flush_ledger(timeout_s)
