"""Keep Customer.io objects (companies, accounts…) — or people's relationships to them — in step
with a Delta table, from its change data feed.

Objects mode: inserts/updates → ``group`` (object attributes from the mapped columns), deletes →
``Object Deleted``. ``--relationships`` mode (a person ↔ object table): inserts/updates →
``group`` with the person's ``userId`` (relationship attributes from the mapped columns),
deletes → ``Relationship Deleted``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from customerio_sink.spark.mapping import MessageMapping
from streaming_jobs import _common

NAME = "sync_objects"

EXAMPLES = """\
  # companies (object type 1) from their change feed, then stop
  python -m streaming_jobs.sync_objects --source main.crm.companies \\
      --object-id-column company_id --object-type-id 1 --traits name,industry,seats \\
      --checkpoint /Volumes/main/cio/state/prod/sync_objects/checkpoint \\
      --ledger-schema main.cio_ledger --journal-dir /Volumes/main/cio/state/prod/journal

  # who belongs to which company, with a role on the relationship, continuously
  python -m streaming_jobs.sync_objects --relationships --source main.crm.memberships \\
      --user-id-column user_id --object-id-column company_id --traits role \\
      --job-name sync_memberships --trigger "10 seconds" \\
      --checkpoints-file checkpoints.json --env prod
"""


def build_parser() -> _common.JobParser:
    parser = _common.build_parser(
        NAME,
        "Sync an objects table (or, with --relationships, a person-to-object table) to "
        "Customer.io from its change data feed. The table needs "
        "delta.enableChangeDataFeed = true. Run objects and relationships as two jobs, each "
        "with its own --job-name and checkpoint.",
        EXAMPLES,
        cdf=True,
    )
    m = parser.add_argument_group("mapping")
    m.add_argument(
        "--relationships",
        action="store_true",
        help="the table relates people to objects (one row per pair)",
    )
    m.add_argument(
        "--object-id-column",
        default="object_id",
        metavar="COL",
        help="object id column (object_id)",
    )
    m.add_argument(
        "--object-type-id",
        default="1",
        metavar="ID",
        help="Customer.io object type id of every row (default 1)",
    )
    m.add_argument(
        "--user-id-column",
        default="user_id",
        metavar="COL",
        help="person id column, with --relationships (user_id)",
    )
    m.add_argument(
        "--key-column",
        metavar="COL",
        help="column identifying a row, when not the object id (objects) or the person/object "
        "pair (relationships)",
    )
    m.add_argument(
        "--traits",
        metavar="COLS",
        help="columns sent as object attributes (relationship attributes with "
        "--relationships), comma-separated; OUT=COL renames (default: every column but the "
        "id and timestamp columns)",
    )
    m.add_argument(
        "--timestamp-column",
        metavar="COL",
        help="time of the change (default: the change's commit time)",
    )
    return parser


def mapping_for(args: argparse.Namespace, columns: list[str]) -> MessageMapping:
    """The mapping the flags describe, over a source with these columns."""
    if not args.object_type_id.strip().isdigit():
        from customerio_sink.errors import ConfigError

        raise ConfigError(f"--object-type-id: a whole number, got {args.object_type_id!r}")
    user_id = args.user_id_column if args.relationships else None
    traits = _common.column_spec(args.traits)
    if traits is None:
        used = (args.object_id_column, user_id, args.key_column, args.timestamp_column)
        traits = _common.other_columns(columns, used)
    return MessageMapping(
        source="cdf",
        entity="relationship" if args.relationships else "object",
        user_id=user_id,
        group_id=args.object_id_column,
        object_type_id=args.object_type_id.strip(),
        key=args.key_column,
        traits=traits or (),
        timestamp=args.timestamp_column,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the exit code (0 done, 1 failed, 2 bad arguments)."""
    args = _common.parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    return _common.run_stream_job(args, kind="cdf", mapping_for=mapping_for)


if __name__ == "__main__":
    raise SystemExit(main())
