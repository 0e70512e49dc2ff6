"""API keys read again at the start of every micro-batch, a rotation window, and the key audit.

A job whose key comes from a Databricks secret (``secret_scope``/``secret_key``) or an
environment variable does not need a restart when the key is rotated: the ``foreachBatch``
writer reads the secret again before each micro-batch (:class:`KeyRotation`). When the value
changed, the replaced key stays available as a fallback for ``window_s`` seconds (default an
hour): a request answered 401 with the new key (not yet active at Customer.io) is sent once more
with the old one, and the sender logs that it did (never a key; see
:class:`~customerio_sink.client.secrets.RotatingKey`).

Every batch leaves a row in the ``key_audit`` table: job, run, batch, where the key came from
(``secret`` / ``env``), the secret's name (``scope/key`` or the variable's name), a one-way
8-character fingerprint of the key (and of the previous one in the window), whether this batch
saw a rotation, and when the key was read. Never the key.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from customerio_sink.client.secrets import RotatingKey, SecretKey
from customerio_sink.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from customerio_sink.spark.options import SinkOptions

__all__ = [
    "CipherRef",
    "KeyRotation",
    "KeySource",
    "audit_row",
    "audit_run",
    "payload_cipher",
    "read_databricks_secret",
    "resolve_cipher",
    "source_of",
]

log = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 3600.0


def read_databricks_secret(scope: str, key: str) -> str:
    """``dbutils.secrets.get(scope, key)`` (Databricks only); :class:`ConfigError` elsewhere."""
    try:
        from pyspark.dbutils import DBUtils  # type: ignore[import-not-found,unused-ignore]
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            f"secret {scope}/{key}: Databricks secrets are only available on Databricks"
        ) from None
    value: str = DBUtils(SparkSession.getActiveSession()).secrets.get(scope=scope, key=key)
    return value


@dataclass(frozen=True)
class KeySource:
    """Where a key is read from: ``kind`` is ``"secret"`` (``name`` = ``scope/key``) or ``"env"``
    (``name`` = the variable). Holds no key; safe to print and to keep in options."""

    kind: str
    name: str

    def __post_init__(self) -> None:
        if self.kind not in ("secret", "env"):
            raise ConfigError(f"key source: 'secret' or 'env', got {self.kind!r}")
        if self.kind == "secret" and self.name.count("/") != 1:
            raise ConfigError(f"key source: a secret is named 'scope/key', got {self.name!r}")

    @classmethod
    def secret(cls, scope: str, key: str) -> KeySource:
        return cls("secret", f"{scope}/{key}")

    @classmethod
    def env(cls, name: str) -> KeySource:
        return cls("env", name)

    def read(self) -> SecretKey:
        """The key as the source holds it now. Raises :class:`ConfigError` (naming the source)."""
        if self.kind == "env":
            return SecretKey.from_env(self.name)
        scope, key = self.name.split("/")
        return SecretKey(read_databricks_secret(scope, key))


class KeyRotation:
    """Reads a job's key before each micro-batch and keeps the replaced one for ``window_s``.

    ``clock`` is the wall clock in seconds (a fake in tests). One instance per writer (its
    state is the last key seen); :meth:`for_batch` is called on the driver.
    """

    def __init__(
        self,
        source: KeySource,
        window_s: float = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.window_s = window_s
        self._clock = clock
        self._current: SecretKey | None = None
        self._previous: SecretKey | None = None
        self._rotated_at = 0.0
        self._table_ready = False
        self._unreadable = False

    def refresh(self, started_with: SecretKey | None = None) -> tuple[RotatingKey, bool]:
        """(the key for the next batch, whether it changed since the last batch).

        Where the source cannot be read — on Spark Connect, foreachBatch runs in a process of
        the server, which has neither the job's environment nor its secret scope — the key
        the job started with (``started_with``) is kept, and that is said once in the log.
        """
        try:
            fresh = self.source.read()
        except ConfigError:
            kept = self._current or started_with
            if kept is None:
                raise
            if not self._unreadable:
                log.warning(
                    "the API key cannot be read again from %s %s in this process; keeping the "
                    "key the job started with (fingerprint %s)",
                    self.source.kind,
                    self.source.name,
                    kept.fingerprint(),
                )
                self._unreadable = True
            fresh = kept
        now = self._clock()
        rotated = self._current is not None and fresh != self._current
        if rotated:
            self._previous, self._current, self._rotated_at = self._current, fresh, now
            log.info(
                "API key from %s %s changed (fingerprint %s, was %s): using the new key, the "
                "previous one stays a fallback for %.0f s",
                self.source.kind,
                self.source.name,
                fresh.fingerprint(),
                self._previous.fingerprint() if self._previous else "-",
                self.window_s,
            )
        elif self._current is None:
            self._current = fresh
        if self._previous is not None and now - self._rotated_at > self.window_s:
            self._previous = None
        assert self._current is not None
        return RotatingKey(self._current, self._previous), rotated

    def for_batch(
        self, spark: SparkSession, options: SinkOptions, run_id: str, batch_id: int
    ) -> tuple[SinkOptions, Callable[[], None]]:
        """Options with this batch's key, and a ``wait`` for the audit row's write.

        The audit row is written on a thread while the batch sends (it costs a Delta commit);
        ``wait()`` joins it and raises its error. Idempotent per ``(job, run, batch)``.
        """
        from customerio_sink.spark.ops_tables import append_ops, ensure_ops_table

        key, rotated = self.refresh(options.api_key)
        read_at = datetime.fromtimestamp(self._clock(), timezone.utc)
        row = audit_row(options.job, run_id, batch_id, self.source, key, rotated, read_at)
        errors: list[BaseException] = []
        ledger = options.ledger

        def write() -> None:
            try:
                if not self._table_ready:
                    ensure_ops_table(spark, ledger, "key_audit")
                    self._table_ready = True
                append_ops(spark, ledger, "key_audit", [row], f"{options.job}:{run_id}", batch_id)
            except BaseException as exc:  # raised on the caller's thread by wait()
                errors.append(exc)

        from pyspark import InheritableThread

        from customerio_sink.spark.session import is_connect

        # On Connect the thread needs the session (there is no SparkContext to inherit from).
        session = {"session": spark} if is_connect(spark) else {}
        thread: Any = InheritableThread(target=write, name="customerio-key-audit", **session)
        thread.start()

        def wait() -> None:
            thread.join()
            if errors:
                raise errors[0]

        return options.with_(api_key=key), wait


def audit_row(
    job: str,
    run_id: str,
    batch_id: int,
    source: KeySource,
    key: Any,
    rotated: bool,
    read_at: datetime,
) -> dict[str, Any]:
    """One ``key_audit`` row: where the key came from and its one-way fingerprint, never it."""
    previous = getattr(key, "previous", None)
    return {
        "job": job,
        "run_id": run_id,
        "batch_id": batch_id,
        "key_source": source.kind,
        "secret_name": source.name,
        "fingerprint": key.fingerprint(),
        "previous_fingerprint": previous.fingerprint() if previous else None,
        "rotated": rotated,
        "read_at": read_at,
    }


def audit_run(spark: SparkSession, options: SinkOptions, run_id: str) -> None:
    """The ``key_audit`` row of a one-off run (a replay or a drain: batch 0), written before it
    sends; nothing when the key was given directly (no source to name) or there is no key."""
    from customerio_sink.spark.ops_tables import append_ops, ensure_ops_table

    if options.key_source is None or options.api_key is None:
        return
    read_at = datetime.now(timezone.utc)
    row = audit_row(options.job, run_id, 0, options.key_source, options.api_key, False, read_at)
    ensure_ops_table(spark, options.ledger, "key_audit")
    append_ops(spark, options.ledger, "key_audit", [row], f"{options.job}:{run_id}", 0)


def key_source_of(args: Any) -> KeySource | None:
    """The re-readable source of a job's key flags (``--secret-scope/--secret-key`` or
    ``--api-key-env``)."""
    flags = {
        name: getattr(args, name, None) for name in ("secret_scope", "secret_key", "api_key_env")
    }
    return source_of({k: v for k, v in flags.items() if v})


def source_of(options: dict[str, str]) -> KeySource | None:
    """The re-readable source named by string options (None for a key given directly)."""
    if "api_key_secret" in options:
        return None
    if options.get("secret_scope") and options.get("secret_key"):
        return KeySource.secret(options["secret_scope"], options["secret_key"])
    from customerio_sink.spark.options import DEFAULT_KEY_ENV

    name = options.get("api_key_env") or DEFAULT_KEY_ENV
    return KeySource.env(name) if os.environ.get(name, "").strip() else None


def parse_source(spec: str) -> KeySource:
    """``"scope/key"`` (a Databricks secret) or ``"env:NAME"`` (an environment variable)."""
    if spec.startswith("env:"):
        return KeySource.env(spec[4:])
    scope, _, key = spec.partition("/")
    if not scope or not key:
        raise ConfigError(f"payload_key: 'scope/key' or 'env:NAME', got {spec!r}")
    return KeySource.secret(scope, key)


def payload_cipher(spec: str | None) -> Any:
    """The :class:`~customerio_sink.spark.protect.PayloadCipher` of a ``payload_key`` option (a
    Fernet
    key in a secret: ``"scope/key"`` or ``"env:NAME"``), or None without one."""
    if not spec:
        return None
    from customerio_sink.spark.protect import PayloadCipher

    # The spec itself is the cipher's secret name: errors show it, and markers and options
    # carry it (never the key) to rebuild the cipher.
    return PayloadCipher(parse_source(spec).read(), secret_name=spec)


@dataclass(frozen=True)
class CipherRef:
    """The payload key's secret by name only, read where a payload is first encrypted or
    decrypted (the Data Source's Python workers build options but never encrypt: the driver's
    ledger thread does, and its environment and secrets are the ones to read)."""

    secret_name: str

    def __post_init__(self) -> None:
        parse_source(self.secret_name)  # a malformed name fails fast


def resolve_cipher(cipher: Any) -> Any:
    """A :class:`~customerio_sink.spark.protect.PayloadCipher` for a :class:`CipherRef` (reading its
    secret now); anything else unchanged."""
    if isinstance(cipher, CipherRef):
        return payload_cipher(cipher.secret_name)
    return cipher
