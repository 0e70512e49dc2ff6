"""The benchmark in small mode, as a correctness smoke test (never a timing assertion).

It runs every phase of ``python -m benchmarks.run`` on a few thousand rows and checks what
must hold whatever the machine's speed: every row acknowledged and in the ledger, the emulator
accepted each message once, the rate budget respected, and the results file complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from benchmarks.report import print_table
from benchmarks.run import BenchConfig, run_benchmark
from benchmarks.series import size_summary

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

ROWS = 5000
PER_ROW = 200
BUDGET = 20
BUDGET_ROWS = 1600

EXPECTED_KEYS = {
    "generated_at",
    "machine",
    "config",
    "dataset",
    "ours_cold",
    "ours",
    "hot_path",
    "official",
    "per_row",
    "per_row_session",
    "budget",
    "emulator",
    "ratios",
    "targets",
    "errors",
    "notes",
}


def test_small_benchmark_delivers_everything_within_budget(
    spark: SparkSession, tmp_path: Path
) -> None:
    out = tmp_path / "bench-results.json"
    cfg = BenchConfig(
        rows=ROWS,
        out=str(out),
        sample_per_row=PER_ROW,
        sweep=False,
        official_reader="arrow",
        budget=BUDGET,
        budget_rows=BUDGET_ROWS,
        profile=True,  # the hot-path section too, on the same few rows
        workdir=str(tmp_path / "work"),
        profile_dir=str(tmp_path / "profiles"),
        log=lambda _: None,
    )
    results = run_benchmark(spark, cfg)

    assert results["errors"] == {}
    ours = results["ours"]
    assert ours["acked"] == ROWS
    assert ours["rows_in"] == ROWS
    assert ours["emulator"]["accepted"] == ROWS
    assert ours["emulator"]["duplicates"] == 0
    assert ours["ledger"]["acks_rows"] == ROWS
    assert ours["ledger"]["distinct_message_ids"] == ROWS
    assert ours["ledger"]["lineage_rows"] >= 1
    assert ours["ledger"]["lineage_acked"] == ROWS
    assert ours["emulator"]["max_body_bytes"] <= 500_000

    for name in ("defaults", "best"):
        official = results["official"][name]
        assert official["emulator"]["accepted"] == ROWS, name
        assert official["emulator"]["duplicates"] == 0, name
    hot = results["hot_path"]
    assert hot["executor"]["acked"] == ROWS == hot["executor"]["rows"]
    assert hot["executor"]["engine_dry_run_requests"] == hot["executor"]["requests"]
    assert (tmp_path / "profiles" / "hot_path_executor.txt").exists()

    cold = results["ours_cold"]
    assert cold["acked"] == ROWS
    assert cold["emulator"]["accepted"] == ROWS
    assert cold["emulator"]["duplicates"] == 0
    assert cold["ledger"]["acks_rows"] == ROWS  # its own job: the second run is not a replay
    for name, http in (("per_row", "requests.post"), ("per_row_session", "requests.Session")):
        per_row = results[name]
        assert per_row["emulator"]["accepted"] == PER_ROW, name
        assert per_row["emulator"]["requests"] == PER_ROW, name
        assert per_row["extrapolated"] is True
        assert per_row["http"].startswith(http)

    budget = results["budget"]
    assert budget["acked"] == BUDGET_ROWS
    assert budget["emulator"]["accepted"] == BUDGET_ROWS
    assert budget["emulator"]["duplicates"] == 0
    assert budget["max_requests_in_window"] <= BUDGET
    assert budget["emulator"]["rate_limited"] == 0
    assert budget["emulator"]["requests"] > BUDGET  # the budget had to bind
    assert {"achieved_requests_per_s", "achieved_fraction"} <= set(budget)  # figures, unchecked
    # What `python -m benchmarks.series sizes` keeps of a run: events/s cold and warm, peak memory
    # of the JVM and the Python workers, and the sink's own time breakdown.
    size = size_summary(ROWS, results)
    assert size["delivered_all"] and size["errors"] == {}
    assert size["events_per_s"] > 0 and size["events_per_s_cold"] > 0
    assert size["jvm_peak_mb"] > 0 and size["python_worker_peak_mb"] > 0
    assert set(size["breakdown_s"]) == {"map", "send", "ledger", "overhead", "wall"}
    assert all(size["breakdown_s"][k] is not None for k in ("map", "send", "ledger"))
    emulator_speed = results["emulator"]
    assert emulator_speed["fast_mode_body_bytes"] > 470_000
    assert {"fast_mode_requests_per_s", "full_mode_small_requests_per_s"} <= set(emulator_speed)

    written = json.loads(out.read_text())
    assert set(written) >= EXPECTED_KEYS
    assert {"cores", "memory_gb", "python", "java", "spark"} <= set(written["machine"])
    assert {
        "ours_vs_official_defaults",
        "ours_vs_official_best",
        "ours_vs_per_row",
        "ours_vs_per_row_session",
        "ours_cold_vs_official_best",
    } <= set(written["ratios"])
    for section in ("ours", "per_row", "budget"):
        assert {"driver_total_mb", "workers_total_mb"} <= set(written[section]["memory_mb"])

    lines: list[str] = []
    print_table(results, lines.append)
    assert any("official client, best" in line for line in lines)
    assert any("per-row loop, one Session" in line for line in lines)
    assert any("first run in a fresh JVM" in line for line in lines)
