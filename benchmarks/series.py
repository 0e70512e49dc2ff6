"""Benchmarks over several runs, each in a fresh JVM, added to ``bench-results.json``.

    python -m benchmarks.series sizes      # 100k, 1M, 5M events with spark.driver.memory=2g
    python -m benchmarks.series batches    # 1M events in 20 micro-batches: the ledger per batch
    python -m benchmarks.series repeat     # the headline comparison 3 times: its range

``sizes`` answers "does the cost per event stay flat as the backfill grows, on a small driver":
events/s (first run in the JVM, and the run after it) and the peak resident memory of the JVM and
the Python workers at each size. ``batches`` answers "does a batch cost more once many were
written before it": the ledger's and the journal's seconds per 1,000 events, first third against
last third. ``repeat`` runs ours (cold and warm) and the official client's best settings again,
so the README can give the range of the ratios rather than one run.

Each run is ``python -m benchmarks.run`` in its own process (fresh JVM, its own driver memory);
the results go under ``series`` in the results file, beside the main run's figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import median
from typing import Any

__all__ = ["batch_growth", "main", "repeat_summary", "size_summary", "spread"]

Runner = Callable[[list[str]], dict[str, Any]]
FLAT = 0.15  # events/s within ±15% of their median across sizes


def run_child(argv: list[str]) -> dict[str, Any]:
    """``python -m benchmarks.run argv`` in a fresh process; its results file, parsed."""
    with tempfile.TemporaryDirectory(prefix="cio-series-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "benchmarks.run", *argv, "--out", str(out)]
        _say("run: " + " ".join(cmd[2:]))
        done = subprocess.run(cmd, check=False)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"benchmarks.run {' '.join(argv)} failed (exit {done.returncode})")
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return result


def spread(values: Sequence[float]) -> float:
    """The largest distance from the median, as a fraction of it (0.1 = within ±10%)."""
    mid = median(values)
    return max(abs(v - mid) for v in values) / mid if mid else 0.0


def size_summary(rows: int, result: dict[str, Any]) -> dict[str, Any]:
    """One size's figures out of a ``benchmarks.run`` result (phases ours_cold, ours)."""
    warm, cold = result.get("ours") or {}, result.get("ours_cold") or {}
    memory = warm.get("memory_mb") or {}
    cold_memory = cold.get("memory_mb") or {}
    return {
        "rows": rows,
        "events_per_s": warm.get("events_per_s"),
        "events_per_s_cold": cold.get("events_per_s"),
        "delivered_all": bool(warm.get("delivered_all") and cold.get("delivered_all")),
        "jvm_peak_mb": max(memory.get("jvm_mb") or 0, cold_memory.get("jvm_mb") or 0),
        "python_worker_peak_mb": max(
            memory.get("worker_max_mb") or 0, cold_memory.get("worker_max_mb") or 0
        ),
        "python_workers_total_peak_mb": max(
            memory.get("workers_total_mb") or 0, cold_memory.get("workers_total_mb") or 0
        ),
        "driver_python_peak_mb": max(
            memory.get("driver_python_mb") or 0, cold_memory.get("driver_python_mb") or 0
        ),
        "breakdown_s": warm.get("breakdown_s"),
        "breakdown_s_cold": cold.get("breakdown_s"),
        "errors": result.get("errors") or {},
    }


def run_sizes(sizes: Sequence[int], driver_memory: str, runner: Runner) -> dict[str, Any]:
    runs = []
    for rows in sizes:
        argv = ["--rows", str(rows), "--phases", "ours_cold,ours", "--no-profile"]
        runs.append(size_summary(rows, runner([*argv, "--driver-memory", driver_memory])))
    warm = [r["events_per_s"] for r in runs if r["events_per_s"]]
    cold = [r["events_per_s_cold"] for r in runs if r["events_per_s_cold"]]
    return {
        "driver_memory": driver_memory,
        "runs": runs,
        "spread_warm": spread(warm) if warm else None,
        "spread_cold": spread(cold) if cold else None,
        "flat_within_15pct": bool(warm and cold and max(spread(warm), spread(cold)) <= FLAT),
        "delivered_all": all(r["delivered_all"] for r in runs),
    }


