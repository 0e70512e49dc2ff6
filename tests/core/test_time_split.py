"""Where a batch's time went (map, send, ledger, stream overhead), as arithmetic on the task and
wall seconds the writer measured: no clock is read here."""

from __future__ import annotations

import pytest

from customerio_sink.engine.settings import PartitionSummary
from customerio_sink.spark.runner import SyncResult
from customerio_sink.spark.writer import time_split


def test_the_sending_job_is_split_by_the_tasks_own_shares() -> None:
    # Two tasks: 1 s + 3 s waiting for rows out of 2 s + 6 s in all: half the job was mapping.
    summary = PartitionSummary.merge(
        [
            {"input_s": 1.0, "task_s": 2.0, "skipped": {}},
            {"input_s": 3.0, "task_s": 6.0, "skipped": {}},
        ]
    )
    assert (summary["input_s"], summary["task_s"]) == (4.0, 8.0)
    assert time_split(summary, job_s=10.0, before_s=1.5) == {
        "map_seconds": 5.0,
        "send_seconds": 5.0,
        "overhead_seconds": 1.5,
    }


def test_a_batch_with_no_task_time_is_all_send_and_never_negative() -> None:
    assert time_split({"task_s": 0.0}, job_s=0.25, before_s=-0.1) == {
        "map_seconds": 0.0,
        "send_seconds": 0.25,
        "overhead_seconds": 0.0,
    }
    # A task that reports more waiting than its total (clock granularity) caps at all-map.
    assert time_split({"input_s": 2.0, "task_s": 1.0}, 4.0, 0.0)["send_seconds"] == 0.0


def _batch(acked: int, **seconds: float | None) -> dict[str, object]:
    return {"acked": acked, "rows_in": acked, **{f"{k}_seconds": v for k, v in seconds.items()}}


def test_the_summary_line_gives_the_breakdown_and_the_rest_of_the_wall_time_as_overhead() -> None:
    result = SyncResult(job="sync_events", wall_s=20.0)
    result.batches = [
        _batch(60_000, map=2.0, send=6.0, ledger=1.0, overhead=3.0),
        _batch(40_000, map=1.0, send=4.0, ledger=1.0, overhead=0.5),
    ]
    spent = result.time_breakdown()
    assert spent == {
        "map": 3.0,
        "send": 10.0,
        "ledger": 2.0,
        "overhead": 5.0,
        "wall": 20.0,
        "events_per_s": 5000.0,
    }
    line = result.summary_line()
    assert line.endswith(
        "; 20.0 s: map 3.0 s, send 10.0 s, ledger 2.0 s, stream overhead 5.0 s; 5,000 events/s"
    )


def test_a_door_that_cannot_tell_says_so_instead_of_guessing() -> None:
    result = SyncResult(job="sync_events")  # no wall time: overhead from the batches
    result.batches = [_batch(10, map=None, send=None, ledger=0.5, overhead=0.25)]
    assert result.time_text() == (
        "map n/a, send n/a, ledger 0.5 s, stream overhead 0.2 s; 13 events/s"
    )


@pytest.mark.parametrize("batches", [[], [_batch(0, map=0.0, send=0.0, ledger=0.0)]])
def test_nothing_sent_gives_no_rate(batches: list[dict[str, object]]) -> None:
    result = SyncResult(job="j", wall_s=0.0, batches=batches)
    assert result.time_breakdown()["events_per_s"] is None
