"""Flags shared by the operations jobs (retention, maintenance, alerts): where the ledger is."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from customerio_sink.errors import ConfigError
from streaming_jobs import _common

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from customerio_sink.spark.ledger import Ledger

__all__ = ["add_retention_flags", "ledger_parser", "retention_days", "run_ops"]


def ledger_parser(name: str, description: str, examples: str) -> _common.JobParser:
    """A parser with the ledger flags (and ``--verbose``)."""
    parser = _common.JobParser(
        prog=f"python -m streaming_jobs.{name}",
        description=description,
        epilog=f"examples:\n{examples.rstrip()}\n\nExit codes: 0 done, 1 failed, 2 bad arguments.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    led = parser.add_argument_group("ledger")
    store = led.add_mutually_exclusive_group(required=True)
    store.add_argument("--ledger-path", metavar="DIR", help="directory of the ledger tables")
    store.add_argument(
        "--ledger-schema", metavar="CATALOG.SCHEMA", help="catalog schema of the ledger tables"
    )
    led.add_argument(
        "--journal-dir", metavar="DIR", help="the delivery journal (with --ledger-schema)"
    )
    parser.add_argument("--verbose", action="store_true", help="also show Spark's startup output")
    return parser


def add_retention_flags(parser: argparse.ArgumentParser, *, required: bool) -> None:
    group = parser.add_argument_group("retention")
    group.add_argument(
        "--days",
        type=_common.positive(int),
        required=required,
        metavar="N",
        help="delete rows older than N days from every ledger table",
    )
    group.add_argument(
        "--table-days",
        metavar="T=N,...",
        help="per table, overriding --days (e.g. requests=7,dead_letters=90)",
    )
    group.add_argument(
        "--vacuum-hours",
        type=float,
        default=168.0,
        metavar="H",
        help="VACUUM keeps files newer than H hours (default 168, Delta's own floor)",
    )
    group.add_argument("--no-vacuum", action="store_true", help="delete rows but do not VACUUM")


def retention_days(args: argparse.Namespace) -> dict[str, int] | None:
    """Days per table from ``--days`` and ``--table-days`` (None when neither is given)."""
    from customerio_sink.spark.retention import TIME_COLUMNS

    per: dict[str, int] = {name: args.days for name in TIME_COLUMNS} if args.days else {}
    for part in (args.table_days or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not value.strip().isdigit():
            raise ConfigError(f"--table-days: TABLE=DAYS, got {part!r}")
        per[name.strip()] = int(value)
    return per or None


def run_ops(
    name: str,
    args: argparse.Namespace,
    work: Callable[[SparkSession, Ledger], Any],
    spark: SparkSession | None = None,
) -> tuple[int, Any]:
    """Run ``work(spark, ledger)``; (exit code, its result) with one-line errors."""
    try:
        ledger = _common.ledger_of(args)
        from customerio_sink.spark.session import get_spark

        session = spark or get_spark(name, verbose=args.verbose)
        return _common.EXIT_OK, work(session, ledger)
    except ConfigError as exc:
        print(f"{name}: error: {exc.message}", file=sys.stderr)
        return _common.EXIT_ARGS, None
    except Exception as exc:
        return _common.fail(name, exc), None
