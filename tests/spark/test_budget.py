"""The rate budget is the key's, not the job's; a 429 pauses every task; the key stays hidden.

Request times come from the emulator's log (arrival on its monotonic clock).
"""

from __future__ import annotations

import bisect
import contextlib
import io
import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from customerio_sink.emulator import Emulator
from customerio_sink.errors import ConfigError
from customerio_sink.spark.options import SinkOptions
from customerio_sink.spark.runner import read_source, run_sync

from .conftest import EVENTS, KEY, NEEDS_DATASOURCE, sink_options

pytestmark = pytest.mark.spark

EVENTS_DDL = "event_id STRING, user_id STRING, event STRING, properties STRING, ts STRING"


def _events(spark: Any, path: str, n: int, prefix: str) -> None:
    ts = (datetime.now(timezone.utc) - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    rows = [(f"{prefix}{i}", f"u{i}", "Page Viewed", json.dumps({"i": i}), ts) for i in range(n)]
    spark.createDataFrame(rows, EVENTS_DDL).coalesce(1).write.format("delta").save(path)


def max_in_window(starts: list[float], window: float) -> int:
    starts = sorted(starts)
    return max(bisect.bisect_left(starts, s + window) - i for i, s in enumerate(starts))


def test_two_jobs_on_one_key_share_its_budget(spark: Any, tmp_path: Path, emulator: Any) -> None:
    budget = 60
    jobs = {}
    for name in ("clicks", "views"):
        _events(spark, str(tmp_path / name), 150, name)
        # One ledger, so one default budget directory (<journal>/_budget); one task each.
        jobs[name] = sink_options(
            tmp_path,
            emulator,
            EVENTS,
            name,
            rate_requests=budget,
            max_batch_messages=1,
            partitions=1,
        )
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            run_sync(
                spark,
                jobs[name],
                read_source(spark, str(tmp_path / name), kind="queue"),
                checkpoint=str(tmp_path / f"cp-{name}"),
                progress=None,
            )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    assert len(emulator.message_id_counts()) == 300
    # The two jobs really sent at the same time ...
    acks = jobs["clicks"].ledger.read(spark, "acks")
    spans = {
        r.job: (r.first, r.last)
        for r in acks.groupBy("job")
        .agg(F.min("sent_at").alias("first"), F.max("sent_at").alias("last"))
        .collect()
    }
    overlap = min(s[1] for s in spans.values()) - max(s[0] for s in spans.values())
    assert overlap.total_seconds() > 3
    # ... and no 3-second window holds more than the key's budget.
    assert max_in_window([r.at for r in emulator.request_log()], 3.0) <= budget
    assert emulator.stats().max_requests_in_window <= budget


def test_a_429_pauses_every_task_of_the_job(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "events")
    _events(spark, path, 60, "e")
    # The workspace allows 10 requests per 3 s; the job's own budget would allow far more.
    with Emulator(keys=(KEY,), rate_limit=10, rate_window_s=3.0) as emu:
        opts = sink_options(
            tmp_path,
            emu,
            EVENTS,
            "paused",
            rate_requests=3000,
            max_batch_messages=1,
            partitions=2,
            retry_after_cap_s=5.0,
            max_attempts=20,
        )
        run_sync(
            spark,
            opts,
            read_source(spark, path, kind="queue"),
            checkpoint=str(tmp_path / "cp"),
            progress=None,
        )
        assert len(emu.message_id_counts()) == 60
        log = emu.request_log()
    refused = [r for r in log if r.status == 429]
    assert refused and all(r.retry_after for r in refused)
    slack = 0.3  # requests already on the wire when the 429 came back
    for r in refused:
        assert r.retry_after is not None
        during = [x for x in log if r.at + slack < x.at < r.at + r.retry_after - slack]
        assert during == [], f"{len(during)} requests during a {r.retry_after:g} s pause"


@NEEDS_DATASOURCE
def test_the_key_is_not_in_plans_progress_or_the_sql_ui(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    path = str(tmp_path / "events")
    _events(spark, path, 5, "e")
    opts = sink_options(tmp_path, emulator, EVENTS, "hidden", rate_requests=3000)
    queries: list[Any] = []
    run_sync(
        spark,
        opts,
        read_source(spark, path, kind="queue"),
        checkpoint=str(tmp_path / "cp"),
        front_door="datasource",
        progress=None,
        on_start=queries.append,
    )
    assert len(emulator.message_id_counts()) == 5
    query = queries[0]
    explained = io.StringIO()
    with contextlib.redirect_stdout(explained):
        query.explain(extended=True)
    texts = {
        "explain": explained.getvalue(),
        "lastProgress": str(query.lastProgress),
        "recentProgress": str(query.recentProgress),
    }
    store = spark._jsparkSession.sharedState().statusStore()
    executions = store.executionsList()
    for i in range(executions.size()):
        run = executions.apply(i)
        texts[f"sql {i}"] = " ".join(
            str(x) for x in (run.description(), run.details(), run.physicalPlanDescription())
        )
    # The stream's plan was looked at (its sink node is there):
    assert "WriteToMicroBatchDataSource" in texts["explain"]
    if tuple(int(p) for p in spark.version.split(".")[:2]) < (4, 1):
        # Spark 4.0 prints the sink's options in its plans, redacted (4.1 on prints none):
        redacted = "api_key_secret=*********(redacted)"
        assert redacted in texts["explain"]
        assert any(redacted in text for name, text in texts.items() if name.startswith("sql"))
    leaked = [name for name, text in texts.items() if KEY in text]
    assert leaked == []


def test_the_api_key_option_is_refused_with_the_right_name(tmp_path: Path) -> None:
    base = {
        "job": "j",
        "mapping": json.dumps(EVENTS.to_dict()),
        "ledger_path": str(tmp_path / "ledger"),
    }
    with pytest.raises(ConfigError, match="api_key_secret"):
        SinkOptions.from_options({**base, "api_key": "pk-visible"})
    assert SinkOptions.from_options({**base, "api_key_secret": "k"}).api_key is not None
    assert (
        SinkOptions.from_options(
            {**base, "api_key_secret": "k", "rate_requests": "0"}
        ).rate_requests
        is None
    )


@NEEDS_DATASOURCE
def test_prepare_tells_the_data_source_how_many_tasks_send(
    spark: Any, tmp_path: Path, emulator: Any
) -> None:
    from customerio_sink.spark.datasource import CustomerIODataSource, prepare

    path = str(tmp_path / "events")
    _events(spark, path, 3, "e")
    opts = sink_options(tmp_path, emulator, EVENTS, "shape", rate_requests=3000)
    prepared = prepare(read_source(spark, path, kind="queue"), opts)
    slots = spark.sparkContext.defaultParallelism
    assert prepared.schema["key"].metadata["customerio.concurrency"] == slots
    people = sink_options(tmp_path, emulator, EVENTS, "shape2", rate_requests=3000, partitions=5)
    meta = prepare(read_source(spark, path, kind="queue"), people).schema["key"].metadata
    assert meta == {"customerio.concurrency": min(5, slots), "customerio.lanes": 5}
    # The writer reads it; without prepare() (or a concurrency option) it refuses to guess.
    ds = CustomerIODataSource(opts.to_options())
    assert ds.streamWriter(prepared.schema, False).concurrency == slots
    plain = read_source(spark, path, kind="queue").schema
    with pytest.raises(ConfigError, match="concurrency"):
        ds.streamWriter(plain, False)
    assert (
        CustomerIODataSource({**opts.to_options(), "concurrency": "3"})
        .streamWriter(plain, False)
        .concurrency
        == 3
    )