def batch_growth(per_batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Ledger and send seconds per 1,000 events in the first and the last third of the batches."""
    third = max(1, len(per_batch) // 3)

    def per_k(part: Sequence[dict[str, Any]], name: str) -> float | None:
        events = sum(int(b.get("acked") or 0) for b in part)
        known = [b.get(name) for b in part]
        if not events or any(v is None for v in known):
            return None
        return 1000.0 * sum(float(v) for v in known if v is not None) / events

    first, last = per_batch[:third], per_batch[-third:]
    out: dict[str, Any] = {"batches": len(per_batch)}
    for name in ("ledger_s", "send_s"):
        a, b = per_k(first, name), per_k(last, name)
        key = name.removesuffix("_s")
        out[f"{key}_s_per_1k_first_third"] = a
        out[f"{key}_s_per_1k_last_third"] = b
        out[f"{key}_growth"] = b / a if a and b is not None else None
    return out


def run_batches(rows: int, batches: int, driver_memory: str, runner: Runner) -> dict[str, Any]:
    argv = ["--rows", str(rows), "--phases", "ours", "--no-profile", "--batches", str(batches)]
    result = runner([*argv, "--driver-memory", driver_memory])
    ours = result.get("ours") or {}
    return {
        "rows": rows,
        "driver_memory": driver_memory,
        "events_per_s": ours.get("events_per_s"),
        "delivered_all": bool(ours.get("delivered_all")),
        **batch_growth(ours.get("per_batch") or []),
    }


def repeat_summary(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The headline figures of each run and their range (min, max)."""
    runs = []
    for result in results:
        ratios = result.get("ratios") or {}
        best = (result.get("official") or {}).get("best") or {}
        runs.append(
            {
                "generated_at": result.get("generated_at"),
                "ours_events_per_s": (result.get("ours") or {}).get("events_per_s"),
                "ours_cold_events_per_s": (result.get("ours_cold") or {}).get("events_per_s"),
                "official_best_events_per_s": best.get("events_per_s"),
                "warm_vs_official_best": ratios.get("ours_vs_official_best"),
                "cold_vs_official_best": ratios.get("ours_cold_vs_official_best"),
            }
        )
    span: dict[str, Any] = {}
    for name in runs[0] if runs else ():
        values = [r[name] for r in runs if isinstance(r[name], int | float)]
        if values:
            span[name] = {"min": min(values), "max": max(values)}
    return {"runs": runs, "range": span}


def run_repeat(times: int, rows: int, runner: Runner) -> dict[str, Any]:
    argv = ["--rows", str(rows), "--phases", "ours_cold,ours,official", "--no-profile"]
    return repeat_summary([runner(list(argv)) for _ in range(times)])


def _say(text: str) -> None:
    print(f"[series {time.strftime('%H:%M:%S')}] {text}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.series", description=__doc__)
    parser.add_argument("what", choices=("sizes", "batches", "repeat"))
    parser.add_argument("--sizes", default="100000,1000000,5000000", help="rows per size run")
    parser.add_argument("--driver-memory", default="2g", help="spark.driver.memory per run")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows (batches, repeat)")
    parser.add_argument("--batches", type=int, default=20, help="micro-batches (batches)")
    parser.add_argument("--times", type=int, default=3, help="runs (repeat)")
    parser.add_argument("--into", default="bench-results.json", help="results file to add to")
    return parser


def main(argv: Sequence[str] | None = None, runner: Runner = run_child) -> int:
    args = build_parser().parse_args(argv)
    if args.what == "sizes":
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        found = run_sizes(sizes, args.driver_memory, runner)
    elif args.what == "batches":
        found = run_batches(args.rows, args.batches, args.driver_memory, runner)
    else:
        found = run_repeat(args.times, args.rows, runner)
    target = Path(args.into)
    results = json.loads(target.read_text(encoding="utf-8")) if target.exists() else {}
    results.setdefault("series", {})[args.what] = found
    target.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    _say(f"{args.what}: {json.dumps(found)[:2000]}")
    _say(f"added to {target} under series.{args.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
