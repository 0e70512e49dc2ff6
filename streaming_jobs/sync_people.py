"""Keep Customer.io people in step with a Delta people table, from its change data feed.

Inserts and updates become ``identify`` calls (traits from the mapped columns), deletes become
``User Deleted``. Updates that change none of the mapped columns are skipped, and a key's changes
within a batch collapse to its net change, in commit order.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from customerio_sink.spark.mapping import MessageMapping
from streaming_jobs import _common

NAME = "sync_people"

EXAMPLES = """\
  # backfill a people table into Customer.io, then stop (key in $CUSTOMERIO_API_KEY)
  python -m streaming_jobs.sync_people --source main.crm.people \\
      --user-id-column id --traits email,plan,first_name \\
      --checkpoint /Volumes/main/cio/state/prod/sync_people/checkpoint \\
      --ledger-schema main.cio_ledger --journal-dir /Volumes/main/cio/state/prod/journal

  # run continuously, traits kept as a JSON column, key from a Databricks secret
  python -m streaming_jobs.sync_people --source main.crm.people --user-id-column id \\
      --traits-json attributes --trigger "10 seconds" --secret-scope cio --secret-key pipelines \\
      --checkpoints-file checkpoints.json --env prod

  # only changes from now on, against a local emulator, renaming a column
  python -m streaming_jobs.sync_people --source /data/people --start latest \\
      --traits email,plan,created_at=signup_ts --endpoint http://127.0.0.1:8765 \\
      --checkpoint /tmp/cio/dev/sync_people/checkpoint --ledger-path /tmp/cio/dev/ledger
"""


def build_parser() -> _common.JobParser:
    parser = _common.build_parser(
        NAME,
        "Sync a people table's change data feed to Customer.io: inserts/updates → identify, "
        "deletes → User Deleted. The table needs delta.enableChangeDataFeed = true.",
        EXAMPLES,
        cdf=True,
    )
    m = parser.add_argument_group("mapping")
    m.add_argument(
        "--user-id-column", default="user_id", metavar="COL", help="person id column (user_id)"
    )
    m.add_argument("--anonymous-id-column", metavar="COL", help="anonymous id column, if any")
    traits = m.add_mutually_exclusive_group()
    traits.add_argument(
        "--traits",
        metavar="COLS",
        help="columns sent as traits, comma-separated; OUT=COL renames (default: every column "
        "but the id and timestamp columns)",
    )
    traits.add_argument(
        "--traits-json", metavar="COL", help="a column holding the traits as a JSON object"
    )
    m.add_argument(
        "--timestamp-column",
        metavar="COL",
        help="time of the change (default: the change's commit time)",
    )
    m.add_argument(
        "--email-trait", default="email", metavar="NAME", help="trait checked as an email (email)"
    )
    return parser


def mapping_for(args: argparse.Namespace, columns: list[str]) -> MessageMapping:
    """The mapping the flags describe, over a source with these columns."""
    traits = _common.column_spec(args.traits)
    if traits is None and not args.traits_json:
        used = (args.user_id_column, args.anonymous_id_column, args.timestamp_column)
        traits = _common.other_columns(columns, used)
    return MessageMapping(
        source="cdf",
        entity="person",
        user_id=args.user_id_column,
        anonymous_id=args.anonymous_id_column,
        traits=traits or (),
        traits_json=args.traits_json,
        timestamp=args.timestamp_column,
        email=args.email_trait,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the exit code (0 done, 1 failed, 2 bad arguments)."""
    args = _common.parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    return _common.run_stream_job(args, kind="cdf", mapping_for=mapping_for)


if __name__ == "__main__":
    raise SystemExit(main())
