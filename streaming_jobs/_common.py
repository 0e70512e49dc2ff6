"""What every streaming job shares: the common flags (declared in :mod:`streaming_jobs._args`),
their translation into :class:`~customerio_sink.spark.options.SinkOptions`, and the
run → summary → exit code wrapper.

A job module declares only its mapping flags and how they become a
:class:`~customerio_sink.spark.mapping.MessageMapping`; :func:`run_stream_job` does the rest::

    argument parsing → SinkOptions → read_source → run_sync → summary, exit code

Exit codes: 0 done (dead letters are an outcome, not a failure), 1 the job failed (one line on
stderr, never a traceback or a key), 2 bad arguments (flags, options or mapping columns; one line,
before anything is read or sent), 130 stopped by Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customerio_sink.errors import ConfigError
from streaming_jobs._args import (
    CDF_COLUMNS,
    EXIT_ARGS,
    JobParser,
    build_parser,
    column_spec,
    other_columns,
    positive,
    tuning_of,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from customerio_sink.client.secrets import SecretKey
    from customerio_sink.spark.ledger import Ledger
    from customerio_sink.spark.mapping import MessageMapping
    from customerio_sink.spark.options import SinkOptions

__all__ = [
    "CDF_COLUMNS",
    "EXIT_ARGS",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "JobParser",
    "build_parser",
    "check_columns",
    "column_spec",
    "error_line",
    "fail",
    "job_name",
    "ledger_of",
    "load_checkpoints_file",
    "other_columns",
    "parse",
    "positive",
    "resolve_key",
    "resolve_locations",
    "run_stream_job",
    "say",
    "sink_options",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def load_checkpoints_file(path: str, env: str, job: str) -> dict[str, str]:
    """Checkpoint and ledger locations of ``job`` in ``env`` from a checkpoints JSON file
    (shape: ``checkpoints_template/checkpoints.example.json``)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--checkpoints-file {path}: cannot read it ({exc})") from None
    envs = data.get("environments", {})
    if env not in envs:
        raise ConfigError(
            f"--checkpoints-file {path}: no environment {env!r} (has: {', '.join(sorted(envs))})"
        )
    conf = envs[env]
    root = str(conf.get("root", "")).rstrip("/")
    jobs = conf.get("jobs", {})
    if job in jobs:
        checkpoint = str(jobs[job]).replace("{root}", root)
    elif root:
        checkpoint = f"{root}/{job}/checkpoint"
    else:
        raise ConfigError(f"--checkpoints-file {path}: no checkpoint for job {job!r} in {env!r}")
    out = {"checkpoint": checkpoint}
    for name in ("ledger_path", "ledger_schema", "journal_dir"):
        if conf.get(name):
            out[name] = str(conf[name]).replace("{root}", root)
    return out


# -- options -------------------------------------------------------------------------------


def job_name(args: argparse.Namespace) -> str:
    """``--job-name``, or the job's own name."""
    return str(args.job_name or args._job)


def resolve_locations(args: argparse.Namespace) -> None:
    """Fill ``--checkpoint`` and the ledger flags from ``--checkpoints-file``; check them."""
    stream = hasattr(args, "checkpoint")
    if getattr(args, "checkpoints_file", None):
        if not args.env:
            raise ConfigError("--checkpoints-file needs --env")
        found = load_checkpoints_file(args.checkpoints_file, args.env, job_name(args))
        if stream and not args.checkpoint:
            args.checkpoint = found["checkpoint"]
        if not (args.ledger_path or args.ledger_schema):
            args.ledger_path = found.get("ledger_path")
            args.ledger_schema = found.get("ledger_schema")
        args.journal_dir = args.journal_dir or found.get("journal_dir")
    if stream and not args.checkpoint:
        raise ConfigError("give --checkpoint DIR (or --checkpoints-file F --env E)")
    if not (args.ledger_path or args.ledger_schema):
        raise ConfigError("give --ledger-path DIR or --ledger-schema CATALOG.SCHEMA")
    ledger_of(args)  # its own checks (journal dir with a schema), before any JVM starts


