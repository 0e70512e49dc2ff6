"""What every streaming job shares: the common flags, their translation into
:class:`~customerio_sink.spark.options.SinkOptions`, and the run → summary → exit code wrapper.

A job module declares only its mapping flags and how they become a
:class:`~customerio_sink.spark.mapping.MessageMapping`; :func:`run_stream_job` does the rest::

    argument parsing → SinkOptions → read_source → run_sync → summary, exit code

Exit codes: 0 done (dead letters are an outcome, not a failure), 1 the job failed (one line on
stderr, never a traceback or a key), 2 bad arguments, 130 stopped by Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from customerio_sink.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from customerio_sink.secrets import SecretKey
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
EXIT_ARGS = 2
EXIT_INTERRUPTED = 130

#: Columns the change data feed adds; never mapped as traits or properties.
CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")

COMMON_EPILOG = """\
common flags:
  The API key is read from $CUSTOMERIO_API_KEY (or --api-key-env NAME), or from a Databricks
  secret (--secret-scope S --secret-key K); it is never accepted on the command line.
  --checkpoint is one directory per job and environment, e.g. <root>/<env>/<job>/checkpoint;
  or give --checkpoints-file F --env E to look it up (see checkpoints_template/README.md).
  Exit codes: 0 done (dead letters are recorded, not failures), 1 failed, 2 bad arguments.
