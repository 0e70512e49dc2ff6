"""Sink options: one frozen dataclass for both front doors and the streaming jobs.

:meth:`SinkOptions.from_options` reads the string options of ``.option(...)`` calls (the Data
Source) and of job command lines, with a clear error naming any option it cannot use. The API key
is resolved on the driver — from a Databricks secret (``secret_scope``/``secret_key``), an
environment variable (``api_key_env``, default ``CUSTOMERIO_API_KEY``) or, for tests and notebooks,
given directly — and travels to the executors as a :class:`SecretKey` whose ``repr`` hides it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import Field, dataclass, field, fields, replace
from functools import cache
from typing import Any, get_args, get_type_hints

from customerio_sink.client.breaker import FAILURE_THRESHOLD, RECOVERY_S
from customerio_sink.client.retry import BASE_DELAY_S, MAX_ATTEMPTS, MAX_DELAY_S, RETRY_AFTER_CAP_S
from customerio_sink.client.secrets import SecretKey
from customerio_sink.engine.settings import SEND_TIMEOUT_S
from customerio_sink.errors import ConfigError
from customerio_sink.messages.limits import RATE_PERIOD_S as DEFAULT_RATE_PERIOD_S
from customerio_sink.messages.limits import RATE_REQUESTS as DEFAULT_RATE_REQUESTS
from customerio_sink.spark.dedupe import check_window
from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.mapping import MessageMapping
from customerio_sink.spark.option_rules import RULES, check_options

__all__ = ["SinkOptions", "option_kind", "resolve_api_key", "tuning_fields"]

DEFAULT_KEY_ENV = "CUSTOMERIO_API_KEY"


def resolve_api_key(
    *,
    api_key: str | SecretKey | None = None,
    api_key_env: str | None = None,
    secret_scope: str | None = None,
    secret_key: str | None = None,
    dry_run: bool = False,
) -> SecretKey | None:
    """Find the Pipelines API key: explicit value, Databricks secret, or environment variable.

    Returns None only in a dry run without a key (a dry run sends nothing).

    Raises:
        ConfigError: no key could be found; the message names where it looked (never a value).
    """
    if api_key is not None:
        return SecretKey(api_key)
    if secret_scope or secret_key:
        if not (secret_scope and secret_key):
            raise ConfigError("give both secret_scope and secret_key for a Databricks secret")
        try:
            from pyspark.dbutils import DBUtils
            from pyspark.sql import SparkSession

            dbutils = DBUtils(SparkSession.getActiveSession())
            return SecretKey(dbutils.secrets.get(scope=secret_scope, key=secret_key))
        except ImportError as exc:
            raise ConfigError(
                f"secret {secret_scope}/{secret_key}: Databricks secrets are only available on "
                f"Databricks; elsewhere set the key in ${api_key_env or DEFAULT_KEY_ENV}"
            ) from exc
    name = api_key_env or DEFAULT_KEY_ENV
    if os.environ.get(name, "").strip():
        return SecretKey.from_env(name)
    if dry_run:
        return None
    raise ConfigError(
        f"no Customer.io API key: set ${name}, or give secret_scope/secret_key (Databricks)"
    )


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"option {name}: expected true/false, got {value!r}")


def _parse(name: str, kind: type, value: str) -> Any:
    if kind is bool:
        return _bool(name, value)
    if kind in (int, float):
        return _num(name, value, kind)
    return value


def _num(name: str, value: str, kind: type) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"option {name}: expected a {kind.__name__}, got {value!r}") from None


def _tuning(default: Any, help: str, *, flag: str | None = None, **extra: Any) -> Any:
    """A tunable field: its default, its help and its command-line flag live here, once.

    ``flag`` overrides the derived flag (``--`` + the name with ``_s`` → ``-seconds`` and ``_``
    → ``-``); ``choices`` limits a text value; ``stream_only`` keeps the flag off the jobs that
    read no source (replay, erase)."""
    return field(default=default, metadata={"help": help, "flag": flag, **extra})


@dataclass(frozen=True)
class SinkOptions:
    """How one job maps, sends and records: the one configuration of the sink.

    Built from keyword arguments (``cio.sync``), Data Source string options
    (:meth:`from_options`), job flags (derived from the fields: :func:`option_flags`) or notebook
    widgets; checked when built; pickled as it is to the executors. Each tunable field declares
    its default and help once, below.
    """

    job: str
    mapping: MessageMapping
    ledger: Ledger
    api_key: SecretKey | None = field(default=None, repr=False)
    endpoint: str | None = None
    region: str | None = None
    rate_requests: int | None = _tuning(
        DEFAULT_RATE_REQUESTS,
        "request budget per --rate-period-seconds of the API key, shared by every job on the "
        "key through --budget-dir (0 = off)",
    )
    rate_period_s: float = _tuning(DEFAULT_RATE_PERIOD_S, "the budget's period")
    budget_dir: str | None = _tuning(
        None,
        "where jobs on one key share its budget and a 429's pause (default "
        "<journal-dir>/_budget; jobs with different ledgers on one key need the same DIR)",
        metavar="DIR",
    )
    max_body_bytes: int | None = _tuning(
        None, "largest /v1/batch body to send (default: the package's limit under 500 KB)"
    )
    max_batch_messages: int | None = _tuning(None, "most messages in one request (default: no cap)")
    max_attempts: int = _tuning(MAX_ATTEMPTS, "attempts per request before it counts as failed")
    base_delay_s: float = _tuning(
        BASE_DELAY_S, "first retry delay (doubles each attempt, with jitter)"
    )
    max_delay_s: float = _tuning(MAX_DELAY_S, "longest retry delay")
    retry_after_cap_s: float = _tuning(
        RETRY_AFTER_CAP_S, "longest pause a Retry-After header may ask for"
    )
    breaker_threshold: int = _tuning(
        FAILURE_THRESHOLD, "failed requests in a row that open the circuit breaker"
    )
    breaker_recovery_s: float = _tuning(RECOVERY_S, "how long an open breaker waits before a probe")
    timeout_s: float = _tuning(
        SEND_TIMEOUT_S, "HTTP timeout of one request", flag="--http-timeout-seconds"
    )
    gzip: bool = _tuning(False, "gzip request bodies")
    allow_cross_region: bool = _tuning(
        False,
        "send a us/eu-prefixed key to the other region's host (refused before the query starts "
        "otherwise; also CUSTOMERIO_SINK_ALLOW_CROSS_REGION=1)",
    )
    on_transient: str | None = _tuning(
        None,
        "after the retries: 'fail' the batch (Spark replays it; default for change feeds) or "
        "'park' the messages in the retry queue (default for append-only tables)",
        choices=("fail", "park"),
    )
    dry_run: bool = _tuning(False, "map, validate and pack, but send nothing (no key needed)")
    backfill: bool = _tuning(
        False,
        "history mode: a row without a usable timestamp is dead-lettered instead of being "
        "stamped with the commit time / now",
        stream_only=True,
    )
    hold_recent: bool = _tuning(
        False,
        "park rows inside Customer.io's 72-hour campaign-trigger window instead of sending them",
        stream_only=True,
    )
    dedupe_window: str | None = _tuning(
        None,
        "queue tables: skip a row whose message was delivered within this long before (e.g. "
        "'7 days'), looked up in the ledger's acks; recorded as skipped 'duplicate'",
        stream_only=True,
    )
    concurrency: int | None = _tuning(
        None, "sending tasks at once (default: the cluster's task slots)", stream_only=True
    )
    partitions: int | None = _tuning(
        None,
        "partitions each batch is spread over, by key, before sending (default: the "
        "cluster's task slots)",
        stream_only=True,
    )
    source_name: str = ""
    # Where the key is read again before each foreachBatch micro-batch (rotation without a
    # restart, see customerio_sink.spark.keys); None keeps api_key for the life of the job.
    key_source: Any = None
    key_rotation_window_s: float = _tuning(
        3600.0,
        "the key is read again before every micro-batch; after it changed, a 401 with the new "
        "key is retried once with the old one for this long",
    )

    def __post_init__(self) -> None:
        if self.rate_requests == 0:  # "0" is how string options and flags say "off"
            object.__setattr__(self, "rate_requests", None)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", self.job or ""):
            raise ConfigError(
                f"job: 1-100 letters, digits, '.', '_' or '-' (it names paths and ledger rows), "
                f"got {self.job!r}"
            )
        if self.on_transient not in (None, "fail", "park"):
            raise ConfigError(f"on_transient: 'fail' or 'park', got {self.on_transient!r}")
        if self.on_transient == "park" and self.mapping.source == "cdf":
            raise ConfigError(
                "on_transient='park' with a change feed: a later change of a key could go out "
                "while an earlier one waits in the retry queue; keep 'fail' (the batch fails "
                "and a restart sends it again, in order)"
            )
        check_window(self.dedupe_window, self.mapping.source)
        if self.region not in (None, "us", "eu"):
            raise ConfigError(f"region: 'us' or 'eu', got {self.region!r}")
        check_options({name: getattr(self, name) for name in RULES})
        if self.api_key is None and not self.dry_run:
            raise ConfigError(
                "no Customer.io API key (set api_key_env / secret_scope+secret_key, or dry_run)"
            )
        if self.api_key is not None and not self.dry_run:
            self._check_region()

    def _check_region(self) -> None:
        """The cross-region guard on the driver, when the options are built: a region-prefixed
        key bound for the other region's host fails here, before a query starts, not as a 401
        on every executor."""
        from customerio_sink.client.regions import pipelines_base_url

        assert self.api_key is not None
        try:
            pipelines_base_url(
                self.api_key,
                self.region,
                self.endpoint,
                allow_cross_region=self.allow_cross_region or None,
            )
        except ConfigError as exc:
            if not exc.message.startswith("refusing"):
                raise
            raise ConfigError(
                f"{exc.message} (option allow_cross_region, job flag --allow-cross-region)"
            ) from None

    @property
    def budget_root(self) -> str:
        """Where jobs on one key share its request budget (leases, the 429 pause)."""
        return self.budget_dir or f"{self.ledger.journal.rstrip('/')}/_budget"

    @property
    def transient_policy(self) -> str:
        if self.on_transient:
            return self.on_transient
        return "fail" if self.mapping.source == "cdf" else "park"

    def with_(self, **changes: Any) -> SinkOptions:
        return replace(self, **changes)

    @classmethod
    def from_options(cls, options: dict[str, str]) -> SinkOptions:
        """Build from string options (Data Source ``.option(...)`` or a job's command line).

        Required: ``job``, ``mapping`` (JSON of :class:`MessageMapping` fields), and
        ``ledger_path`` or ``ledger_schema`` (+ ``journal_dir``).
        """
        opts = {k.lower(): v for k, v in options.items() if v is not None}
        for required in ("job", "mapping"):
            if required not in opts:
                raise ConfigError(f"option {required!r} is required")
        try:
            mapping = MessageMapping.from_dict(json.loads(opts["mapping"]))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"option mapping: not a valid mapping JSON ({exc})") from None
        from customerio_sink.spark.keys import CipherRef, source_of

        ledger = Ledger(
            path=opts.get("ledger_path"),
            schema=opts.get("ledger_schema"),
            journal_dir=opts.get("journal_dir"),
            cipher=CipherRef(opts["payload_key"]) if opts.get("payload_key") else None,
            journal_shared=_bool("journal_shared", opts.get("journal_shared", "false")),
        )
        dry_run = _bool("dry_run", opts.get("dry_run", "false"))
        if "api_key" in opts:
            # Spark's redaction (spark.redaction.regex: secret|password|token|access[.]?key)
            # would show an "api_key" option in plans, progress and the UI.
            raise ConfigError(
                "option 'api_key' would show the key in Spark's plans and UI: give it as "
                "'api_key_secret' (a name Spark redacts), or use api_key_env / "
                "secret_scope + secret_key"
            )
        key = resolve_api_key(
            # "api_key_secret" matches Spark's redaction pattern, so plans and UIs hide it.
            api_key=opts.get("api_key_secret"),
            api_key_env=opts.get("api_key_env"),
            secret_scope=opts.get("secret_scope"),
            secret_key=opts.get("secret_key"),
            dry_run=dry_run,
        )
        kw: dict[str, Any] = {
            "endpoint": opts.get("endpoint"),
            "region": opts.get("region"),
            "source_name": opts.get("source_name", ""),
            "key_source": source_of(opts),
        }
        for f in tuning_fields():
            if f.name in opts:
                kw[f.name] = _parse(f.name, option_kind(f), opts[f.name])
        kw["dry_run"] = dry_run
        return cls(job=opts["job"], mapping=mapping, ledger=ledger, api_key=key, **kw)

    def to_options(self, *, include_key: bool = True) -> dict[str, str]:
        """String options for the Data Source. The resolved key goes in ``api_key_secret``, a
        name Spark's ``spark.redaction.regex`` hides in plans and the UI."""
        out: dict[str, str] = {"job": self.job, "mapping": json.dumps(self.mapping.to_dict())}
        if include_key and self.api_key is not None:
            out["api_key_secret"] = self.api_key.reveal()
        if self.ledger.path:
            out["ledger_path"] = self.ledger.path
        if self.ledger.schema:
            out["ledger_schema"] = self.ledger.schema
        if self.ledger.journal_dir:
            out["journal_dir"] = self.ledger.journal_dir
        if self.ledger.cipher is not None:  # the secret's name ("scope/key", "env:NAME")
            payload_key = getattr(self.ledger.cipher, "secret_name", "")
            if not payload_key:
                raise ConfigError(
                    "a payload cipher travels to the Data Source by its secret's name: build "
                    "it with customerio_sink.spark.keys.payload_cipher('scope/key' or 'env:NAME')"
                )
            out["payload_key"] = payload_key
        if self.ledger.journal_shared:
            out["journal_shared"] = "true"
        for name in ("endpoint", "region", "source_name"):
            if getattr(self, name):
                out[name] = str(getattr(self, name))
        for f in tuning_fields():
            value = getattr(self, f.name)
            if option_kind(f) is bool:
                out[f.name] = "true" if value else "false"
            elif f.name == "rate_requests":
                out[f.name] = str(value or 0)  # None is "off", not the default
            elif value is not None and value != "":
                out[f.name] = str(value)
        return out


def tuning_fields() -> tuple[Field[Any], ...]:
    """The tunable fields of :class:`SinkOptions`: each one is a keyword of ``cio.sync``, a
    Data Source option and a job flag, with its default and help declared once."""
    return tuple(f for f in fields(SinkOptions) if "help" in f.metadata)


@cache
def _hints() -> dict[str, Any]:
    return get_type_hints(SinkOptions)


def option_kind(f: Field[Any]) -> type:
    """``int``, ``float``, ``bool`` or ``str``: the type of a tunable field, without ``None``."""
    hint = _hints()[f.name]
    kinds = [k for k in get_args(hint) if k is not type(None)] or [hint]
    return kinds[0] if kinds[0] in (int, float, bool) else str
