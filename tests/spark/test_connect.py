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
