"""The job flags every streaming job shares, and the small parsers behind them.

:func:`build_parser` gives a job's ``ArgumentParser`` (one-line errors, exit code 2) with the
common flags; a job adds its mapping flags. :func:`column_spec` and :func:`other_columns` turn
the column flags into a mapping's attribute columns.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import Field
from typing import Any, NoReturn

from customerio_sink.errors import ConfigError
from customerio_sink.spark.option_rules import RULES

__all__ = [
    "CDF_COLUMNS",
    "COMMON_EPILOG",
    "EXIT_ARGS",
    "JobParser",
    "add_tuning_flags",
    "build_parser",
    "column_spec",
    "flag_of",
    "other_columns",
    "positive",
    "ranged",
    "tuning_of",
]

EXIT_ARGS = 2

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
            "--metrics",
            action="store_true",
            help="write a row per micro-batch to the ledger's metrics table (for the alerts job)",
        )
        src.add_argument(
            "--timeout-seconds",
            type=positive(float),
            metavar="S",
            help="stop the query cleanly after S seconds (continuous triggers)",
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
        "--payload-key",
        metavar="SCOPE/KEY|env:NAME",
        help="secret holding a Fernet key: dead-letter and retry-queue payloads are stored "
        "encrypted with it, and replay decrypts them with it",
    )

    add_tuning_flags(parser, stream=stream)

    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also show Spark's startup output (Ivy's resolution report, startup warnings)",
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
        "--journal-shared",
        action="store_true",
        help="the journal directory is on a filesystem every node mounts (needed for a plain "
        "directory when the master is not local; /Volumes/... and /dbfs/... need no flag)",
    )
    led.add_argument(
        "--job-name",
        metavar="NAME",
        help=f"name in the ledger and of the query (default: {name})",
    )
    parser.set_defaults(_job=name)
    return parser


def flag_of(f: Field[Any]) -> str:
    """The command-line flag of a tunable option: ``rate_period_s`` → ``--rate-period-seconds``."""
    name = f.name[:-2] + "_seconds" if f.name.endswith("_s") else f.name
    return str(f.metadata.get("flag") or "--" + name.replace("_", "-"))


def add_tuning_flags(parser: argparse.ArgumentParser, *, stream: bool) -> None:
    """One flag per tunable :class:`SinkOptions` field, with the field's help and default (the
    flags are derived, never listed here a second time). A flag not given leaves the field's
    default; the value lands in ``args.<field name>``."""
    from customerio_sink.spark.options import option_kind, tuning_fields

    group = parser.add_argument_group("sending (defaults from customerio_sink.SinkOptions)")
    for f in tuning_fields():
        if f.metadata.get("stream_only") and not stream:
            continue
        kind, default = option_kind(f), f.default
        shown = (
            ""
            if default in (None, False)
            else f" (default {default:g})"
            if isinstance(default, float)
            else f" (default {default})"
        )
        kw: dict[str, Any] = {"dest": f.name, "help": str(f.metadata["help"]) + shown}
        if kind is bool:
            kw.update(action="store_true")
        else:
            kw["default"] = None
            if f.metadata.get("choices"):
                kw["choices"] = f.metadata["choices"]
            elif f.name in RULES:
                kw["type"] = ranged(f.name)
            elif kind in (int, float):
                kw["type"] = positive(kind)
            metavar = "S" if f.name.endswith("_s") else "N" if kind in (int, float) else "TEXT"
            if "choices" not in kw:
                kw["metavar"] = f.metadata.get("metavar", metavar)
        group.add_argument(flag_of(f), **kw)


def tuning_of(args: argparse.Namespace) -> dict[str, Any]:
    """The tunable :class:`SinkOptions` fields the flags set (flags not given are left out)."""
    from customerio_sink.spark.options import option_kind, tuning_fields

    out: dict[str, Any] = {}
    for f in tuning_fields():
        value = getattr(args, f.name, None)
        if value is not None and not (option_kind(f) is bool and value is False):
            out[f.name] = value
    return out


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


def ranged(option: str) -> Callable[[str], Any]:
    """An argparse type: a number within the range :data:`~customerio_sink.spark.option_rules.RULES`
    declares for ``option`` (argparse names the flag; the message names value and range)."""
    rule = RULES[option]

    def parse(text: str) -> Any:
        try:
            value = rule.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a {'whole ' if rule.kind is int else ''}number, got {text!r} "
                f"(allowed {rule.allowed()})"
            ) from None
        problem = rule.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(f"{text} is {problem}")
        return value

    parse.__name__ = rule.kind.__name__
    return parse


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
