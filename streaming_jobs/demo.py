"""``make demo``: the whole path on one machine, in about a minute.

Starts the embedded Customer.io emulator, builds two Delta tables — people with the change data
feed on (200 people, a few bad rows) and an append-only events table (500 events, a few bad) —
and runs the ``sync_people`` and ``sync_events`` jobs into the emulator with an available-now
trigger: people are backfilled, then updated, partly deleted, one bad row fixed, and synced
again. It prints what the emulator received, the acknowledgements, the dead letters with their
reasons, and the lineage rows of every micro-batch.

Everything is written under ``--output`` (default ``demo-output/``, git-ignored), which is
cleared first. Exit code 0 when every source row is accounted for and nothing was sent twice.

    python -m streaming_jobs.demo [--output DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = ["main"]

DEMO_KEY = "demo-key"
ENV = "demo"
MARKER = ".customerio-sink-demo"
PEOPLE = 200
EVENTS = 500
EVENT_NAMES = ("Signed Up", "Viewed Product", "Added to Cart", "Order Completed", "Logged In")
PLANS = ("free", "starter", "pro")


def _prepare_output(path: Path) -> None:
    """Clear a previous demo's output; refuse to clear a directory the demo did not make."""
    if path.exists() and any(path.iterdir()):
        if not (path / MARKER).exists():
            raise SystemExit(f"demo: {path} is not empty and not a demo output; choose --output")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("created by python -m streaming_jobs.demo\n", encoding="utf-8")


def _people_rows() -> list[tuple[Any, ...]]:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows: list[tuple[Any, ...]] = [
        (
            f"user-{i:03d}",
            f"person{i:03d}@example.com",
            f"Person {i}",
            PLANS[i % len(PLANS)],
            i % 50,
            now,
        )
        for i in range(PEOPLE)
    ]
    rows += [
        (None, "nobody@example.com", "No Id", "free", 1, now),  # missing user id
        ("user-bad-1", "not-an-email", "Bad Email", "free", 1, now),  # invalid email
        ("user-bad-2", "also@bad", "Bad Email", "pro", 2, now),
        ("user-bad-3", "spaces in@example.com", "Bad Email", "starter", 3, now),
    ]
    return rows


def _event_rows() -> list[tuple[Any, ...]]:
    rng = random.Random(7)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows: list[tuple[Any, ...]] = []
    for i in range(EVENTS):
        name = EVENT_NAMES[i % len(EVENT_NAMES)]
        props = {"amount": round(rng.uniform(5, 200), 2), "sku": f"SKU-{rng.randint(1, 40)}"}
        ts = now - timedelta(days=rng.uniform(0, 30))
        rows.append(
            (f"evt-{i:04d}", f"user-{rng.randrange(PEOPLE):03d}", name, json.dumps(props), ts)
        )
    # A few rows Customer.io would refuse: caught before sending, dead-lettered with a reason.
    rows[10] = ("evt-0010", None, "Logged In", "{}", now)  # no user id
    rows[20] = ("evt-0020", "", "Logged In", "{}", now)  # empty user id
    rows[30] = ("evt-0030", "user-001", "", "{}", now)  # no event name
    rows[40] = ("evt-0040", "user-002", "Order Completed", "{amount: 12", now)  # bad JSON
    return rows


def _create_tables(spark: Any, people: str, events: str) -> None:
    """One commit each; the people table is created with its change data feed on."""
    cdf_default = "spark.databricks.delta.properties.defaults.enableChangeDataFeed"
    spark.conf.set(cdf_default, "true")
    try:
        spark.createDataFrame(
            _people_rows(),
            "id STRING, email STRING, first_name STRING, plan STRING, score INT, "
            "updated_at TIMESTAMP",
        ).write.format("delta").save(people)
    finally:
        spark.conf.unset(cdf_default)
    spark.createDataFrame(
        _event_rows(),
        "event_id STRING, user_id STRING, event STRING, properties STRING, ts TIMESTAMP",
    ).write.format("delta").save(events)


def _change_people(spark: Any, people: str) -> None:
    """Two commits: updates that matter, updates that do not, one fixed bad row; deletes."""
    table = f"delta.`{people}`"
    upgraded = "id BETWEEN 'user-000' AND 'user-029'"
    touched = "id BETWEEN 'user-100' AND 'user-109'"  # updated_at is not mapped: skipped
    fixed = "id = 'user-bad-1'"
    spark.sql(
        f"UPDATE {table} SET "
        f"plan = CASE WHEN {upgraded} THEN 'enterprise' ELSE plan END, "
        f"updated_at = CASE WHEN {touched} THEN current_timestamp() ELSE updated_at END, "
        f"email = CASE WHEN {fixed} THEN 'fixed@example.com' ELSE email END "
        f"WHERE {upgraded} OR {touched} OR {fixed}"
    )
    spark.sql(f"DELETE FROM {table} WHERE id BETWEEN 'user-195' AND 'user-199'")


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(c) if c is not None else "" for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(out)


