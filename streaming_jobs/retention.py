"""Delete ledger rows older than N days (per table if asked), then VACUUM the tables."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from streaming_jobs import _common, _ops

NAME = "retention"

EXAMPLES = """\
  # keep 30 days everywhere, the request log only 7
  python -m streaming_jobs.retention --ledger-schema main.customerio_ledger \\
      --journal-dir /Volumes/main/customerio/state/prod/journal --days 30 --table-days requests=7
"""


def build_parser() -> _common.JobParser:
    parser = _ops.ledger_parser(
        NAME, "Delete ledger rows older than N days, then VACUUM the tables.", EXAMPLES
    )
    _ops.add_retention_flags(parser, required=False)
    return parser


def main(argv: Sequence[str] | None = None, spark: Any = None) -> int:
    """Apply retention; returns the exit code (0 done, 1 failed, 2 bad arguments)."""
    args = _common.parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    from customerio_sink.errors import ConfigError

    try:
        days = _ops.retention_days(args)
        if days is None:
            raise ConfigError("give --days N and/or --table-days TABLE=N,...")
    except ConfigError as exc:
        print(f"{NAME}: error: {exc.message}", file=sys.stderr)
        return _common.EXIT_ARGS

    def work(session: Any, ledger: Any) -> dict[str, int]:
        from customerio_sink.spark.retention import apply_retention

        hours = None if args.no_vacuum else args.vacuum_hours
        return apply_retention(session, ledger, days, vacuum_hours=hours)

    code, deleted = _ops.run_ops(NAME, args, work, spark)
    if code == _common.EXIT_OK:
        for table, n in deleted.items():
            _common.say(f"{NAME}: {table}: {n} rows older than {days[table]} days deleted")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
