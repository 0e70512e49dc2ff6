"""Business counts per hour or per day, from the acknowledgements in the ledger.

The metrics table (:mod:`customerio_sink.spark.metrics`) counts per batch; a count of distinct
people does not add up across batches (a person identified in two batches of one day is one
person that day). :func:`business_counts` counts over the ``acks`` table itself, per period:

- ``events_by_name``: acknowledged track calls per event name;
- ``people_identified``: distinct people with an acknowledged identify call;
- ``objects_created`` / ``objects_updated``: objects (group calls whose key is not a
  person-object relationship) whose first acknowledged group call in the ledger falls in the
  period, and the other group calls of objects; ``objects_deleted``: ``Object Deleted`` events;
- ``relationship_changes``: group calls of a person-object key and ``Relationship Deleted``.

Customer.io upserts objects, so "created" means first sent by this ledger's jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["PERIODS", "business_counts", "relationship_change", "relationship_key"]

#: The periods :func:`business_counts` counts over.
PERIODS = ("hour", "day")


def relationship_key() -> Any:
    """True where an ack's ``source_key`` is a person-object relationship (``person:object``,
    an unescaped ``:``); an object's own key escapes any ``:`` it has."""
    from pyspark.sql import functions as F

    return F.col("source_key").rlike(r"(^|[^\\]):")


def relationship_change() -> Any:
    """True where an ack changed a relationship: a group call of a relationship key, or a
    ``Relationship Deleted`` event."""
    from pyspark.sql import functions as F

    return ((F.col("call_type") == "group") & relationship_key()) | (
        F.col("event") == "Relationship Deleted"
    )


def business_counts(
    spark: SparkSession, ledger: Any, *, period: str = "day", job: str | None = None
) -> DataFrame:
    """One row per period (and job) of what the acknowledged calls did: ``period_start``,
    ``job``, ``people_identified``, ``objects_created``, ``objects_updated``,
    ``objects_deleted``, ``relationship_changes`` and ``events_by_name`` (a map), ordered by
    period. ``ledger`` is a :class:`~customerio_sink.spark.ledger.Ledger` or its path;
    ``job`` keeps one job's calls."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from customerio_sink.errors import ConfigError
    from customerio_sink.spark.ledger import Ledger

    if period not in PERIODS:
        raise ConfigError(f"period={period!r}: must be one of {', '.join(PERIODS)}")
    book = ledger if isinstance(ledger, Ledger) else Ledger(path=str(ledger))
    acks = book.read(spark, "acks")
    if job is not None:
        acks = acks.where(F.col("job") == job)
    is_object = (F.col("call_type") == "group") & ~relationship_key()
    first_sent = F.min(F.when(is_object, F.col("sent_at"))).over(
        Window.partitionBy("job", "source_key")
    )
    marked = acks.withColumn("period_start", F.date_trunc(period, "sent_at")).withColumn(
        "first_of_object", is_object & (F.col("sent_at") == first_sent)
    )
    counts = marked.groupBy("period_start", "job").agg(
        F.countDistinct(F.when(F.col("call_type") == "identify", F.col("source_key"))).alias(
            "people_identified"
        ),
        F.countDistinct(F.when(F.col("first_of_object"), F.col("source_key"))).alias(
            "objects_created"
        ),
        F.count(F.when(is_object & ~F.col("first_of_object"), 1)).alias("objects_updated"),
        F.count(F.when(F.col("event") == "Object Deleted", 1)).alias("objects_deleted"),
        F.count(F.when(relationship_change(), 1)).alias("relationship_changes"),
    )
    events = (
        marked.where(F.col("call_type") == "track")
        .groupBy("period_start", "job", "event")
        .count()
        .groupBy("period_start", "job")
        .agg(F.map_from_entries(F.collect_list(F.struct("event", "count"))).alias("events"))
    )
    return (
        counts.join(events, ["period_start", "job"], "left")
        .withColumn(
            "events_by_name",
            F.coalesce("events", F.create_map().cast("map<string,bigint>")),
        )
        .drop("events")
        .orderBy("period_start", "job")
    )
