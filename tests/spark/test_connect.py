"""The sink on Spark Connect (serverless and shared-access clusters): no SparkContext there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

import customerio_sink as cio
from customerio_sink.spark.session import is_connect

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.connect

KEY = "connect-key-0123456789"


def test_sync_on_connect_exactly_once_and_after_a_checkpoint_reset(
    connect_spark: Any, tmp_path: Path
) -> None:
    """cio.sync through foreachBatch on Connect: the ledger filled, a re-run sends nothing, and
    a new checkpoint (same ledger) is a new run whose ledger rows are written (the run id used
    to be the constant "batch" there, so Delta skipped them as already written)."""
    spark = connect_spark
    assert is_connect(spark)
    source = str(tmp_path / "events")
    rows = [(f"u{i}", f"e{i}") for i in range(5)]
    spark.createDataFrame(rows, "uid STRING, eid STRING").write.format("delta").save(source)
    events = cio.Events(user_id="uid", event="signed_up", row_id="eid")
    ledger = str(tmp_path / "ledger")

    def run(checkpoint: str) -> cio.SyncResult:
        return cio.sync(
            spark,
            source=source,
            mapping=events,
            ledger=ledger,
            checkpoint=str(tmp_path / checkpoint),
            api_key=KEY,
            endpoint=emu.url,
            job="connect-events",
            progress=None,
        )

    with cio.Emulator(keys=(KEY,)) as emu:
        first = run("cp")
        assert first.totals["acked"] == 5 and first.totals["rows_in"] == 5
        again = run("cp")  # same checkpoint: caught up, nothing sent
        assert again.totals["rows_in"] == 0
        assert sorted(emu.message_id_counts().values()) == [1] * 5  # exactly once
        reset = run("cp-reset")  # checkpoint reset, same ledger: a new run
        assert reset.query_id != first.query_id
        assert reset.totals["rows_in"] == 5
    lineage = cio.Ledger(path=ledger).read(spark, "lineage").collect()
    runs = {(r["run_id"], r["batch_id"]): r["acked"] for r in lineage}
    assert runs == {(first.query_id, 0): 5, (reset.query_id, 0): 5}
    acks = cio.Ledger(path=ledger).read(spark, "acks")
    assert acks.where(f"run_id = '{reset.query_id}'").count() == 5


DATASOURCE_CHILD = """
import sys
from pyspark.sql import SparkSession
import customerio_sink as cio
url, tmp, key = sys.argv[1:4]
spark = SparkSession.builder.remote(url).getOrCreate()  # a Connect client process
source = tmp + "/events"
rows = [("u%d" % i, "e%d" % i) for i in range(4)]
spark.createDataFrame(rows, "uid STRING, eid STRING").write.format("delta").save(source)
with cio.Emulator(keys=(key,)) as emu:
    result = cio.sync(
        spark, source=source, mapping=cio.Events(user_id="uid", event="signed_up", row_id="eid"),
        ledger=tmp + "/ledger", checkpoint=tmp + "/cp", api_key=key, endpoint=emu.url,
        job="connect-ds", front_door="datasource", progress=None,
    )
    assert result.totals["acked"] == 4, result.totals
    assert sorted(emu.message_id_counts().values()) == [1] * 4
acks = cio.Ledger(path=tmp + "/ledger").read(spark, "acks")
assert acks.where("run_id = '%s'" % result.query_id).count() == 4
print("OK")
"""


def test_datasource_door_on_connect(connect_url: str, tmp_path: Path) -> None:
    """format("customerio") from a Connect client process (registered from the client): the
    rows acked once, the ledger filled. A child process, because a Connect client process is
    Connect-only (its DataFrame functions have no JVM)."""
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", DATASOURCE_CHILD, connect_url, str(tmp_path), KEY],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
        check=False,
    )
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]


def test_the_jobs_run_on_connect_with_spark_remote(
    connect_url: str, connect_spark: Any, tmp_path: Path
) -> None:
    """A streaming job's CLI, as a user runs it against serverless: ``SPARK_REMOTE`` set, no
    JVM in the job's process. Every row acked once; a second run sends nothing."""
    import os
    import subprocess
    import sys

    spark = connect_spark  # (builder.remote here would clash with the suite's classic session)
    source = str(tmp_path / "events")
    rows = [(f"u{i}", f"e{i}", "Signed Up") for i in range(7)]
    spark.createDataFrame(rows, "uid STRING, eid STRING, ev STRING").write.format("delta").save(
        source
    )
    argv = [
        "--source", source,
        "--checkpoint", str(tmp_path / "cp"),
        "--ledger-path", str(tmp_path / "ledger"),
        "--user-id-column", "uid",
        "--event-column", "ev",
        "--row-id-column", "eid",
    ]  # fmt: skip
    with cio.Emulator(keys=(KEY,)) as emu:
        env = {**os.environ, "SPARK_REMOTE": connect_url, "CUSTOMERIO_API_KEY": KEY}
        runs = [
            subprocess.run(
                [sys.executable, "-m", "streaming_jobs.sync_events", *argv, "--endpoint", emu.url],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            for _ in range(2)
        ]
        counts = emu.message_id_counts()
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
    assert len(counts) == 7 and set(counts.values()) == {1}
    assert "rows 7, acks 7" in runs[0].stdout, runs[0].stdout
    assert KEY not in runs[0].stdout + runs[0].stderr
    acks = spark.read.format("delta").load(str(tmp_path / "ledger" / "acks"))
    assert acks.select("message_id").distinct().count() == 7