"""


class JobParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (plus a pointer to ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ARGS, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(
    name: str,
    description: str,
    examples: str,
    *,
    stream: bool = True,
    cdf: bool = False,
) -> JobParser:
    """A parser with the common flags. ``stream`` adds the source/checkpoint/trigger flags,
    ``cdf`` adds ``--start``. The job adds its mapping flags to the returned parser."""
    parser = JobParser(
        prog=f"python -m streaming_jobs.{name}",
        description=description,
        epilog=f"examples:\n{examples.rstrip()}\n\n{COMMON_EPILOG}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if stream:
        src = parser.add_argument_group("source and stream")
        src.add_argument(
            "--source",
            required=True,
            metavar="TABLE|PATH",
            help="Delta table name (catalog.schema.table) or path (anything with a '/')",
        )
        src.add_argument(
            "--checkpoint",
            metavar="DIR",
            help="the query's checkpoint directory (one per job and environment)",
        )
        src.add_argument(
            "--checkpoints-file",
            metavar="JSON",
            help="look --checkpoint (and ledger defaults) up in this file by --env and job name",
        )
        src.add_argument("--env", metavar="NAME", help="environment in --checkpoints-file")
        src.add_argument(
            "--trigger",
            default="available-now",
            type=_trigger,
            help="'available-now' (process what is there, then stop; default) or an interval "
            "such as '10 seconds' (run continuously)",
        )
        if cdf:
            src.add_argument(
                "--start",
                default="backfill",
                type=_start,
                help="where a NEW checkpoint starts: 'backfill' (every current row, then the "
                "changes; default), 'latest' (only changes from now on) or a table version. "
                "Ignored once the checkpoint has progress.",
            )
        src.add_argument(
            "--front-door",
            default="foreachBatch",
            choices=("foreachBatch", "datasource"),
            help="foreachBatch writer (any Spark with Delta; default) or the Spark 4 Python "
            "Data Source",
        )
        src.add_argument(
            "--timeout-seconds",
            type=positive(float),
            metavar="S",
            help="stop the query cleanly after S seconds (continuous triggers)",
        )
        src.add_argument(
            "--backfill",
            action="store_true",
            help="history mode: a row without a usable timestamp is dead-lettered instead of "
            "being stamped with the commit time / now",
        )
        src.add_argument(
            "--hold-recent",
            action="store_true",
            help="park rows inside Customer.io's 72-hour campaign-trigger window instead of "
            "sending them",
        )

    cio = parser.add_argument_group("Customer.io")
    where = cio.add_mutually_exclusive_group()
    where.add_argument("--endpoint", metavar="URL", help="Pipelines base URL (e.g. an emulator)")
    where.add_argument("--region", choices=("us", "eu"), help="Customer.io region (default: us)")
    cio.add_argument(
        "--api-key-env",
        default="CUSTOMERIO_API_KEY",
        metavar="NAME",
        help="environment variable holding the API key (default: CUSTOMERIO_API_KEY)",
    )
    cio.add_argument("--secret-scope", metavar="S", help="Databricks secret scope of the key")
    cio.add_argument("--secret-key", metavar="K", help="Databricks secret key name of the key")
    cio.add_argument(
        "--rate-requests",
        type=_non_negative_int,
        default=3000,
        metavar="N",
        help="request budget per 3 seconds across the whole job (default 3000; 0 = off)",
    )
    cio.add_argument(
        "--max-body-bytes",
        type=positive(int),
        metavar="B",
        help="largest /v1/batch body to send (default: the package's limit under 500 KB)",
    )
    cio.add_argument(
        "--on-transient",
        choices=("fail", "park"),
        help="after the retries: 'fail' the batch (Spark replays it; default for change "
        "feeds) or 'park' the messages in the retry queue (default for append-only tables)",
    )
    cio.add_argument(
        "--dry-run",
        action="store_true",
        help="map, validate and pack, but send nothing (no key needed)",
    )

    led = parser.add_argument_group("ledger")
    store = led.add_mutually_exclusive_group()
    store.add_argument("--ledger-path", metavar="DIR", help="directory of the ledger tables")
    store.add_argument(
        "--ledger-schema", metavar="CATALOG.SCHEMA", help="catalog schema of the ledger tables"
    )
    led.add_argument(
        "--journal-dir",
        metavar="DIR",
        help="delivery journal (plain file I/O from every executor; default "
        "<ledger-path>/_journal; required with --ledger-schema, e.g. a /Volumes/... path)",
    )
    led.add_argument(
        "--job-name",
        metavar="NAME",
        help=f"name in the ledger and of the query (default: {name})",
    )
    parser.set_defaults(_job=name)
    return parser


# -- argument types ------------------------------------------------------------------------


def _trigger(text: str) -> str:
    from customerio_sink.spark.runner import trigger_kwargs

    try:
        trigger_kwargs(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return text


def _start(text: str) -> str:
    value = text.strip().lower()
    if value in ("backfill", "latest") or value.isdigit():
        return value
    raise argparse.ArgumentTypeError(f"'backfill', 'latest' or a table version, got {text!r}")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def positive(kind: type) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` greater than 0."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected more than 0, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def column_spec(text: str | None) -> tuple[str, ...] | dict[str, str] | None:
    """``"a,b"`` → ``("a", "b")``; ``"a,out=b"`` → ``{"a": "a", "out": "b"}`` (renames)."""
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not any("=" in item for item in items):
        return tuple(items)
    spec: dict[str, str] = {}
    for item in items:
        out, _, column = item.partition("=")
        if not out.strip() or (item.count("=") and not column.strip()):
            raise ConfigError(f"column list: expected NAME or OUT=COLUMN, got {item!r}")
        spec[out.strip()] = column.strip() or out.strip()
    return spec


def other_columns(columns: Iterable[str], used: Iterable[str | None]) -> tuple[str, ...]:
    """The source columns not used for ids, timestamps or names (the default attributes)."""
    skip = set(CDF_COLUMNS) | {u for u in used if u}
    return tuple(c for c in columns if c not in skip)


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

    return Ledger(path=args.ledger_path, schema=args.ledger_schema, journal_dir=args.journal_dir)


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
    from customerio_sink.spark.options import SinkOptions

    return SinkOptions(
        job=job_name(args),
        mapping=mapping,
        ledger=ledger_of(args),
        api_key=key,
        endpoint=args.endpoint,
        region=args.region,
        rate_requests=args.rate_requests or None,
        max_body_bytes=args.max_body_bytes,
        on_transient=args.on_transient,
        dry_run=args.dry_run,
        backfill=getattr(args, "backfill", False),
        hold_recent=getattr(args, "hold_recent", False),
        source_name=getattr(args, "source", "") or "",
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
            spark = get_spark(job)
        if args.secret_scope or args.secret_key:
            key = resolve_key(args)  # Databricks secrets need the session
        source_df = read_source(
            spark, args.source, kind=kind, start=getattr(args, "start", "backfill")
        )
        options = sink_options(args, mapping_for(args, list(source_df.columns)), key)
        say(
            f"{job}: {args.source} ({kind}) → "
            f"{'dry run' if options.dry_run else options.endpoint or options.region or 'us'}, "
            f"checkpoint {args.checkpoint}, ledger {options.ledger.path or options.ledger.schema}"
        )
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