def ledger_of(args: argparse.Namespace) -> Ledger:
    """The :class:`Ledger` of the ledger flags (raises ConfigError on a bad combination)."""
    from customerio_sink.spark.ledger import Ledger

    return Ledger(
        path=args.ledger_path,
        schema=args.ledger_schema,
        journal_dir=args.journal_dir,
        journal_shared=bool(getattr(args, "journal_shared", False)),
    )


def resolve_key(args: argparse.Namespace) -> SecretKey | None:
    """The API key from the key flags; None only in a dry run without one."""
    from customerio_sink.spark.options import resolve_api_key

    return resolve_api_key(
        api_key_env=args.api_key_env,
        secret_scope=args.secret_scope,
        secret_key=args.secret_key,
        dry_run=args.dry_run,
    )


def sink_options(
    args: argparse.Namespace, mapping: MessageMapping, key: SecretKey | None
) -> SinkOptions:
    """The :class:`SinkOptions` the common flags describe, for this mapping and key."""
    import dataclasses

    from customerio_sink.spark.keys import key_source_of, payload_cipher
    from customerio_sink.spark.options import SinkOptions

    ledger = dataclasses.replace(
        ledger_of(args), cipher=payload_cipher(getattr(args, "payload_key", None))
    )
    return SinkOptions(
        job=job_name(args),
        mapping=mapping,
        ledger=ledger,
        api_key=key,
        key_source=None if key is None else key_source_of(args),
        endpoint=args.endpoint,
        region=args.region,
        source_name=getattr(args, "source", "") or "",
        **tuning_of(args),
    )


def check_columns(args: argparse.Namespace, mapping: MessageMapping, columns: list[str]) -> None:
    """Raise ConfigError naming the flag and the column when the mapping reads a column the
    source does not have (before the stream starts, so nothing is read or sent)."""
    from customerio_sink.spark.mapping import referenced_columns

    missing = [c for c in referenced_columns(mapping) if c not in columns]
    if not missing:
        return
    flags = {
        name: value
        for name, value in vars(args).items()
        if isinstance(value, str) and not name.startswith("_")
    }

    def flag_of(column: str) -> str:
        for name, value in flags.items():
            parts = [p.partition("=")[2] or p for p in value.split(",")]
            if column in (p.strip() for p in parts):
                return f"--{name.replace('_', '-')} {value}: "
        return ""

    column = missing[0]
    raise ConfigError(
        f"{flag_of(column)}no column {column!r} in {getattr(args, 'source', 'the source')} "
        f"(it has: {', '.join(columns)})"
        + (f"; also missing: {', '.join(missing[1:])}" if len(missing) > 1 else "")
    )


# -- running -------------------------------------------------------------------------------


_ERROR_LINE = re.compile(r"^\s*((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception)): (.+)$")


def error_line(exc: BaseException, secret: SecretKey | None = None) -> str:
    """One line that says what went wrong, from an exception that may carry a JVM stack trace
    and a Python traceback (a failed streaming query). The key, if known, is masked."""
    if isinstance(exc, ConfigError):
        return _mask(f"ConfigError: {exc.message}", secret)
    text = str(exc).strip()
    # A failed query's text ends with the Python error of the task or foreachBatch function.
    candidates = [m for line in text.splitlines() if (m := _ERROR_LINE.match(line))]
    ours = [m for m in candidates if m.group(1).startswith("customerio_sink.")]
    if ours or candidates:
        match = (ours or candidates)[-1]
        line = f"{match.group(1).rsplit('.', 1)[-1]}: {match.group(2)}"
    else:
        first = text.splitlines()[0] if text else ""
        line = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return _mask(line, secret)[:500]


def _mask(text: str, secret: SecretKey | None) -> str:
    # Errors never carry the key; this is a second fence. Very short values (test keys) would
    # only mangle the words around them.
    if secret is not None and len(secret.reveal()) >= 8:
        text = text.replace(secret.reveal(), "**********")
    return text


def fail(job: str, exc: BaseException, secret: SecretKey | None = None) -> int:
    """Print the one-line error of a failed job on stderr; return exit code 1."""
    print(f"{job}: failed: {error_line(exc, secret)}", file=sys.stderr, flush=True)
    return EXIT_FAILED


def say(text: str) -> None:
    print(text, flush=True)


