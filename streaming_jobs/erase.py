"""GDPR erasure: a requests table of user ids → ``User Deleted`` (and ``User Suppressed`` where
asked) at Customer.io, the people's rows removed from every ledger table, an audit row each."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from customerio_sink.errors import ConfigError
from streaming_jobs import _common

NAME = "erase"

EXAMPLES = """\
  # erase the people of a requests table (user_id, suppress, request_id)
  python -m streaming_jobs.erase --requests main.privacy.erasure_requests \\
      --ledger-schema main.customerio_ledger \\
      --journal-dir /Volumes/main/customerio/state/prod/journal \\
      --secret-scope customerio --secret-key pipelines-api-key \\
      --hash-key customerio/erasure-hash-key --vacuum-hours 168
"""


def build_parser() -> _common.JobParser:
    parser = _common.build_parser(
        NAME,
        "Erase people: send User Deleted (+ User Suppressed where the request says so) through "
        "the sink, remove their rows from every ledger table, and write an erasure_audit row "
        "per person (a keyed hash of the id, never the id).",
        EXAMPLES,
        stream=False,
    )
    what = parser.add_argument_group("erasure")
    what.add_argument(
        "--requests",
        required=True,
        metavar="TABLE|PATH",
        help="Delta table (name, or a path with '/') with user_id, optional suppress "
        "(boolean) and request_id",
    )
    what.add_argument(
        "--hash-key",
        metavar="SCOPE/KEY|env:NAME",
        help="secret for the keyed hash of user ids in the audit (without: no hash is kept)",
    )
    what.add_argument(
        "--vacuum-hours",
        type=float,
        metavar="H",
        help="VACUUM the tables that lost rows, keeping files newer than H hours",
    )
    return parser


def _hasher(args: argparse.Namespace) -> Any:
    if not args.hash_key:
        return None
    from customerio_sink.spark.keys import parse_source
    from customerio_sink.spark.protect import KeyedHasher

    return KeyedHasher(parse_source(args.hash_key).read())


def main(argv: Sequence[str] | None = None, spark: Any = None) -> int:
    """Run the erasure; 0 done, 1 failed or someone not erased, 2 bad arguments."""
    args = _common.parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    job = _common.job_name(args)
    key = None
    try:
        if args.dry_run:
            raise ConfigError("--dry-run: an erasure sends its deletes; there is no dry run")
        _common.resolve_locations(args)
        if not args.secret_scope and not args.secret_key:
            key = _common.resolve_key(args)
        from customerio_sink.spark.erasure import erase_people
        from customerio_sink.spark.session import get_spark

        session = spark or get_spark(NAME, verbose=args.verbose)
        if key is None:
            key = _common.resolve_key(args)
        from customerio_sink.spark.erasure import ERASE_MAPPING

        options = _common.sink_options(args, ERASE_MAPPING, key)
        requests = (
            session.read.format("delta").load(args.requests)
            if "/" in args.requests
            else session.table(args.requests)
        )
        report = erase_people(
            session,
            options,
            requests,
            hasher=_hasher(args),
            erased_by=job,
            vacuum_hours=args.vacuum_hours,
        )
    except ConfigError as exc:
        print(
            f"{job}: error: {_common.error_line(exc, key)[len('ConfigError: ') :]}",
            file=sys.stderr,
        )
        return _common.EXIT_ARGS
    except Exception as exc:
        return _common.fail(job, exc, key)
    removed = ", ".join(f"{t} {n}" for t, n in sorted(report.rows_removed.items())) or "none"
    _common.say(
        f"{job}: run {report.run_id}: {len(report.erased)} people erased, "
        f"{len(report.not_delivered)} not delivered; ledger rows removed: {removed}"
    )
    if report.already_done:
        _common.say(
            f"{job}: {len(report.already_done)} requests already erased by an earlier run "
            "(acked in erasure_audit): not sent again"
        )
    if report.not_delivered:
        _common.say(
            f"{job}: {len(report.not_delivered)} deletes were not acknowledged: their ledger "
            "rows are kept; see erasure_audit and dead_letters, and run the erasure again"
        )
        return _common.EXIT_FAILED
    return _common.EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
