"""``python -m checkpoints_template.inspect`` on a real checkpoint written by a real query."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from checkpoints_template.show import main, read_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _run_noop_query(spark: Any, table: str, checkpoint: str) -> str:
    """One available-now run of a change-feed query whose foreachBatch does nothing."""
    query = (
        spark.readStream.format("delta")
        .option("readChangeFeed", "true")
        .load(table)
        .writeStream.foreachBatch(lambda df, batch_id: None)
        .option("checkpointLocation", checkpoint)
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    return str(query.id)


@pytest.mark.spark
def test_inspect_reports_batches_and_delta_offsets(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table, cp = str(tmp_path / "people"), str(tmp_path / "cp")
    spark.sql(
        f"CREATE TABLE delta.`{table}` (id STRING, plan STRING) USING delta "
        "TBLPROPERTIES (delta.enableChangeDataFeed = true)"
    )  # version 0
    spark.sql(f"INSERT INTO delta.`{table}` VALUES ('a', 'free'), ('b', 'pro')")  # version 1
    query_id = _run_noop_query(spark, table, cp)  # batch 0: the snapshot at version 1

    assert main([cp]) == 0
    out = capsys.readouterr().out
    assert f"query id: {query_id}" in out
    assert "last committed batch: 0\n" in out
    assert "last offset batch: 0 (planned at " in out
    assert "version 2, index -1, isStartingVersion=false (all of versions < 2 read)" in out
    assert "status: every planned batch is committed" in out

    spark.sql(f"UPDATE delta.`{table}` SET plan = 'pro' WHERE id = 'a'")  # version 2
    assert _run_noop_query(spark, table, cp) == query_id  # batch 1: version 2's changes
    state = read_checkpoint(cp)
    assert (state.query_id, state.last_committed_batch, state.last_offset_batch) == (
        query_id,
        1,
        1,
    )
    (offset,) = state.offsets
    assert offset.is_delta and not offset.is_starting_version
    assert (offset.version, offset.index) in ((2, 0), (3, -1))  # both: version 2 fully read

    # A crash after planning batch 1 but before its commit: the tool says what a restart does.
    (Path(cp) / "commits" / "1").unlink()
    journal = tmp_path / "journal"
    batch_dir = journal / "sync_people" / query_id / "batch=1"
    batch_dir.mkdir(parents=True)
    (batch_dir / "part-00000-abc.jsonl").write_text("{}\n")
    assert main([cp, "--json", "--journal-dir", str(journal), "--job", "sync_people"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["query_id"] == query_id
    assert (data["last_committed_batch"], data["last_offset_batch"]) == (0, 1)
    assert data["pending_batch"] == 1
    assert "re-runs it with the same offsets" in data["status"]
    assert data["committed_offsets"][0]["version"] == 2  # batch 0's offset
    assert data["journal"]["batches"] == [{"batch_id": 1, "files": 1, "committed": False}]

    # The command line entry point, in a fresh interpreter (no Spark needed).
    proc = subprocess.run(
        [sys.executable, "-m", "checkpoints_template.inspect", cp],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "last committed batch: 0\nlast offset batch: 1" in proc.stdout
    assert "batch 1 is planned but not committed" in proc.stdout


def test_inspect_refuses_what_is_not_a_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "missing")]) == 1
    assert main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no such directory" in err and "not a streaming checkpoint" in err
