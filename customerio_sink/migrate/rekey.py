"""Re-keying: move people to a new user id scheme, with lineage that survives the change.

    cio.migrate.rekey(spark, pairs="main.crm.id_changes", old="legacy_id", new="user_id",
                      ledger=..., job="people-rekey", traits_from="main.crm.people",
                      traits=["email", "plan"])

For each ``(old, new)`` pair the sink sends an ``alias`` (``previousId`` = old, ``userId`` = new:
Customer.io merges the old profile into the new id), then — once the alias is acknowledged — an
``identify`` of the new id (with ``traits`` read from ``traits_from``, keyed by the new id, when
given; that table's id column has the name ``new``). Both go through the sink as batch
writes whose run ids are derived from the pairs, so a re-run after an interruption resumes
without sending anything twice. Each acknowledged alias adds a row to the ledger's ``key_map``
table (old key, new key, the alias's ``messageId``), which :func:`customerio_sink.trace`
follows: tracing an old key also shows the new key's rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from customerio_sink.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from customerio_sink.spark.mapping import MessageMapping
    from customerio_sink.spark.runner import SyncResult

__all__ = ["Declared", "RekeyResult", "rekey"]


@dataclass(frozen=True)
class Declared:
    """A :class:`MessageMapping` given as it is (for calls the mapping classes do not name)."""

    mapping: MessageMapping

    def to_mapping(self) -> MessageMapping:
        """The :class:`MessageMapping` it was given, unchanged."""
        return self.mapping


@dataclass
class RekeyResult:
    """The alias and identify writes, and how many pairs the ``key_map`` holds now."""

    alias: SyncResult
    identify: SyncResult | None
    mapped: int

    def summary_line(self) -> str:
        """One line: aliases (and identifies) acked, and the pairs the key map holds."""
        line = f"re-keyed: {self.alias.totals['acked']} aliases acked"
        if self.identify is not None:
            line += f", {self.identify.totals['acked']} identifies acked"
        return f"{line}; {self.mapped} pairs in the key map"


def _pairs(spark: SparkSession, pairs: str | DataFrame, old: str, new: str) -> DataFrame:
    from pyspark.sql import functions as F

    if isinstance(pairs, str):
        df = spark.read.format("delta").load(pairs) if "/" in pairs else spark.table(pairs)
    else:
        df = pairs
    for flag, column in (("old", old), ("new", new)):
        if column not in df.columns:
            raise ConfigError(
                f"rekey: {flag}={column!r} is not a column of the pairs (columns: "
                f"{', '.join(df.columns)})"
            )
    df = df.select(
        F.col(old).cast("string").alias("old_id"), F.col(new).cast("string").alias("new_id")
    )
    bad = df.where(
        F.col("old_id").isNull()
        | (F.col("old_id") == "")
        | F.col("new_id").isNull()
        | (F.col("new_id") == "")
        | (F.col("old_id") == F.col("new_id"))
    ).first()
    if bad is not None:
        raise ConfigError(
            f"rekey: pair old={bad.old_id!r} new={bad.new_id!r}: both ids are needed and must "
            "differ (fix or drop the row)"
        )
    df = df.distinct()
    split = (
        df.groupBy("old_id").agg(F.collect_set("new_id").alias("n")).where("size(n) > 1").first()
    )
    if split is not None:
        raise ConfigError(
            f"rekey: old id {split.old_id!r} maps to {len(split.n)} new ids "
            f"({', '.join(sorted(split.n)[:3])}); fix: one new id per old id"
        )
    return df


def _digest(df: DataFrame) -> str:
    rows = sorted((r.old_id, r.new_id) for r in df.collect())
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def rekey(
    spark: SparkSession,
    *,
    pairs: str | DataFrame,
    ledger: Any,
    job: str,
    old: str = "old_id",
    new: str = "new_id",
    traits_from: str | DataFrame | None = None,
    traits: list[str] | None = None,
    identify: bool = True,
    progress: Any = print,
    **settings: Any,
) -> RekeyResult:
    """Alias every old id to its new id, identify the new ids, and record the key map.

    ``pairs`` is a table (name or path) or DataFrame with columns ``old`` and ``new``. Other
    keyword arguments are sink options (``api_key``, ``endpoint``, ``rate_requests``...).

    Raises:
        ConfigError: a missing column, an empty or unchanged id, or an old id with two new ids
            (naming the pair), before anything is sent.
    """
    from customerio_sink.spark.api import _ledger, sync
    from customerio_sink.spark.mapping import MessageMapping, to_messages
    from customerio_sink.spark.mappings import People

    df = _pairs(spark, pairs, old, new).cache()
    run = f"rekey-{_digest(df)}"
    alias_map = MessageMapping(
        source="queue", call="alias", user_id="new_id", previous_id="old_id", row_id="old_id"
    )
    declared: Any = Declared(alias_map)
    alias = sync(
        spark,
        source=df,
        mapping=declared,
        ledger=ledger,
        job=job,
        run_id=f"{run}-alias",
        progress=progress,
        **settings,
    )
    led = _ledger(ledger)
    ids = to_messages(df, alias_map, job=job).select("message_id", "payload")
    acked = led.read(spark, "acks").where(f"job = '{job}'").select("message_id").distinct()
    done = ids.join(acked, "message_id").select(
        "message_id",
        _json("payload", "previousId").alias("old_id"),
        _json("payload", "userId").alias("new_id"),
    )
    ident = None
    if identify:
        people = done.select("new_id").distinct()
        mapping = People(user_id="new_id", source="queue")
        if traits_from is not None:
            src = traits_from
            if isinstance(src, str):
                src = spark.read.format("delta").load(src) if "/" in src else spark.table(src)
            people = people.join(src, src[new] == people["new_id"], "left").drop(new)
            mapping = People(user_id="new_id", traits=traits or [], source="queue")
        ident = sync(
            spark, source=people, mapping=mapping, ledger=ledger, job=job,
            run_id=f"{run}-identify", progress=progress, **settings,
        )  # fmt: skip
    mapped = _record_map(spark, led, job, run, done)
    df.unpersist()
    return RekeyResult(alias=alias, identify=ident, mapped=mapped)


def _json(column: str, name: str) -> Any:
    from pyspark.sql import functions as F

    return F.get_json_object(column, f"$.{name}")


def _record_map(spark: SparkSession, led: Any, job: str, run: str, done: DataFrame) -> int:
    """Merge the acknowledged pairs into ``key_map`` (idempotent: one row per pair)."""
    from pyspark.sql import functions as F

    led.ensure_tables(spark)
    rows = done.select(
        F.lit(job).alias("job"),
        F.lit(run).alias("run_id"),
        F.col("old_id").alias("old_key"),
        F.col("new_id").alias("new_key"),
        F.col("message_id").alias("alias_message_id"),
        F.current_timestamp().alias("mapped_at"),
    )
    view = f"cio_key_map_{run.replace('-', '_')}"
    rows.createOrReplaceTempView(view)
    spark.sql(
        f"MERGE INTO {led.table('key_map')} t USING {view} s ON t.job = s.job AND "
        "t.old_key = s.old_key AND t.new_key = s.new_key WHEN NOT MATCHED THEN INSERT *"
    )
    spark.catalog.dropTempView(view)
    return int(led.read(spark, "key_map").where(F.col("job") == job).count())
