"""Send the rows of an append-only events table to Customer.io as ``track`` calls.

Each appended row is one event. Commits that rewrite files (e.g. purging delivered rows) are
skipped, so the table can be trimmed behind the stream. Give ``--row-id-column`` when the table
has an event id: it makes the ``messageId`` stable even if a row is rewritten.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from customerio_sink.catalog import FAMILIES
from customerio_sink.spark.mapping import MessageMapping
from streaming_jobs import _common

NAME = "sync_events"

EXAMPLES = """\
  # send every event in the table, then stop (key in $CUSTOMERIO_API_KEY)
  python -m streaming_jobs.sync_events --source main.app.events \\
      --event-column event_name --user-id-column user_id --timestamp-column occurred_at \\
      --row-id-column event_id --properties-json properties \\
      --checkpoint /Volumes/main/cio/state/prod/sync_events/checkpoint \\
      --ledger-schema main.cio_ledger --journal-dir /Volumes/main/cio/state/prod/journal

  # one constant event name, chosen columns as properties, every 10 seconds
  python -m streaming_jobs.sync_events --source /data/orders --event "Order Completed" \\
      --user-id-column customer_id --properties order_id,total,currency \\
      --trigger "10 seconds" --checkpoints-file checkpoints.json --env prod

  # a backfill of history: rows without a timestamp are dead-lettered, recent rows parked
  python -m streaming_jobs.sync_events --source /data/events --event-column event \\
      --timestamp-column ts --backfill --hold-recent --dry-run \\
      --checkpoint /tmp/cio/dev/sync_events/checkpoint --ledger-path /tmp/cio/dev/ledger
"""


def build_parser() -> _common.JobParser:
    parser = _common.build_parser(
        NAME,
        "Sync an append-only events table to Customer.io: one row → one track call.",
        EXAMPLES,
    )
    m = parser.add_argument_group("mapping")
    event = m.add_mutually_exclusive_group(required=True)
    event.add_argument("--event-column", metavar="COL", help="column holding the event name")
    event.add_argument("--event", metavar="NAME", help="one event name for every row")
    m.add_argument(
        "--user-id-column", default="user_id", metavar="COL", help="person id column (user_id)"
    )
    m.add_argument(
        "--anonymous-id-column",
        metavar="COL",
        help="anonymous id column (used when the user id is empty)",
    )
    props = m.add_mutually_exclusive_group()
    props.add_argument(
        "--properties",
        metavar="COLS",
        help="columns sent as properties, comma-separated; OUT=COL renames (default: every "
        "column not used for ids, names or times)",
    )
    props.add_argument(
        "--properties-json", metavar="COL", help="a column holding the properties as JSON"
    )
    m.add_argument(
        "--timestamp-column",
        metavar="COL",
        help="event time (default: now; required in effect with --backfill)",
    )
    m.add_argument(
        "--row-id-column",
        metavar="COL",
        help="the event's id, for the deterministic messageId (default: a hash of the row)",
    )
    m.add_argument(
        "--family",
        choices=("all", *sorted(FAMILIES)),
        help="check each row of the semantic catalogue's events of this family against the "
        "catalogue's rules before sending; rows that break one are dead-lettered",
    )
    return parser


def mapping_for(args: argparse.Namespace, columns: list[str]) -> MessageMapping:
    """The mapping the flags describe, over a source with these columns."""
    properties = _common.column_spec(args.properties)
    if properties is None and not args.properties_json:
        used = (
            args.user_id_column,
            args.anonymous_id_column,
            args.event_column,
            args.timestamp_column,
            args.row_id_column,
        )
        properties = _common.other_columns(columns, used)
    return MessageMapping(
        source="queue",
        call="track",
        user_id=args.user_id_column,
        anonymous_id=args.anonymous_id_column,
        event=args.event,
        event_column=args.event_column,
        properties=properties or (),
        properties_json=args.properties_json,
        timestamp=args.timestamp_column,
        row_id=args.row_id_column,
        family=args.family,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the exit code (0 done, 1 failed, 2 bad arguments)."""
    args = _common.parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    return _common.run_stream_job(args, kind="queue", mapping_for=mapping_for)


if __name__ == "__main__":
    raise SystemExit(main())