def parse(parser: JobParser, argv: Sequence[str] | None) -> argparse.Namespace | int:
    """Parse, turning argparse's ``SystemExit`` (``--help``, bad flags) into an exit code so
    ``main([...])`` returns instead of exiting — a Databricks job calls it in-process."""
    try:
        return parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_ARGS


class _StopOnSignal:
    """While a continuous query runs in the main thread, SIGTERM asks it to stop cleanly."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.previous: Any = None
        self.active = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> _StopOnSignal:
        if self.active:
            self.previous = signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.signal(signal.SIGTERM, self.previous)


def run_stream_job(
    args: argparse.Namespace,
    *,
    kind: str,
    mapping_for: Callable[[argparse.Namespace, list[str]], MessageMapping],
    spark: SparkSession | None = None,
) -> int:
    """Run one streaming job from its parsed flags; return the exit code.

    ``mapping_for(args, source_columns)`` builds the job's mapping (the columns let it default
    the attributes to "every other column"). ``spark`` defaults to the active session (or a
    local one with Delta).
    """
    job = job_name(args)
    key: SecretKey | None = None
    query: list[Any] = []
    started = time.monotonic()
    try:
        resolve_locations(args)
        if not args.secret_scope and not args.secret_key:
            key = resolve_key(args)  # fail fast, before a JVM starts
        from customerio_sink.spark.runner import read_source, run_sync
        from customerio_sink.spark.session import get_spark

        if spark is None:
            spark = get_spark(job, verbose=args.verbose)
        if args.secret_scope or args.secret_key:
            key = resolve_key(args)  # Databricks secrets need the session
        source_df = read_source(
            spark, args.source, kind=kind, start=getattr(args, "start", "backfill")
        )
        options = sink_options(args, mapping_for(args, list(source_df.columns)), key)
        check_columns(args, options.mapping, list(source_df.columns))
        say(
            f"{job}: {args.source} ({kind}) → "
            f"{'dry run' if options.dry_run else options.endpoint or options.region or 'us'}, "
            f"checkpoint {args.checkpoint}, ledger {options.ledger.path or options.ledger.schema}"
        )
        metrics = None
        if getattr(args, "metrics", False):
            from customerio_sink.spark.metrics import install_metrics

            metrics = install_metrics(spark, options)
        stop = threading.Event()
        with _StopOnSignal(stop):
            result = run_sync(
                spark,
                options,
                source_df,
                checkpoint=args.checkpoint,
                trigger=args.trigger,
                front_door=args.front_door,
                timeout_s=args.timeout_seconds,
                progress=say,
                stop_event=stop,
                on_start=query.append,
            )
        if metrics is not None:  # the last batches' rows, then stop listening
            metrics.wait_for(job, {int(b["batch_id"]) for b in result.batches})
            spark.streams.removeListener(metrics)
    except ConfigError as exc:  # before anything was sent: a bad flag or column
        print(f"{job}: error: {error_line(exc, key)[len('ConfigError: ') :]}", file=sys.stderr)
        return EXIT_ARGS
    except KeyboardInterrupt:
        for q in query:
            q.stop()
        say(f"{job}: stopped by the user; the checkpoint keeps its progress")
        return EXIT_INTERRUPTED
    except Exception as exc:
        partial = getattr(exc, "sync_result", None)
        if partial is not None and partial.batches:
            say(f"{job}: before the failure: {partial.summary_line()}")
        return fail(job, exc, key)
    totals = result.totals
    say(
        f"{job}: done in {time.monotonic() - started:.1f} s — rows {totals['rows_in']}, "
        f"acks {totals['acked']}, dead letters {totals['dead_lettered']}, "
        f"parked {totals['parked']}, skipped {totals['skipped']}, requests {totals['requests']}"
        + (f" — {result.time_text()}" if result.batches else "")
    )
    if totals["dead_lettered"]:
        say(
            f"{job}: {totals['dead_lettered']} dead letters in "
            f"{options.ledger.table('dead_letters')}; fix the rows, or replay with "
            f"python -m streaming_jobs.replay_dead_letters --job-name {job}"
        )
    if totals["parked"]:
        say(
            f"{job}: {totals['parked']} parked in {options.ledger.table('retry_queue')}; drain "
            f"with python -m streaming_jobs.replay_dead_letters --job-name {job} "
            "--drain-retry-queue"
        )
    return EXIT_OK
