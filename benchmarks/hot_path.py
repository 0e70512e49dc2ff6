"""Where the sink's time goes: row → message → JSON → body → HTTP → ack, piece by piece.

The executor side (the Python workers) is profiled by calling
:func:`customerio_sink.engine.partition.run_partition` directly, in this process, on Arrow-shaped
input:
the mapped DataFrame (:func:`~customerio_sink.spark.mapping.to_messages`) of a sample is
collected once as Arrow, and the profiled run gets its record batches as they are, exactly as
the foreachBatch writer's ``mapInArrow`` function hands them over (``to_pydict()`` of the same
batches is timed alone, for the cost of a per-row conversion the engine no longer makes). The
driver side is profiled separately around one :func:`~customerio_sink.spark.writer.write_batch`
of a static DataFrame (its Python time is mostly waiting on the JVM: mapping and sending jobs,
ledger writes).

For scale, the same messages are JSON-encoded alone on one core: ``orjson.dumps`` of the message
dicts, and the JVM's ``to_json`` (``coalesce(1)`` → one task → one core) into the ``noop``
sink — the speed the hot path would have if encoding were all it did.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from benchmarks.ours import EVENTS_MAPPING, events_options

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["encode_baselines", "profile_driver", "profile_executor", "profile_summary"]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def profile_summary(profiler: Any, top: int = 15) -> dict[str, Any]:
    """Self and inclusive time per function (seconds) from a pyinstrument session."""
    session = profiler.last_session
    root = session.root_frame()
    self_time: dict[str, float] = defaultdict(float)
    inclusive: dict[str, float] = defaultdict(float)

    def name(frame: Any) -> str:
        where = frame.file_path_short or "?"
        return f"{frame.function} ({where}:{frame.line_no})"

    def walk(frame: Any, active: frozenset[str]) -> None:
        label = name(frame)
        self_time[label] += frame.total_self_time
        if label not in active:  # count a recursive function's time once
            inclusive[label] += frame.time
        for child in frame.children:
            walk(child, active | {label})

    if root is not None:
        walk(root, frozenset())
    total = session.duration

    def ranked(table: dict[str, float]) -> list[dict[str, Any]]:
        items = sorted(table.items(), key=lambda kv: kv[1], reverse=True)[:top]
        return [
            {"function": k, "seconds": round(v, 4), "share": round(v / total, 4) if total else 0}
            for k, v in items
        ]

    return {
        "duration_s": round(total, 4),
        "cpu_s": round(getattr(session, "cpu_time", 0.0) or 0.0, 4),
        "top_self": ranked(self_time),
        "top_inclusive": ranked(inclusive),
    }


def _mapped_sample(spark: SparkSession, table: str, rows: int) -> DataFrame:
    from customerio_sink.spark.mapping import to_messages

    source = spark.read.format("delta").load(table).limit(rows)
    return to_messages(source, EVENTS_MAPPING, job="bench-hot-path")


def profile_executor(
    spark: SparkSession,
    *,
    table: str,
    rows: int,
    url: str,
    key: str,
    out_dir: Path,
    interval_s: float = 0.0005,
) -> dict[str, Any]:
    """Profile ``run_partition`` on ``rows`` mapped rows (one partition, budget off)."""
    import pyarrow as pa
    from pyinstrument import Profiler

    from customerio_sink.client.secrets import SecretKey
    from customerio_sink.engine.partition import SendSettings, run_partition

    arrow: pa.Table = _mapped_sample(spark, table, rows).toArrow()
    # Spark's Arrow batches for mapInArrow are spark.sql.execution.arrow.maxRecordsPerBatch rows.
    per_batch = int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") or 10000)
    batches = arrow.to_batches(max_chunksize=per_batch)
    n = arrow.num_rows
    # The payload column is UTF-8 text; the engine sends its bytes.
    encoded: list[bytes] = arrow.column("payload").cast(pa.binary()).to_pylist()
    payload_bytes = sum(len(p) for p in encoded)

    with tempfile.TemporaryDirectory(prefix="bench-journal-") as journal_dir:

        def settings(job: str, **kw: Any) -> SendSettings:
            return SendSettings(
                journal_key=f"{job}/run",
                journal_dir=journal_dir,
                api_key=SecretKey(key),
                endpoint=url,
                rate_requests=None,
                concurrency=1,
                **kw,
            )

        t_pydict, pydicts = _timed(lambda: [b.to_pydict() for b in batches])
        t_dry, dry = _timed(
            lambda: run_partition(iter(batches), settings("dry", dry_run=True), 0, 0)
        )
        # Warm the connection and imports once, so the profile shows the steady state.
        run_partition(iter(batches[:1]), settings("warm"), 0, 0)
        profiler = Profiler(interval=interval_s)
        profiler.start()
        started = time.perf_counter()
        summary = run_partition(iter(batches), settings("full"), 0, 0)
        t_full = time.perf_counter() - started
        profiler.stop()
        journal_bytes = sum(p.stat().st_size for p in Path(journal_dir).rglob("*.jsonl"))

    # The HTTP part alone: the same bodies posted through the package's client, nothing else.
    from customerio_sink.client.pipelines import CustomerIOClient
    from customerio_sink.messages.packing import pack_ranges

    payloads = encoded
    ids = [m for b in pydicts for m in b["message_id"]]
    ranges = pack_ranges([len(p) for p in payloads])
    with CustomerIOClient(SecretKey(key), endpoint=url, rate_limiter=None, pool_size=2) as client:
        client.send_encoded(payloads[:1], ids[:1])  # warm the connection
        t_http, _ = _timed(
            lambda: [client.send_encoded(payloads[s:e], ids[s:e]) for s, e in ranges]
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    text_path = out_dir / "hot_path_executor.txt"
    text_path.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    profiler.write_html(str(out_dir / "hot_path_executor.html"))
    return {
        "rows": n,
        "mean_message_bytes": payload_bytes / n if n else 0.0,
        "requests": summary.requests,
        "acked": summary.acked,
        "to_pydict_s": t_pydict,
        "engine_dry_run_s": t_dry,
        "engine_dry_run_requests": dry.requests,
        "engine_full_s": t_full,
        "http_only_s": t_http,
        "http_only_requests": len(ranges),
        "events_per_s_one_core": n / t_full if t_full else 0.0,
        "journal_bytes": journal_bytes,
        "profile": profile_summary(profiler),
        "profile_text": str(text_path),
    }


def encode_baselines(spark: SparkSession, *, table: str, rows: int) -> dict[str, Any]:
    """JSON encoding alone, one core: orjson/json in Python, ``to_json`` and the mapping in
    the JVM (``coalesce(1)`` into the ``noop`` sink)."""
    from pyspark.sql import functions as F

    mapped = _mapped_sample(spark, table, rows)
    payloads = [p.encode() for p in mapped.select("payload").toArrow().column(0).to_pylist()]
    dicts = [orjson.loads(p) for p in payloads]
    n = len(dicts)
    t_orjson, encoded = _timed(lambda: [orjson.dumps(d) for d in dicts])
    t_json, _ = _timed(lambda: [json.dumps(d, separators=(",", ":")).encode() for d in dicts])
    mean_bytes = sum(len(e) for e in encoded) / n if n else 0.0
    # Validating each properties JSON in Python instead of the JVM's from_json check.
    props = [orjson.dumps(d.get("properties")) for d in dicts]
    t_loads, _ = _timed(lambda: [orjson.loads(p) for p in props])

    source = spark.read.format("delta").load(table).limit(rows).cache()
    source.count()
    try:
        # The same message shape, encoded by to_json with properties spliced as raw JSON (what
        # the mapping does), no messageId hashing and no validation.
        head = F.to_json(
            F.struct(
                F.lit("track").alias("type"),
                F.col("event_id").alias("messageId"),
                F.date_format("ts", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX").alias("timestamp"),
                F.col("user_id").alias("userId"),
                F.col("event").alias("event"),
            )
        )
        spliced = F.concat(
            F.regexp_replace(head, r"\}$", ""),
            F.lit(',"properties":'),
            F.col("properties"),
            F.lit("}"),
        )

        def noop(df: DataFrame) -> float:
            t, _ = _timed(lambda: df.write.format("noop").mode("overwrite").save())
            return t

        one = source.coalesce(1)
        t_to_json = noop(one.select(spliced.alias("json")))
        t_validate_props = noop(
            one.select(F.from_json("properties", "map<string,string>").isNull().alias("bad"))
        )
        from customerio_sink.spark.mapping import to_messages

        mapped_one = to_messages(one, EVENTS_MAPPING, job="bench-hot-path")
        t_mapping_one = noop(mapped_one)
        # Each output column alone: where the mapping's JVM time goes.
        per_column = {c: round(noop(mapped_one.select(c)), 3) for c in mapped_one.columns}
        t_mapping_two = noop(to_messages(source, EVENTS_MAPPING, job="bench-hot-path"))
        t_scan = noop(one.select("properties"))
    finally:
        source.unpersist()

    def per_s(seconds: float) -> float:
        return n / seconds if seconds else 0.0

    return {
        "rows": n,
        "mean_message_bytes": mean_bytes,
        "orjson_dumps_s": t_orjson,
        "orjson_per_s": per_s(t_orjson),
        "json_dumps_s": t_json,
        "orjson_loads_properties_s": t_loads,
        "orjson_loads_properties_per_s": per_s(t_loads),
        "json_per_s": per_s(t_json),
        "jvm_cached_scan_s": t_scan,
        "jvm_to_json_one_core_s": t_to_json,
        "jvm_to_json_per_s": per_s(t_to_json),
        "jvm_from_json_properties_check_one_core_s": t_validate_props,
        "jvm_mapping_one_core_s": t_mapping_one,
        "jvm_mapping_one_core_per_s": per_s(t_mapping_one),
        "jvm_mapping_two_cores_s": t_mapping_two,
        "jvm_mapping_columns_one_core_s": per_column,
    }


def profile_driver(
    spark: SparkSession,
    *,
    table: str,
    rows: int,
    url: str,
    key: str,
    workdir: Path,
    out_dir: Path,
) -> dict[str, Any]:
    """Profile the driver's Python around one foreachBatch call (a static DataFrame)."""
    from pyinstrument import Profiler

    from customerio_sink.spark.writer import write_batch

    df = spark.read.format("delta").load(table).limit(rows)
    options = events_options(workdir, job="bench-driver-profile", url=url, key=key)
    options.ledger.ensure_tables(spark)  # first-use table creation is not the steady state
    profiler = Profiler(interval=0.001)
    profiler.start()
    started = time.perf_counter()
    lineage = write_batch(df, options, batch_id=0)
    wall = time.perf_counter() - started
    profiler.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    text_path = out_dir / "hot_path_driver.txt"
    text_path.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    summary = profile_summary(profiler, top=20)
    return {
        "rows": rows,
        "wall_s": wall,
        "map_s": lineage.get("map_seconds"),
        "send_s": lineage.get("send_seconds"),
        "ledger_s": lineage.get("ledger_seconds"),
        "acked": lineage.get("acked"),
        "requests": lineage.get("requests"),
        "outside_send_s": wall
        - float(lineage.get("map_seconds") or 0.0)
        - float(lineage.get("send_seconds") or 0.0),
        "profile": summary,
        "profile_text": str(text_path),
    }
