"""Ledger maintenance in one run: retention (if asked), OPTIMIZE with Z-order, VACUUM."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from streaming_jobs import _common, _ops

NAME = "maintenance"

EXAMPLES = """\
  # nightly: 90 days of rows, compact and Z-order, vacuum
  python -m streaming_jobs.maintenance --ledger-schema main.customerio_ledger \\
      --journal-dir /Volumes/main/customerio/state/prod/journal --days 90
"""


def build_parser() -> _common.JobParser:
    parser = _ops.ledger_parser(
        NAME,
        "OPTIMIZE (Z-order on the lookup columns, or liquid clustering), retention and VACUUM "
        "over every ledger table.",
        EXAMPLES,
    )
    _ops.add_retention_flags(parser, required=False)
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="liquid clustering on the lookup columns instead of Z-order (Databricks)",
    )
    return parser


def main(argv: Sequence[str] | None = None, spark: Any = None) -> int:
    """Run maintenance; returns the exit code (0 done, 1 failed, 2 bad arguments)."""
    args = _common.parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    from customerio_sink.errors import ConfigError

    try:
        days = _ops.retention_days(args)
    except ConfigError as exc:
        print(f"{NAME}: error: {exc.message}", file=sys.stderr)
        return _common.EXIT_ARGS

    def work(session: Any, ledger: Any) -> dict[str, Any]:
        from customerio_sink.spark.maintenance import maintain

        hours = None if args.no_vacuum else args.vacuum_hours
        return maintain(
            session, ledger, retention_days=days, vacuum_hours=hours, cluster=args.cluster
        )

    code, done = _ops.run_ops(NAME, args, work, spark)
    if code == _common.EXIT_OK:
        for table, n in done["deleted"].items():
            _common.say(f"{NAME}: {table}: {n} old rows deleted")
        _common.say(
            f"{NAME}: optimized {', '.join(done['optimized']) or 'nothing'}; "
            f"vacuumed {', '.join(done['vacuumed']) or 'nothing'}"
        )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
