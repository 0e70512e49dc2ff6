"""Keep people's devices (push tokens) in Customer.io in step with a Delta devices table, from
its change data feed: inserts/updates → ``Device Created or Updated``, deletes →
``Device Deleted``. The device token is the row's key; every device belongs to a person.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from customerio_sink.spark.mapping import MessageMapping
from streaming_jobs import _common

NAME = "sync_devices"

EXAMPLES = """\
  # every device, then the changes; stop when caught up
  python -m streaming_jobs.sync_devices --source main.app.devices \\
      --device-token-column token --platform-column platform --user-id-column user_id \\
      --checkpoint /Volumes/main/cio/state/prod/sync_devices/checkpoint \\
      --ledger-schema main.cio_ledger --journal-dir /Volumes/main/cio/state/prod/journal

  # continuously, only changes from now on, with chosen device attributes
  python -m streaming_jobs.sync_devices --source /data/devices --start latest \\
      --properties app_version,os_version --trigger "10 seconds" \\
      --checkpoints-file checkpoints.json --env prod
"""


def build_parser() -> _common.JobParser:
    parser = _common.build_parser(
        NAME,
        "Sync a devices table's change data feed to Customer.io: inserts/updates → Device "
        "Created or Updated, deletes → Device Deleted. The table needs "
        "delta.enableChangeDataFeed = true.",
        EXAMPLES,
        cdf=True,
    )
    m = parser.add_argument_group("mapping")
    m.add_argument(
        "--device-token-column",
        default="device_token",
        metavar="COL",
        help="device (push) token column (device_token)",
    )
    m.add_argument(
        "--platform-column",
        default="platform",
        metavar="COL",
        help="platform column: ios / android (platform)",
    )
    m.add_argument(
        "--user-id-column", default="user_id", metavar="COL", help="owner's person id (user_id)"
    )
    m.add_argument(
        "--properties",
        metavar="COLS",
        help="columns sent as device attributes, comma-separated; OUT=COL renames (default: "
        "every column but the token, platform, user id and timestamp columns)",
    )
    m.add_argument(
        "--timestamp-column",
        metavar="COL",
        help="time of the change (default: the change's commit time)",
    )
    return parser


def mapping_for(args: argparse.Namespace, columns: list[str]) -> MessageMapping:
    """The mapping the flags describe, over a source with these columns."""
    properties = _common.column_spec(args.properties)
    if properties is None:
        used = (
            args.device_token_column,
            args.platform_column,
            args.user_id_column,
            args.timestamp_column,
        )
        properties = _common.other_columns(columns, used)
    return MessageMapping(
        source="cdf",
        entity="device",
        user_id=args.user_id_column,
        device_token=args.device_token_column,
        device_platform=args.platform_column,
        traits=properties or (),  # a device's attributes travel in the mapping's traits
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