def _section(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def _job_args(source: str, state: Path, ledger: Path, job: str, endpoint: str) -> list[str]:
    return [
        "--source",
        source,
        "--checkpoint",
        str(state / job / "checkpoint"),
        "--ledger-path",
        str(ledger),
        "--endpoint",
        endpoint,
        "--trigger",
        "available-now",
    ]


def _report(spark: Any, emu: Any, ledger_path: Path, state: Path) -> int:
    """Print what the emulator received and what the ledger holds, then the checks; 0 when
    every check passes."""
    from customerio_sink.spark.ledger import Ledger

    ledger = Ledger(path=str(ledger_path))
    stats = emu.stats()
    _print_received(stats, emu)
    total_acks = _print_acks(spark, ledger)
    dead = _print_dead_letters(spark, ledger)
    lineage = _print_lineage(spark, ledger)
    balanced = all(r.rows_in == r.acked + r.dead_lettered + r.parked + r.skipped for r in lineage)
    _section("Checks")
    checks = [
        ("every source row accounted for in every batch", balanced),
        ("emulator accepted = acks in the ledger", stats.accepted == total_acks),
        ("no message accepted twice", stats.duplicates == 0),
        ("no message rejected by the emulator", stats.rejected == 0),
    ]
    for text, ok in checks:
        print(f"[{'ok' if ok else 'FAILED'}] {text}")
    print(
        f"\nLook inside a checkpoint:  python -m checkpoints_template.inspect "
        f"{state / 'sync_people' / 'checkpoint'}"
    )
    ok = all(ok for _, ok in checks)
    print(
        f"demo {'OK' if ok else 'FAILED'}: {stats.accepted} messages accepted in {stats.requests} "
        f"requests, {total_acks} acks, {len(dead)} dead letters, {stats.duplicates} duplicates",
        flush=True,
    )
    return 0 if ok else 1


def _print_received(stats: Any, emu: Any) -> None:
    _section("What the emulator received")
    print(
        _table(
            [
                ("requests", stats.requests),
                ("messages accepted", stats.accepted),
                ("messages rejected", stats.rejected),
                ("duplicates", stats.duplicates),
                ("mean body bytes", f"{stats.mean_body_bytes:,.0f}"),
                ("people in workspace", len(emu.people)),
            ],
            ("", "count"),
        )
    )


def _print_acks(spark: Any, ledger: Any) -> int:
    """Print the acknowledgements per job; returns their total."""
    acks = ledger.read(spark, "acks")
    ack_counts = {r["job"]: r["count"] for r in acks.groupBy("job").count().collect()}
    total_acks = sum(ack_counts.values())
    _section("Acknowledgements (ledger acks table)")
    print(_table([*sorted(ack_counts.items()), ("total", total_acks)], ("job", "acks")))
    return total_acks


def _print_dead_letters(spark: Any, ledger: Any) -> list[Any]:
    """Print the dead letters with their reasons; returns them."""
    dead = (
        ledger.read(spark, "dead_letters")
        .orderBy("job", "source_key")
        .select("job", "source_key", "error_message")
        .collect()
    )
    _section(f"Dead letters ({len(dead)}): rows that need a fix before a replay")
    print(
        _table(
            [(r.job, r.source_key, (r.error_message or "")[:90]) for r in dead],
            ("job", "source key", "reason"),
        )
    )
    return dead


def _print_lineage(spark: Any, ledger: Any) -> list[Any]:
    """Print the lineage row of every micro-batch; returns them."""
    lineage = ledger.read(spark, "lineage").orderBy("job", "started_at").collect()
    _section("Lineage: one row per micro-batch (rows in = acked + dead + parked + skipped)")
    print(
        _table(
            [
                (
                    r.job,
                    r.batch_id,
                    f"{r.min_commit_version}-{r.max_commit_version}"
                    if r.min_commit_version is not None
                    else "",
                    r.rows_in,
                    r.acked,
                    r.dead_lettered,
                    r.parked,
                    r.skipped,
                    ",".join(f"{k}={v}" for k, v in sorted((r.skipped_by_reason or {}).items())),
                    r.requests,
                )
                for r in lineage
            ],
            ("job", "batch", "versions", "in", "acked", "dead", "parked", "skipped", "why", "reqs"),
        )
    )
    return lineage


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; returns 0 when every check passes."""
    parser = argparse.ArgumentParser(
        prog="python -m streaming_jobs.demo",
        description="End-to-end demo: emulator + local Spark/Delta + the streaming jobs.",
    )
    parser.add_argument(
        "--output", default="demo-output", help="working directory, cleared first (demo-output)"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    out = Path(args.output).resolve()
    _prepare_output(out)
    started = time.monotonic()

    from customerio_sink.emulator import Emulator
    from customerio_sink.spark.session import get_spark
    from streaming_jobs import sync_events, sync_people

    os.environ["CUSTOMERIO_API_KEY"] = DEMO_KEY  # the jobs read the key from the environment
    people, events = str(out / "tables" / "people"), str(out / "tables" / "events")
    state = out / ENV
    ledger = state / "ledger"
    with Emulator(keys=(DEMO_KEY,)) as emu:
        print(f"Customer.io emulator on {emu.url} ({emu.validation_source} validation)")
        print("Starting local Spark with Delta Lake…", flush=True)
        spark = get_spark("customerio-sink-demo")
        _create_tables(spark, people, events)
        print(
            f"Tables: {people} ({PEOPLE + 4} people, change data feed on), "
            f"{events} ({EVENTS} events)"
        )
        people_args = [
            *_job_args(people, state, ledger, "sync_people", emu.url),
            *("--user-id-column", "id", "--traits", "email,first_name,plan,score"),
        ]
        events_args = [
            *_job_args(events, state, ledger, "sync_events", emu.url),
            *("--event-column", "event", "--properties-json", "properties"),
            *("--timestamp-column", "ts", "--row-id-column", "event_id"),
        ]
        _section("sync_people: backfill")
        codes = [sync_people.main(people_args)]
        _section("sync_events: backfill")
        codes.append(sync_events.main(events_args))
        _section("sync_people: 30 updates, 10 unmapped updates, 5 deletes, 1 fixed email")
        _change_people(spark, people)
        codes.append(sync_people.main(people_args))
        if any(codes):
            print(f"demo FAILED: a job exited with {max(codes)}", file=sys.stderr)
            return 1
        code = _report(spark, emu, ledger, state)
    print(f"(demo took {time.monotonic() - started:.0f} s; output in {out})")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
