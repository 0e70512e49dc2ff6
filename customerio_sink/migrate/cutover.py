"""The cut-over check: what would change if the sink replaced the old pipeline.

    report = cio.migrate.cutover_check(spark, source="main.app.events", mapping=cio.Events(...),
                                       old_messages="/Volumes/main/cio/old_messages", job="events")
    print("\\n".join(report.lines()))

The sink maps the source in a dry run (nothing is sent: the same mapping, validation and ids as
the live job) and its calls are compared with what the old pipeline sent (a table written by
:func:`~customerio_sink.migrate.import_messages` from its exports). Calls are matched by type,
person (user id, else anonymous id), event (or group id) and timestamp to the millisecond. The
report counts calls sent by both (the same, or with different properties/traits — the differing
fields named), calls only the old pipeline sent, calls only the sink would send, and rows the
sink would dead-letter (with the reason), each with a few examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from customerio_sink.migrate.backfill import _static, match_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["CutoverReport", "cutover_check"]

_KEYS = ["m_type", "m_who", "m_what", "m_ms"]


@dataclass
class CutoverReport:
    """Counts and examples of what would differ."""

    same: int = 0
    different: int = 0
    only_old: int = 0
    only_sink: int = 0
    would_dead_letter: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def matches(self) -> bool:
        """True when the sink would send exactly what the old pipeline sent."""
        return not (self.different or self.only_old or self.only_sink or self.would_dead_letter)

    def lines(self) -> list[str]:
        """The report as printable lines: one line of counts, then the examples of each kind."""
        out = [
            f"cut-over check: {self.same} calls the same, {self.different} different, "
            f"{self.only_old} only sent by the old pipeline, {self.only_sink} only sent by the "
            f"sink, {self.would_dead_letter} rows the sink would dead-letter"
        ]
        for kind, items in self.examples.items():
            out += [f"  {kind}: {item}" for item in items]
        return out


def _old(spark: SparkSession, table: str | DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    if isinstance(table, str):
        df = spark.read.format("delta").load(table) if "/" in table else spark.table(table)
    else:
        df = table
    return df.select(
        F.col("type").alias("m_type"),
        F.coalesce("user_id", "anonymous_id", F.lit("")).alias("m_who"),
        F.coalesce("event", "group_id", F.lit("")).alias("m_what"),
        F.unix_millis("timestamp").alias("m_ms"),
        F.col("message_id").alias("old_id"),
        F.coalesce("properties", "traits").alias("old_attrs"),
    )


def _attrs(payload: str) -> Any:
    """The call's properties (track/page/screen) or traits (identify/group) as JSON text."""
    from pyspark.sql import functions as F

    return F.coalesce(
        F.get_json_object(payload, "$.properties"), F.get_json_object(payload, "$.traits")
    )


def _fields_differing(old: str | None, new: str | None) -> list[str]:
    import json

    a = json.loads(old) if old else {}
    b = json.loads(new) if new else {}
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def cutover_check(
    spark: SparkSession,
    *,
    source: str | DataFrame,
    mapping: Any,
    old_messages: str | DataFrame,
    job: str,
    examples: int = 5,
) -> CutoverReport:
    """Compare the sink's dry-run calls for ``source`` with the old pipeline's messages.

    ``source`` is the Delta table the old pipeline reads (a name or path: its current rows, as a
    new backfill would send them; or a DataFrame of rows), ``job`` the job name the sink will run
    under (it feeds the message ids). Nothing is sent and nothing is written.
    """
    from pyspark.sql import functions as F

    from customerio_sink.spark.mapping import to_messages

    m = mapping.to_mapping()
    rows = _static(spark, source, m.source) if isinstance(source, str) else source
    messages = to_messages(rows, m, job=job, backfill=True)
    bad = messages.where(F.col("error").isNotNull())
    sink = (
        messages.where(F.col("error").isNull())
        .where("change <> 'update_preimage'")
        .select(
            *match_columns(messages),
            F.col("message_id").alias("sink_id"),
            _attrs("payload").alias("sink_attrs"),
        )
    )
    both = sink.join(_old(spark, old_messages), _KEYS, "full_outer").cache()
    try:
        report = CutoverReport()
        matched = both.where("sink_id IS NOT NULL AND old_id IS NOT NULL")

        # Compare the attributes as JSON values, not text (key order may differ).
        def norm(column: str) -> Any:
            return F.array_sort(F.map_entries(F.from_json(column, "map<string,string>")))

        differing = matched.where(
            ~F.coalesce(norm("old_attrs") == norm("sink_attrs"), F.lit(False))
            & ~(F.col("old_attrs").isNull() & F.col("sink_attrs").isNull())
        )
        diffs = differing.limit(examples).collect()
        report.different = differing.count()
        report.same = matched.count() - report.different
        only_old = both.where("sink_id IS NULL")
        only_sink = both.where("old_id IS NULL")
        report.only_old = only_old.count()
        report.only_sink = only_sink.count()
        report.would_dead_letter = bad.count()

        def label(r: Any) -> str:
            return f"{r.m_type} {r.m_who} {r.m_what} at {r.m_ms} ms"

        report.examples = {
            "different": [
                f"{label(r)}: fields {', '.join(_fields_differing(r.old_attrs, r.sink_attrs))}"
                for r in diffs[:examples]
            ],
            "only old": [
                f"{label(r)} (old id {r.old_id})" for r in only_old.limit(examples).collect()
            ],
            "only sink": [
                f"{label(r)} (sink id {r.sink_id})" for r in only_sink.limit(examples).collect()
            ],
            "dead letter": [
                f"key {r.key}: {r.error}"
                for r in bad.select("key", "error").limit(examples).collect()
            ],
        }
        report.examples = {k: v for k, v in report.examples.items() if v}
        return report
    finally:
        both.unpersist()
