"""``python -m benchmarks.series``: the arithmetic of its summaries, and one small ``batches``
run through the real benchmark code in this process (correctness only: every event
acknowledged, the figures present; never a timing threshold). ``sizes`` reads a run's figures
with :func:`size_summary`, checked on the smoke benchmark's own results."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from benchmarks.run import config_from_args, run_benchmark
from benchmarks.series import batch_growth, main, repeat_summary, spread

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def test_spread_is_the_widest_distance_from_the_median() -> None:
    assert spread([90.0, 100.0, 112.0]) == pytest.approx(0.12)
    assert spread([100.0]) == 0.0


def test_batch_growth_compares_the_first_and_last_third_per_event() -> None:
    per_batch = [
        {"acked": 1000, "ledger_s": 0.5, "send_s": 2.0},
        {"acked": 1000, "ledger_s": 0.5, "send_s": 2.0},
        {"acked": 1000, "ledger_s": 0.6, "send_s": 2.0},
        {"acked": 2000, "ledger_s": 1.5, "send_s": 4.0},
    ]
    growth = batch_growth(per_batch)
    assert growth["batches"] == 4
    assert growth["ledger_s_per_1k_first_third"] == pytest.approx(0.5)
    assert growth["ledger_s_per_1k_last_third"] == pytest.approx(0.75)
    assert growth["ledger_growth"] == pytest.approx(1.5)
    assert growth["send_growth"] == pytest.approx(1.0)
    # A door that does not time its batches gives no figure rather than a wrong one.
    assert batch_growth([{"acked": 10, "ledger_s": None, "send_s": 1.0}])["ledger_growth"] is None


def test_repeat_summary_gives_each_runs_ratios_and_their_range() -> None:
    def run(warm: float, cold: float) -> dict[str, Any]:
        return {
            "ours": {"events_per_s": warm * 10},
            "ours_cold": {"events_per_s": cold * 10},
            "official": {"best": {"events_per_s": 10.0}},
            "ratios": {"ours_vs_official_best": warm, "ours_cold_vs_official_best": cold},
        }

    summary = repeat_summary([run(7.0, 5.0), run(8.0, 4.5), run(7.5, 5.5)])
    assert len(summary["runs"]) == 3
    assert summary["range"]["warm_vs_official_best"] == {"min": 7.0, "max": 8.0}
    assert summary["range"]["cold_vs_official_best"] == {"min": 4.5, "max": 5.5}
    assert summary["range"]["official_best_events_per_s"] == {"min": 10.0, "max": 10.0}


@pytest.mark.spark
def test_small_series_run_through_the_benchmark(spark: SparkSession, tmp_path: Path) -> None:
    def in_process(argv: list[str]) -> dict[str, Any]:
        cfg = config_from_args(argv)
        cfg = dataclasses.replace(
            cfg, out=None, emulator_mode="thread", workdir=None, log=lambda _: None
        )
        return run_benchmark(spark, cfg)

    into = tmp_path / "bench-results.json"
    into.write_text(json.dumps({"ours": {"events_per_s": 1.0}}), encoding="utf-8")
    assert (
        main(["batches", "--rows", "3000", "--batches", "3", "--into", str(into)], in_process) == 0
    )

    results = json.loads(into.read_text(encoding="utf-8"))
    assert results["ours"] == {"events_per_s": 1.0}  # the main run's figures stay
    batches = results["series"]["batches"]
    assert batches["delivered_all"] and batches["batches"] == 3  # one file per micro-batch
    assert batches["ledger_s_per_1k_first_third"] is not None
    assert batches["ledger_s_per_1k_last_third"] is not None
