"""One micro-batch's delivery journal (:mod:`customerio_sink.engine.journal`) as DataFrames.

Every task attempt of a batch leaves ``part-<partition>-<attempt>.jsonl`` in the batch's
journal directory; an attempt that completed also left ``.outcomes.parquet`` and
``.requests.parquet`` tables of the same records. :func:`journal_frames` reads the outcomes and
requests of every attempt, :func:`skipped_frame` the skipped rows of one attempt per partition.
"""

from __future__ import annotations

from functools import reduce
from typing import TYPE_CHECKING

from customerio_sink.engine import journal
from customerio_sink.spark.ledger_tables import JOURNAL_SCHEMA, SKIPPED_ROW_COLUMNS

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import DataFrame, SparkSession

__all__ = ["journal_frames", "skipped_frame"]


def journal_frames(
    spark: SparkSession, directory: Path
) -> tuple[DataFrame | None, DataFrame | None, bool]:
    """(outcomes, requests, exact) for one batch's journal.

    Complete task attempts left Parquet tables; attempts that crashed left only JSONL,
    which is parsed for them. ``exact`` is true when every partition had exactly one,
    complete attempt (no duplicates possible, the engine's counts hold).
    """
    jsonl = sorted(directory.glob("part-*.jsonl"))
    stems = [p.name[: -len(".jsonl")] for p in jsonl]
    complete = [s for s in stems if (directory / f"{s}.outcomes.parquet").exists()]
    crashed = [str(directory / f"{s}.jsonl") for s in stems if s not in complete]
    partitions = [s.split("-")[1] for s in stems]
    exact = not crashed and len(set(partitions)) == len(partitions)
    frames_out: list[DataFrame] = []
    frames_req: list[DataFrame] = []
    if complete:
        frames_out += _outcome_tables(
            spark, [directory / f"{s}.outcomes.parquet" for s in complete]
        )
        frames_req.append(
            spark.read.parquet(*[str(directory / f"{s}.requests.parquet") for s in complete])
        )
    if crashed:
        raw = spark.read.schema(JOURNAL_SCHEMA).json(crashed)
        frames_out.append(_crashed_outcomes(raw))
        frames_req.append(_crashed_requests(raw))
    if not frames_out:
        return None, None, exact
    return _union(frames_out), _union(frames_req), exact


def _outcome_tables(spark: SparkSession, paths: list[Path]) -> list[DataFrame]:
    """The attempts' outcome tables, ``at`` a TIMESTAMP in each: tables written before it
    was one (an older sink version's attempt of the same batch) hold ISO text, read apart."""
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    typed: list[str] = []
    text: list[str] = []
    for path in paths:
        field = pq.read_schema(path).field("at")
        (text if str(field.type) == "string" else typed).append(str(path))
    frames = [spark.read.parquet(*typed)] if typed else []
    if text:
        frames.append(spark.read.parquet(*text).withColumn("at", F.to_timestamp("at")))
    return frames


def _union(frames: list[DataFrame]) -> DataFrame:
    """The frames one after another, by column name (the first frame's column order)."""
    return reduce(lambda left, right: left.unionByName(right), frames[1:], frames[0])


def _crashed_outcomes(raw: DataFrame) -> DataFrame:
    """The final outcomes of crashed attempts' JSONL lines, one row per message (the columns
    of the ``.outcomes.parquet`` tables)."""
    from pyspark.sql import functions as F

    return (
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
            F.to_timestamp("at").alias("at"),
            F.element_at("payloads", F.col("pos") + 1).alias("payload"),
            F.element_at("reasons", F.col("pos") + 1).alias("reason"),
            "error_class",
            F.lit(None).cast("string").alias("related_id"),
        )
    )


def _crashed_requests(raw: DataFrame) -> DataFrame:
    """The requests of crashed attempts' JSONL lines (the ``.requests.parquet`` columns)."""
    from customerio_sink.engine.journaling import REQUEST_FIELDS

    return raw.where("outcome = 'request'").select(*REQUEST_FIELDS, "started_at")


def skipped_frame(spark: SparkSession, directory: Path) -> DataFrame | None:
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
