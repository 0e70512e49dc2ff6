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
from dataclasses import dataclass, field, replace
from typing import Any

from customerio_sink.errors import ConfigError
from customerio_sink.option_rules import RULES, check_options
from customerio_sink.secrets import SecretKey
from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.mapping import MessageMapping

__all__ = ["SinkOptions", "resolve_api_key"]

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


def _num(name: str, value: str, kind: type) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"option {name}: expected a {kind.__name__}, got {value!r}") from None


@dataclass(frozen=True)
class SinkOptions:
    """How one job maps, sends and records. See the README's option table for each field."""

    job: str
    mapping: MessageMapping
    ledger: Ledger
    api_key: SecretKey | None = field(default=None, repr=False)
    endpoint: str | None = None
    region: str | None = None
    rate_requests: int | None = 3000
    rate_period_s: float = 3.0
    budget_dir: str | None = None  # None → <journal dir>/_budget
    max_body_bytes: int | None = None
    max_batch_messages: int | None = None
    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    retry_after_cap_s: float = 60.0
    breaker_threshold: int = 5
    breaker_recovery_s: float = 30.0
    timeout_s: float = 30.0
    gzip: bool = False
    on_transient: str | None = None  # None → "fail" for cdf sources, "park" for queues
    dry_run: bool = False
    backfill: bool = False
    hold_recent: bool = False
    concurrency: int | None = None
    partitions: int | None = None
    source_name: str = ""
    # Where the key is read again before each foreachBatch micro-batch (rotation without a
    # restart, see customerio_sink.spark.keys); None keeps api_key for the life of the job.
    key_source: Any = None
    key_rotation_window_s: float = 3600.0

    def __post_init__(self) -> None:
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
        if self.region not in (None, "us", "eu"):
            raise ConfigError(f"region: 'us' or 'eu', got {self.region!r}")
        check_options({name: getattr(self, name) for name in RULES})
        if self.api_key is None and not self.dry_run:
            raise ConfigError(
                "no Customer.io API key (set api_key_env / secret_scope+secret_key, or dry_run)"
            )

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
        rate = _num("rate_requests", opts.get("rate_requests", "3000"), int)
        kw: dict[str, Any] = {
            "endpoint": opts.get("endpoint"),
            "region": opts.get("region"),
            "rate_requests": rate or None,
            "budget_dir": opts.get("budget_dir"),
            "on_transient": opts.get("on_transient"),
            "dry_run": dry_run,
            "source_name": opts.get("source_name", ""),
            "key_source": source_of(opts),
        }
        floats = (
            "rate_period_s",
            "base_delay_s",
            "max_delay_s",
            "retry_after_cap_s",
            "breaker_recovery_s",
            "timeout_s",
            "key_rotation_window_s",
        )
        ints = (
            "max_body_bytes",
            "max_batch_messages",
            "max_attempts",
            "breaker_threshold",
            "concurrency",
            "partitions",
        )
        for name in floats:
            if name in opts:
                kw[name] = _num(name, opts[name], float)
        for name in ints:
            if name in opts:
                kw[name] = _num(name, opts[name], int)
        for name in ("gzip", "backfill", "hold_recent"):
            if name in opts:
                kw[name] = _bool(name, opts[name])
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
        for name in (
            "endpoint",
            "region",
            "rate_period_s",
            "budget_dir",
            "max_body_bytes",
            "max_batch_messages",
            "max_attempts",
            "base_delay_s",
            "max_delay_s",
            "retry_after_cap_s",
            "breaker_threshold",
            "breaker_recovery_s",
            "timeout_s",
            "on_transient",
            "concurrency",
            "partitions",
            "source_name",
        ):
            value = getattr(self, name)
            if value is not None and value != "":
                out[name] = str(value)
        out["rate_requests"] = str(self.rate_requests or 0)
        for name in ("gzip", "dry_run", "backfill", "hold_recent"):
            out[name] = "true" if getattr(self, name) else "false"
        return out
