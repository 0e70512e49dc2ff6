"""Where did row X go: print the fate of source rows from the ledger.

One line per matching source row: acked (when, which request), dead-lettered (the reason),
parked in the retry queue, or skipped (update_preimage, superseded, unchanged, duplicate,
already_delivered). Reads only the ledger (and, for ``--row-id``, the source table).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from customerio_sink.errors import ConfigError
from streaming_jobs import _common

NAME = "trace"

EXAMPLES = """\
  # every row of one person in the people job
  python -m streaming_jobs.trace --ledger-path /Volumes/main/cio/ledger --job-name sync_people \\
      --key user-42

  # one message id, as JSON lines
  python -m streaming_jobs.trace --ledger-schema main.cio_ledger \\
      --journal-dir /Volumes/main/cio/state/prod/journal --job-name sync_events \\
      --message-id 01HV3J9C0000A1B2C3D4E5F6G7 --json

  # an event by its event id (the sync's mapping turns it into the message id)
  python -m streaming_jobs.trace --ledger-path /tmp/cio/ledger --job-name sync_events \\
      --row-id evt-001 --source /data/events \\
      --mapping '{"source": "queue", "call": "track", "user_id": "user_id", \\
                  "event_column": "event", "timestamp": "ts", "row_id": "event_id"}'
"""


def build_parser() -> _common.JobParser:
    parser = _common.JobParser(
        prog=f"python -m streaming_jobs.{NAME}",
        description="Print what became of source rows: acked, dead-lettered, parked or skipped.",
        epilog=f"examples:\n{EXAMPLES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = parser.add_argument_group("which rows (one of)")
    pick = what.add_mutually_exclusive_group(required=True)
    pick.add_argument("--key", action="append", metavar="KEY", help="source key (repeatable)")
    pick.add_argument("--message-id", action="append", metavar="ID", help="messageId (repeatable)")
    pick.add_argument(
        "--row-id",
        action="append",
        metavar="ID",
        help="a queue row's id column value (repeatable; needs --source and --mapping)",
    )
    what.add_argument("--source", metavar="TABLE|PATH", help="the sync's source (for --row-id)")
    what.add_argument("--mapping", metavar="JSON", help="the sync's mapping as JSON (for --row-id)")
    led = parser.add_argument_group("ledger")
    store = led.add_mutually_exclusive_group(required=True)
    store.add_argument("--ledger-path", metavar="DIR", help="directory of the ledger tables")
    store.add_argument(
        "--ledger-schema", metavar="CATALOG.SCHEMA", help="catalog schema of the ledger tables"
    )
    led.add_argument("--journal-dir", metavar="DIR", help="the journal (with --ledger-schema)")
    led.add_argument(
        "--job-name", required=True, metavar="NAME", help="the sync's job name in the ledger"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--verbose", action="store_true", help="also show Spark's startup output")
    return parser


def _mapping(args: argparse.Namespace) -> object:
    from customerio_sink.spark.mapping import MessageMapping

    if not (args.source and args.mapping):
        raise ConfigError("--row-id needs --source TABLE|PATH and --mapping JSON (the sync's)")
    try:
        return MessageMapping.from_dict(json.loads(args.mapping))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--mapping: not a mapping JSON ({exc})") from None


def main(argv: Sequence[str] | None = None, spark: object = None) -> int:
    """Run the lookup; returns the exit code (0 done, 1 failed, 2 bad arguments)."""
    args = _common.parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        mapping = _mapping(args) if args.row_id else None
        ledger = _common.ledger_of(args)
        from customerio_sink.spark.session import get_spark
        from customerio_sink.spark.trace import trace

        session = spark or get_spark(NAME, verbose=args.verbose)
        fates = trace(
            session,  # type: ignore[arg-type]
            ledger,
            job=args.job_name,
            key=args.key,
            row_id=args.row_id,
            message_id=args.message_id,
            source=args.source,
            mapping=mapping,
        )
    except ConfigError as exc:
        print(f"{NAME}: error: {exc.message}", file=sys.stderr)
        return _common.EXIT_ARGS
    except Exception as exc:
        return _common.fail(NAME, exc)
    for fate in fates:
        if args.json:
            record = {k: v for k, v in vars(fate).items() if k != "history"}
            record["history"] = fate.history
            _common.say(json.dumps(record, default=str, sort_keys=True))
        else:
            _common.say(fate.describe())
    if not fates:
        _common.say(f"{NAME}: no rows of job {args.job_name!r} match")
    return _common.EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
