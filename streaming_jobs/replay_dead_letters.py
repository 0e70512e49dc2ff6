"""Give dead letters a second chance after their cause is fixed, or drain the retry queue.

Dead letters are messages Customer.io (or validation) rejected: fix the cause first (the source
row, the mapping, the workspace), then replay the chosen ones — by ``--message-ids`` or a SQL
``--where`` over the dead-letter table. ``--drain-retry-queue`` re-sends what transient failures
parked. One replay or drain of a job runs at a time (a second one stops, naming the first); a run
killed half way is finished from its journal by the next, so nothing acknowledged is sent twice.
Letters older than a newer acknowledged call of their key are skipped and listed with the reason
(``--force`` sends them anyway). Every run appends a lineage row with its counts.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from customerio_sink.errors import ConfigError
from streaming_jobs import _common

NAME = "replay_dead_letters"

EXAMPLES = """\
  # re-send two dead letters of sync_people after fixing their rows' emails
  python -m streaming_jobs.replay_dead_letters --job-name sync_people \\
      --message-ids 01J9Z8Y7X6W5V4T3S2R1Q0P9N8,01J9Z8Y7X6W5V4T3S2R1Q0P9N9 \\
      --ledger-schema main.cio_ledger --journal-dir /Volumes/main/cio/state/prod/journal

  # re-send every dead letter of sync_events that failed on a now-fixed rule
  python -m streaming_jobs.replay_dead_letters --job-name sync_events \\
      --where "error_message LIKE 'event: missing%'" --ledger-path /tmp/cio/dev/ledger

  # drain what transient failures parked, at most 10000 messages
  python -m streaming_jobs.replay_dead_letters --job-name sync_events --drain-retry-queue \\
      --max-messages 10000 --checkpoints-file checkpoints.json --env prod
"""


def build_parser() -> _common.JobParser:
    parser = _common.build_parser(
        NAME,
        "Re-send chosen dead letters of a job, or drain its retry queue, through the same "
        "engine as the streams (packing, rate budget, retries). --job-name names the job whose "
        "ledger rows to use.",
        EXAMPLES,
        stream=False,
    )
    what = parser.add_argument_group("what to send")
    what.add_argument(
        "--message-ids", metavar="IDS", help="comma-separated messageIds of dead letters"
    )
    what.add_argument(
        "--where",
        metavar="SQL",
        help="SQL condition over the dead_letters table (e.g. \"error_class = 'RejectedError'\")",
    )
    what.add_argument(
        "--all",
        action="store_true",
        help="every dead letter of the job not replayed yet (instead of --message-ids/--where)",
    )
    what.add_argument(
        "--drain-retry-queue",
        action="store_true",
        help="re-send the retry queue (transient failures) instead of dead letters",
    )
    what.add_argument(
        "--max-messages",
        type=_common.positive(int),
        metavar="N",
        help="with --drain-retry-queue: at most N messages, oldest first",
    )
    what.add_argument(
        "--include-held",
        action="store_true",
        help="with --drain-retry-queue: also rows held back by --hold-recent",
    )
    what.add_argument(
        "--force",
        action="store_true",
        help="also send letters older than a newer acknowledged call of their key (skipped "
        "otherwise, with the reason): the old call then overwrites the newer state",
    )
    return parser


def check(args: argparse.Namespace) -> None:
    """Reject combinations that would do something other than what was asked."""
    if not args.job_name:
        raise ConfigError("give --job-name: the job whose dead letters / retry queue to send")
    chosen = bool(args.message_ids) or bool(args.where) or args.all
    if args.drain_retry_queue and chosen:
        raise ConfigError(
            "--drain-retry-queue sends the retry queue; --message-ids/--where/--all choose "
            "dead letters: give one or the other"
        )
    if not args.drain_retry_queue and not chosen:
        raise ConfigError("choose dead letters: --message-ids, --where or --all")
    if args.all and (args.message_ids or args.where):
        raise ConfigError("--all replays every dead letter: drop --message-ids/--where")
    if args.dry_run:
        raise ConfigError("--dry-run: a replay sends what it selects; there is no dry run")
    if (args.max_messages or args.include_held) and not args.drain_retry_queue:
        raise ConfigError("--max-messages and --include-held go with --drain-retry-queue")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the replay or drain; returns the exit code (0 done, 1 failed, 2 bad arguments)."""
    parser = build_parser()
    args = _common.parse(parser, argv)
    if isinstance(args, int):
        return args
    job = _common.job_name(args)
    key = None
    try:
        check(args)
        _common.resolve_locations(args)
        if not args.secret_scope and not args.secret_key:
            key = _common.resolve_key(args)
        from customerio_sink.spark.mapping import MessageMapping
        from customerio_sink.spark.replay import drain_retry_queue, replay_dead_letters
        from customerio_sink.spark.session import get_spark

        spark = get_spark(NAME)
        if key is None:
            key = _common.resolve_key(args)
        # Replays send the stored payloads: the mapping only fills SinkOptions' required field.
        placeholder = MessageMapping(source="queue", call="track", event="replay")
        options = _common.sink_options(args, placeholder, key)
        if args.drain_retry_queue:
            _common.say(f"{job}: draining the retry queue in {options.ledger.table('retry_queue')}")
            counts = drain_retry_queue(
                spark,
                options,
                max_messages=args.max_messages,
                include_held=args.include_held,
                force=args.force,
            )
        else:
            ids = [i.strip() for i in (args.message_ids or "").split(",") if i.strip()] or None
            _common.say(
                f"{job}: replaying dead letters from {options.ledger.table('dead_letters')}"
            )
            counts = replay_dead_letters(
                spark, options, message_ids=ids, where=args.where, force=args.force
            )
    except KeyboardInterrupt:
        _common.say(f"{job}: stopped by the user")
        return _common.EXIT_INTERRUPTED
    except Exception as exc:
        return _common.fail(job, exc, key)
    _common.say(
        f"{job}: {counts['selected']} selected, {counts['acked']} acked, "
        f"{counts['rejected']} rejected again, {counts['still_queued']} still queued, "
        f"{counts['skipped']} skipped (success rate {counts['success_rate']:.0%})"
    )
    _report_skipped(job, counts["skipped_letters"])
    return _common.EXIT_OK


def _report_skipped(job: str, skipped: list[tuple[str, str, str]], limit: int = 50) -> None:
    """One line per skipped letter (the first ``limit``), with the reason."""
    for message_id, _key, reason in skipped[:limit]:
        _common.say(f"{job}: skipped {message_id}: {reason}")
    if len(skipped) > limit:
        _common.say(f"{job}: … and {len(skipped) - limit} more skipped")
    if skipped:
        _common.say(
            f"{job}: skipped letters are older than a newer call of their key; --force sends "
            "them anyway (the old call then overwrites the newer state)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
