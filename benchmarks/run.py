"""The throughput benchmark: our sink, the official client and a per-row loop, side by side.

    python -m benchmarks.run --rows 1000000                 # make bench
    python -m benchmarks.run --rows 20000 --no-profile      # a quick look

One run, one machine, one source table (``Order Completed`` events in Delta, see
:mod:`benchmarks.data`), one emulator in fast mode with its rate budget off (in its own process,
so its request handling never shares a GIL with the sender being measured):

1. **ours** — the events job, available-now (``run_sync``), into the emulator; then the ledger
   is read back (acks = N, lineage written). It runs twice, each time as its own job with its own
   checkpoint: first in the fresh JVM (``ours_cold``: class loading and JIT compilation take
   about half the CPU of that run on 2 cores), then again (``ours``, the headline: how a
   long-running stream's batches run);
2. **official client** — ``customerio-cdp-analytics`` at its defaults, and at its best settings
   from a small sweep; rows read on the driver, wall time includes the read;
3. **per-row loop** — one ``POST /v1/track`` per row with ``requests.post`` (a new connection
   each time, as a hand-written notebook has it; the headline ratio), and again through one
   reused ``requests.Session``; on a sample, extrapolated to N (labelled so);
4. **budget** — ours again on a smaller table, with a binding budget (default 300 requests per
   3 s, small bodies so it needs several times the budget's requests), against an emulator that
   enforces the same budget: the peak requests in any window and the fraction of the budget used;
5. **hot path** — pyinstrument profiles of the executor and driver sides, and JSON encoding alone;
6. **emulator** — how fast the emulator itself answers (fast mode, 490 KB bodies; full mode,
   small bodies), so the receiver is known not to be the bottleneck.

Results: a table on stdout and every figure in ``--out`` (``bench-results.json``). Timings on a
shared 2-core machine are noisy; the smoke test (``tests/bench``) checks correctness only.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from benchmarks.baselines import (
    OFFICIAL_DEFAULTS,
    OfficialSettings,
    run_official,
    run_per_row,
    sweep_candidates,
)
from benchmarks.data import write_events
from benchmarks.emulator_proc import BenchEmulator
from benchmarks.emulator_speed import run_emulator_phase
from benchmarks.memory import MemoryMonitor
from benchmarks.ours import run_ours
from benchmarks.report import machine_info, print_table, ratio, ratios, targets

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "PHASES",
    "BenchConfig",
    "build_parser",
    "config_from_args",
    "main",
    "run_benchmark",
]

KEY = "bench-key"
API_MAX_BODY_BYTES = 500_000  # "each request can carry up to 500 KB": fill is measured against it
RATE_OFF = 10**9
PHASES = (
    "dataset",
    "ours_cold",
    "ours",
    "official",
    "per_row",
    "per_row_session",
    "budget",
    "latency",
    "hot_path",
    "emulator",
)


@dataclass
class BenchConfig:
    """What one benchmark run does. Sizes are rows; ``None`` means "derive from ``rows``"."""

    rows: int = 1_000_000
    out: str | None = "bench-results.json"
    sample_per_row: int = 2000
    official_rows: int | None = None  # default: all rows
    sweep_rows: int | None = None  # default: min(rows, 100k)
    sweep: bool = True
    official_reader: str = "auto"  # "auto" measures both readers on the sweep sample
    budget: int = 300
    budget_window_s: float = 3.0
    budget_rows: int | None = None  # default: enough for ~3.5x the budget's requests
    budget_body_bytes: int = 33_000
    latency_ms: float = 0.0  # > 0: also run ours and the official best with this server latency
    latency_rows: int = 100_000
    profile: bool = True
    profile_rows: int | None = None  # default: min(rows, 200k)
    emulator_mode: str = "process"
    workdir: str | None = None
    profile_dir: str = "bench-output"
    keep_workdir: bool = False
    phases: tuple[str, ...] = PHASES
    # > 1: the table is written as this many files and read one file per micro-batch, so "ours"
    # runs as that many batches (the ledger's cost per event as batches accumulate).
    batches: int = 1
    driver_memory: str | None = None  # spark.driver.memory of the session main() builds
    log: Callable[[str], None] = field(default=print, repr=False)


# -- phases --------------------------------------------------------------------------------


def _emulator_fields(stats: dict[str, Any]) -> dict[str, Any]:
    span = None
    if stats.get("first_request_at") and stats.get("last_request_at"):
        span = stats["last_request_at"] - stats["first_request_at"]
    return {
        "requests": stats["requests"],
        "accepted": stats["accepted"],
        "rejected": stats["rejected"],
        "duplicates": stats["duplicates"],
        "status_counts": {str(k): v for k, v in stats["status_counts"].items()},
        "mean_body_bytes": stats["mean_body_bytes"],
        "max_body_bytes": stats["max_body_bytes"],
        "fill": stats["mean_body_bytes"] / API_MAX_BODY_BYTES,
        "max_requests_in_window": stats["max_requests_in_window"],
        "rate_limited": stats.get("rate_limited", 0),
        "request_span_s": span,
    }


def _measured(
    emu: BenchEmulator, run: Callable[[], dict[str, Any]], latency_ms: float = 0.0
) -> dict[str, Any]:
    """Run one sender against a freshly reset emulator, with memory measured."""
    emu.reset()
    if latency_ms:
        emu.set_latency(latency_ms)
    exclude = (emu.pid,) if emu.pid and emu.pid != os.getpid() else ()
    with MemoryMonitor(exclude=exclude) as monitor:
        result = run()
    result["memory_mb"] = monitor.peaks.as_dict()
    result["emulator"] = _emulator_fields(emu.stats())
    return result


def _check(result: dict[str, Any], rows: int) -> dict[str, Any]:
    emu = result["emulator"]
    result["delivered_all"] = (
        emu["accepted"] == rows and emu["duplicates"] == 0 and emu["rejected"] == 0
    )
    return result


def run_official_phase(
    spark: SparkSession, cfg: BenchConfig, table: str, emu: BenchEmulator
) -> dict[str, Any]:
    from pyspark.sql import DataFrame

    source: DataFrame = spark.read.format("delta").load(table)
    official_rows = min(cfg.official_rows or cfg.rows, cfg.rows)
    sweep_rows = min(cfg.sweep_rows or 100_000, official_rows)
    out: dict[str, Any] = {"official_rows": official_rows, "sweep_rows": sweep_rows}

    def official(settings: OfficialSettings, rows: int, reader: str) -> dict[str, Any]:
        df = source.limit(rows) if rows < cfg.rows else source
        result = _measured(
            emu,
            lambda: run_official(
                df, url=emu.url, key=KEY, settings=settings, rows=rows, reader=reader
            ),
        )
        return _check(result, rows)

    reader = cfg.official_reader
    if reader == "auto":
        trial = {
            r: official(
                replace(OFFICIAL_DEFAULTS, upload_size=2000, max_queue_size=None), sweep_rows, r
            )
            for r in ("local_iterator", "arrow")
        }
        reader = max(trial, key=lambda r: trial[r]["events_per_s"])
        out["reader_trial"] = {r: round(v["events_per_s"]) for r, v in trial.items()}
        cfg.log(f"official client: reader trial {out['reader_trial']} → {reader}")
    out["reader"] = reader

    sweep: list[dict[str, Any]] = []
    best = OfficialSettings(upload_size=2000, max_queue_size=None)
    if cfg.sweep:
        for settings in sweep_candidates():
            res = official(settings, sweep_rows, reader)
            cfg.log(
                f"official sweep: {settings.label()}: {res['events_per_s']:,.0f} events/s, "
                f"mean body {res['emulator']['mean_body_bytes']:,.0f} B"
            )
            sweep.append(res)
        complete = [r for r in sweep if r["delivered_all"]]
        if complete:
            pick = max(complete, key=lambda r: r["events_per_s"])
            best = sweep_candidates()[sweep.index(pick)]
    out["sweep"] = [
        {
            "settings": r["settings_label"],
            "events_per_s": r["events_per_s"],
            "requests": r["emulator"]["requests"],
            "mean_body_bytes": r["emulator"]["mean_body_bytes"],
            "delivered_all": r["delivered_all"],
        }
        for r in sweep
    ]
    cfg.log(f"official client: defaults on {official_rows:,} rows ...")
    out["defaults"] = official(OFFICIAL_DEFAULTS, official_rows, reader)
    cfg.log(f"official client: best ({best.label()}) on {official_rows:,} rows ...")
    out["best"] = official(best, official_rows, reader)
    for name in ("defaults", "best"):
        res = out[name]
        res["measured_rows"] = official_rows
        res["extrapolated"] = official_rows < cfg.rows
        res["seconds_for_n"] = cfg.rows / res["events_per_s"] if res["events_per_s"] else None
    return out


def run_per_row_phase(
    spark: SparkSession,
    cfg: BenchConfig,
    table: str,
    emu: BenchEmulator,
    reader: str,
    *,
    session: bool = False,
) -> dict[str, Any]:
    source = spark.read.format("delta").load(table)
    sample = min(cfg.sample_per_row, cfg.rows)
    res = _measured(
        emu,
        lambda: run_per_row(
            source, url=emu.url, key=KEY, sample=sample, reader=reader, session=session
        ),
    )
    res = _check(res, sample)
    res["measured_rows"] = sample
    res["extrapolated"] = sample < cfg.rows
    res["seconds_for_n"] = cfg.rows / res["events_per_s"] if res["events_per_s"] else None
    return res


def run_budget_phase(
    spark: SparkSession, cfg: BenchConfig, workdir: Path, message_bytes: float
) -> dict[str, Any]:
    per_request = max(1, int((cfg.budget_body_bytes - 64) / (message_bytes + 1)))
    wanted_requests = math.ceil(3.5 * cfg.budget)
    rows = cfg.budget_rows or wanted_requests * per_request
    table = str(workdir / "events_budget")
    write_events(spark, table, rows)
    with BenchEmulator(
        KEY, rate_limit=cfg.budget, rate_window_s=cfg.budget_window_s, mode=cfg.emulator_mode
    ) as emu:
        res = _measured(
            emu,
            lambda: run_ours(
                spark,
                table=table,
                workdir=workdir,
                url=emu.url,
                key=KEY,
                job="bench-events-budget",
                rate_requests=cfg.budget,
                rate_period_s=cfg.budget_window_s,
                max_body_bytes=cfg.budget_body_bytes,
            ),
        )
    res = _check(res, rows)
    emu_stats = res["emulator"]
    budget_rate = cfg.budget / cfg.budget_window_s
    span = emu_stats["request_span_s"] or 0.0
    achieved = (emu_stats["requests"] - 1) / span if span > 0 else 0.0
    res.update(
        {
            "budget_requests": cfg.budget,
            "budget_window_s": cfg.budget_window_s,
            "max_body_bytes": cfg.budget_body_bytes,
            "rows": rows,
            "requests_needed_vs_budget": emu_stats["requests"] / cfg.budget,
            "max_requests_in_window": emu_stats["max_requests_in_window"],
            "respected": emu_stats["max_requests_in_window"] <= cfg.budget
            and emu_stats["rate_limited"] == 0,
            "achieved_requests_per_s": achieved,
            "achieved_fraction": achieved / budget_rate,
        }
    )
    return res


def run_latency_phase(
    spark: SparkSession, cfg: BenchConfig, workdir: Path, results: dict[str, Any]
) -> dict[str, Any]:
    """Ours and the official client's best again, with every answer delayed ``latency_ms``
    (a real API is not on loopback: senders that wait for each answer slow down in step)."""
    rows = min(cfg.latency_rows, cfg.rows)
    table = str(workdir / "events_latency")
    write_events(spark, table, rows)
    best_label = (results.get("official") or {}).get("best", {}).get("settings")
    best = OfficialSettings(upload_size=2000, max_queue_size=None)
    if best_label:
        best = OfficialSettings(**best_label | {"max_queue_size": None})
    reader = (results.get("official") or {}).get("reader", "arrow")
    out: dict[str, Any] = {"latency_ms": cfg.latency_ms, "rows": rows}
    with BenchEmulator(KEY, rate_limit=RATE_OFF, mode=cfg.emulator_mode) as emu:
        out["ours"] = _check(
            _measured(
                emu,
                lambda: run_ours(
                    spark,
                    table=table,
                    workdir=workdir,
                    url=emu.url,
                    key=KEY,
                    job="bench-events-latency",
                ),
                cfg.latency_ms,
            ),
            rows,
        )
        df = spark.read.format("delta").load(table)
        out["official_best"] = _check(
            _measured(
                emu,
                lambda: run_official(
                    df, url=emu.url, key=KEY, settings=best, rows=rows, reader=reader
                ),
                cfg.latency_ms,
            ),
            rows,
        )
    out["ours_vs_official_best"] = ratio(
        out["ours"]["events_per_s"], out["official_best"]["events_per_s"]
    )
    return out


def dataset_stats(spark: SparkSession, table: str) -> dict[str, Any]:
    from pyspark.sql import functions as F

    df = spark.read.format("delta").load(table)
    row = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.avg(F.octet_length(F.to_json(F.struct(*df.columns)))).alias("row_json"),
        F.min(F.octet_length(F.to_json(F.struct(*df.columns)))).alias("row_json_min"),
        F.max(F.octet_length(F.to_json(F.struct(*df.columns)))).alias("row_json_max"),
        F.avg(F.octet_length("properties")).alias("properties"),
    ).first()
    assert row is not None  # an aggregate always has one row
    return {
        "rows": row["rows"],
        "mean_row_json_bytes": row["row_json"],
        "min_row_json_bytes": row["row_json_min"],
        "max_row_json_bytes": row["row_json_max"],
        "mean_properties_bytes": row["properties"],
    }


def run_benchmark(spark: SparkSession, cfg: BenchConfig) -> dict[str, Any]:
    """Run every phase; return the results dict (also written to ``cfg.out`` when set)."""
    log = cfg.log
    owned = cfg.workdir is None
    workdir = Path(cfg.workdir or tempfile.mkdtemp(prefix="customerio-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(spark),
        "config": {
            "rows": cfg.rows,
            "sample_per_row": cfg.sample_per_row,
            "budget": cfg.budget,
            "budget_window_s": cfg.budget_window_s,
            "emulator": "fast mode, rate budget off, in "
            + ("its own process" if cfg.emulator_mode == "process" else "a benchmark thread"),
            "api_max_body_bytes": API_MAX_BODY_BYTES,
            "batches": cfg.batches,
            "driver_memory": cfg.driver_memory or spark.conf.get("spark.driver.memory", None),
        },
        "notes": [
            "Timings come from one run on a shared machine (other Spark jobs may have run at "
            "the same time); treat them as indicative, not as a regression threshold.",
            "Memory figures are peak resident sets (VmHWM, reset at each phase's start) of the "
            "driver Python, the JVM and the Python workers.",
        ],
    }
    errors: dict[str, str] = {}
    phase_seconds: dict[str, float] = {}
    results["errors"] = errors
    results["phase_seconds"] = phase_seconds

    def phase(name: str, fn: Callable[[], Any]) -> Any:
        """Run one phase (if selected) into ``results[name]``; a failure is recorded with its
        traceback and the other phases go on."""
        if name not in cfg.phases:
            return None
        started = time.perf_counter()
        try:
            value = fn()
        except Exception:
            errors[name] = traceback.format_exc()
            log(f"{name}: FAILED\n{errors[name]}")
            return None
        finally:
            phase_seconds[name] = round(time.perf_counter() - started, 2)
        results[name] = value
        return value

    try:
        table = str(workdir / "events")
        log(f"writing {cfg.rows:,} events to {table} ...")
        phase(
            "dataset",
            lambda: {
                "write_s": write_events(spark, table, cfg.rows, partitions=max(2, cfg.batches)),
                **dataset_stats(spark, table),
            },
        )
        with BenchEmulator(KEY, rate_limit=RATE_OFF, mode=cfg.emulator_mode) as emu:

            def ours_run(job: str) -> dict[str, Any]:
                return _check(
                    _measured(
                        emu,
                        lambda: run_ours(
                            spark,
                            table=table,
                            workdir=workdir,
                            url=emu.url,
                            key=KEY,
                            job=job,
                            reader_options={"maxFilesPerTrigger": "1"} if cfg.batches > 1 else None,
                        ),
                    ),
                    cfg.rows,
                )

            # The first run in a fresh JVM pays for class loading and JIT compilation (about
            # half of its CPU time on 2 cores); a long-running stream pays that once. Both are
            # reported: "ours_cold" is that first run, "ours" the same job run again (its own
            # checkpoint and ledger rows), as the stream's later batches run.
            if "ours_cold" in cfg.phases:
                log("ours: events job, available-now, first run in this JVM (cold) ...")
            phase("ours_cold", lambda: ours_run("bench-events-cold"))
            log("ours: events job, available-now ...")
            ours = phase("ours", lambda: ours_run("bench-events"))
            if ours is not None:
                ours["acks_equal_n"] = ours["acked"] == cfg.rows
                log(f"ours: {ours['events_per_s']:,.0f} events/s, {ours['requests']} requests")
            official = phase("official", lambda: run_official_phase(spark, cfg, table, emu))
            reader = official["reader"] if official else "arrow"
            log("per-row loop (requests.post per row) ...")
            phase("per_row", lambda: run_per_row_phase(spark, cfg, table, emu, reader))
            log("per-row loop (one requests.Session) ...")
            phase(
                "per_row_session",
                lambda: run_per_row_phase(spark, cfg, table, emu, reader, session=True),
            )

        message_bytes = ours["request_bytes"] / max(1, ours["acked"]) if ours else 500.0
        log(f"budget: {cfg.budget} requests per {cfg.budget_window_s:g} s ...")
        phase("budget", lambda: run_budget_phase(spark, cfg, workdir, message_bytes))
        if cfg.latency_ms > 0:
            phase("latency", lambda: run_latency_phase(spark, cfg, workdir, results))
        if cfg.profile:
            phase("hot_path", lambda: run_hot_path(spark, cfg, table, workdir))
        log("emulator: requests/s it answers ...")
        phase("emulator", run_emulator_phase)
        results["ratios"] = ratios(results, cfg.rows)
        results["targets"] = targets(results)
    finally:
        if owned and not cfg.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    if cfg.out:
        Path(cfg.out).write_bytes(
            orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"
        )
    return results


def run_hot_path(
    spark: SparkSession, cfg: BenchConfig, table: str, workdir: Path
) -> dict[str, Any]:
    from benchmarks.hot_path import encode_baselines, profile_driver, profile_executor

    rows = min(cfg.profile_rows or 200_000, cfg.rows)
    out_dir = Path(cfg.profile_dir)
    out: dict[str, Any] = {"rows": rows, "profiles_dir": str(out_dir)}
    with BenchEmulator(KEY, rate_limit=RATE_OFF, mode=cfg.emulator_mode) as emu:
        cfg.log(f"hot path: executor side, run_partition on {rows:,} rows ...")
        out["executor"] = profile_executor(
            spark, table=table, rows=rows, url=emu.url, key=KEY, out_dir=out_dir
        )
        cfg.log("hot path: driver side, one foreachBatch call ...")
        out["driver"] = profile_driver(
            spark, table=table, rows=rows, url=emu.url, key=KEY, workdir=workdir, out_dir=out_dir
        )
    cfg.log("hot path: JSON encoding alone ...")
    out["encoding"] = encode_baselines(spark, table=table, rows=rows)
    ex, enc = out["executor"], out["encoding"]
    out["gap"] = {
        "engine_vs_orjson_per_core": ratio(enc["orjson_per_s"], ex["events_per_s_one_core"]),
        "engine_vs_jvm_to_json_per_core": ratio(
            enc["jvm_to_json_per_s"], ex["events_per_s_one_core"]
        ),
    }
    return out


# -- command line --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Throughput and request count: our sink vs the official client vs a "
        "per-row loop, into the emulator (fast mode).",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="events (N)")
    parser.add_argument("--out", default="bench-results.json", help="results JSON ('' = none)")
    parser.add_argument(
        "--sample-per-row",
        type=int,
        default=2000,
        help="rows sent by the per-row loop (extrapolated to N)",
    )
    parser.add_argument(
        "--official-rows",
        type=int,
        help="rows for the official client (default N; fewer are extrapolated and labelled)",
    )
    parser.add_argument(
        "--sweep-rows",
        type=int,
        help="rows per official-client settings trial (default min(N, 100000))",
    )
    parser.add_argument(
        "--no-sweep",
        action="store_true",
        help="skip the official-client settings sweep (best = upload_size 2000)",
    )
    parser.add_argument(
        "--reader",
        choices=("auto", "local_iterator", "arrow"),
        default="auto",
        help="how the official client and the loop read rows on the driver",
    )
    parser.add_argument("--budget", type=int, default=300, help="requests per --budget-window")
    parser.add_argument("--budget-window", type=float, default=3.0, help="seconds")
    parser.add_argument(
        "--budget-rows",
        type=int,
        help="rows for the budget run (default: enough for ~3.5x the budget's requests)",
    )
    parser.add_argument(
        "--budget-body-bytes",
        type=int,
        default=33_000,
        help="max_body_bytes in the budget run (small → many requests)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="also run ours and the official best with this server latency (0 = skip)",
    )
    parser.add_argument("--latency-rows", type=int, default=100_000, help="rows for that run")
    parser.add_argument("--no-profile", action="store_true", help="skip the hot-path section")
    parser.add_argument("--profile-rows", type=int, help="rows profiled (default min(N, 200k))")
    parser.add_argument("--profile-dir", default="bench-output", help="where profiles go")
    parser.add_argument(
        "--emulator",
        choices=("process", "thread"),
        default="process",
        help="run the emulator in its own process (default) or a thread",
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help="comma-separated phases to run (default: all; dataset is always written)",
    )
    parser.add_argument("--workdir", help="keep tables here (default: a temp dir, removed)")
    parser.add_argument(
        "--batches",
        type=int,
        default=1,
        help="write the table as this many files and run ours one file per micro-batch",
    )
    parser.add_argument("--driver-memory", help="spark.driver.memory (default: the session's 4g)")
    return parser


def config_from_args(argv: Sequence[str] | None = None) -> BenchConfig:
    """The :class:`BenchConfig` of a command line (``--help`` for the flags)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    phases = ("dataset", *(p.strip() for p in args.phases.split(",") if p.strip()))
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phases {unknown}; choose from {', '.join(PHASES)}")
    if args.batches < 1:
        parser.error("--batches: at least 1")
    return BenchConfig(
        rows=args.rows,
        out=args.out or None,
        sample_per_row=args.sample_per_row,
        official_rows=args.official_rows,
        sweep_rows=args.sweep_rows,
        sweep=not args.no_sweep,
        official_reader=args.reader,
        budget=args.budget,
        budget_window_s=args.budget_window,
        budget_rows=args.budget_rows,
        budget_body_bytes=args.budget_body_bytes,
        latency_ms=args.latency_ms,
        latency_rows=args.latency_rows,
        profile=not args.no_profile,
        profile_rows=args.profile_rows,
        profile_dir=args.profile_dir,
        emulator_mode=args.emulator,
        workdir=args.workdir,
        phases=phases,
        keep_workdir=args.workdir is not None,
        batches=args.batches,
        driver_memory=args.driver_memory,
        log=lambda text: print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True),
    )


def main(argv: Sequence[str] | None = None) -> int:
    cfg = config_from_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from customerio_sink.spark.session import get_spark

    extra = {"spark.driver.memory": cfg.driver_memory} if cfg.driver_memory else None
    spark = get_spark("customerio-sink-bench", extra_conf=extra)
    results = run_benchmark(spark, cfg)
    print_table(results)
    if cfg.out:
        print(f"\nwrote {cfg.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
