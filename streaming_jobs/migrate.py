"""Migration tools: import exports, backfill history, re-key people, the cut-over check.

    python -m streaming_jobs.migrate import   --export DIR --table PATH
    python -m streaming_jobs.migrate backfill --source T --mapping JSON --checkpoint D ...
    python -m streaming_jobs.migrate rekey    --pairs T --old-column C --new-column C ...
    python -m streaming_jobs.migrate cutover  --source T --mapping JSON --old-messages T

``--mapping`` is the sink's mapping as JSON (the fields of
:class:`~customerio_sink.spark.mapping.MessageMapping`, as the Data Source's ``mapping`` option).
The API key is read from $CUSTOMERIO_API_KEY (``--api-key-env NAME``). Exit codes: 0 done,
1 failed, 2 bad arguments (one line naming the flag or row, and the fix).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from customerio_sink.errors import ConfigError
from customerio_sink.messages.limits import RATE_REQUESTS
from streaming_jobs import _common

NAME = "migrate"


def build_parser() -> _common.JobParser:
    parser = _common.JobParser(
        prog=f"python -m streaming_jobs.{NAME}",
        description=__doc__.split("\n\n")[0] if __doc__ else "",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="tool", required=True, parser_class=_common.JobParser)
    imp = sub.add_parser("import", help="JSON-lines exports → a Delta queue table")
    imp.add_argument("--export", required=True, nargs="+", metavar="FILE|DIR")
    imp.add_argument("--table", required=True, metavar="TABLE|PATH")
    back = sub.add_parser("backfill", help="a history table through the sink, once")
    _source(back)
    back.add_argument("--checkpoint", required=True, metavar="DIR")
    back.add_argument("--already-sent", metavar="TABLE|PATH", help="an imported queue table")
    back.add_argument("--live-share", type=float, default=0.5, metavar="F")
    back.add_argument("--files-per-batch", type=_common.positive(int), metavar="N")
    back.add_argument("--send-recent", action="store_true", help="do not park 72-hour rows")
    _delivery(back)
    rk = sub.add_parser("rekey", help="alias + identify people onto new ids; key map")
    rk.add_argument("--pairs", required=True, metavar="TABLE|PATH")
    rk.add_argument("--old-column", default="old_id", metavar="COL")
    rk.add_argument("--new-column", default="new_id", metavar="COL")
    rk.add_argument("--traits-from", metavar="TABLE|PATH", help="people table (new ids)")
    rk.add_argument("--traits", metavar="COLS", help="comma-separated trait columns")
    _delivery(rk)
    cut = sub.add_parser("cutover", help="dry run vs what the old pipeline sent")
    _source(cut)
    cut.add_argument("--old-messages", required=True, metavar="TABLE|PATH")
    for p in (imp, cut):
        p.add_argument("--verbose", action="store_true", help="show Spark's startup output")
    return parser


def _source(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, metavar="TABLE|PATH")
    p.add_argument("--mapping", required=True, metavar="JSON", help="the sink's mapping as JSON")
    p.add_argument("--job-name", required=True, metavar="NAME", help="the sink's job name")


def _delivery(p: argparse.ArgumentParser) -> None:
    if not any(a.dest == "job_name" for a in p._actions):
        p.add_argument("--job-name", required=True, metavar="NAME")
    p.add_argument("--ledger-path", required=True, metavar="DIR")
    p.add_argument("--endpoint", metavar="URL", help="Pipelines base URL (e.g. an emulator)")
    p.add_argument("--region", choices=("us", "eu"))
    p.add_argument("--api-key-env", default="CUSTOMERIO_API_KEY", metavar="NAME")
    p.add_argument("--rate-requests", type=int, default=RATE_REQUESTS, metavar="N")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--verbose", action="store_true", help="show Spark's startup output")


def _mapping(text: str) -> Any:
    from customerio_sink.migrate.rekey import Declared
    from customerio_sink.spark.mapping import MessageMapping

    try:
        return Declared(MessageMapping.from_dict(json.loads(text)))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--mapping: not a mapping JSON ({exc})") from None


def _sink(args: argparse.Namespace) -> dict[str, Any]:
    from customerio_sink.spark.options import resolve_api_key

    key = resolve_api_key(api_key_env=args.api_key_env, dry_run=args.dry_run)
    return {
        "api_key": key,
        "endpoint": args.endpoint,
        "region": args.region,
        "dry_run": args.dry_run,
    }


def _run(args: argparse.Namespace, spark: Any) -> list[str]:
    from customerio_sink import migrate

    if args.tool == "import":
        return [migrate.import_messages(spark, args.export, args.table).summary_line()]
    if args.tool == "cutover":
        report = migrate.cutover_check(
            spark,
            source=args.source,
            mapping=_mapping(args.mapping),
            old_messages=args.old_messages,
            job=args.job_name,
        )
        return report.lines()
    if args.tool == "backfill":
        back = migrate.backfill(
            spark,
            source=args.source,
            mapping=_mapping(args.mapping),
            ledger=args.ledger_path,
            checkpoint=args.checkpoint,
            job=args.job_name,
            already_sent=args.already_sent,
            rate_requests=args.rate_requests,
            live_share=args.live_share,
            hold_recent=not args.send_recent,
            files_per_batch=args.files_per_batch,
            progress=_common.say,
            **_sink(args),
        )
        return back.lines()
    result = migrate.rekey(
        spark,
        pairs=args.pairs,
        old=args.old_column,
        new=args.new_column,
        ledger=args.ledger_path,
        job=args.job_name,
        traits_from=args.traits_from,
        traits=[t.strip() for t in args.traits.split(",")] if args.traits else None,
        rate_requests=args.rate_requests or None,
        progress=_common.say,
        **_sink(args),
    )
    return [result.summary_line()]


def main(argv: Sequence[str] | None = None, spark: Any = None) -> int:
    """Run one tool; returns the exit code (0 done, 1 failed, 2 bad arguments)."""
    args = _common.parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        from customerio_sink.spark.session import get_spark

        session = spark or get_spark(f"{NAME}-{args.tool}", verbose=args.verbose)
        lines = _run(args, session)
    except ConfigError as exc:
        print(f"{NAME} {args.tool}: error: {exc.message}", file=sys.stderr)
        return _common.EXIT_ARGS
    except Exception as exc:
        return _common.fail(f"{NAME} {args.tool}", exc)
    for line in lines:
        _common.say(line)
    return _common.EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
