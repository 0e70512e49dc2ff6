"""Every error the package raises, in one small tree.

::

    CustomerIOSinkError                 status, code, message_ids, attempts
    ├── ConfigError                     a bad option (never echoes the key)
    │   ├── DeltaUnavailableError       no local Spark session with Delta (JARs unresolvable)
    │   └── DecryptionError             an encrypted payload without its key, or the wrong key
    ├── ValidationError                 field, rule, violations
    ├── PayloadTooLargeError            size, limit, index
    ├── AuthenticationError             401 / 403
    ├── RejectedError                   other 4xx; reasons
    └── TransientError                  retries exhausted (5xx, 408, connection errors)
        ├── RateLimitedError            ... and the last answer was 429; retry_after
        └── CircuitOpenError            the breaker refused to send; retry_after

``TransientError`` is the one parent of "try again later": a caller that parks failed work in a
retry queue catches it and gets the rate-limited and circuit-open cases too.

Instances carry HTTP status, a short machine code and the ``messageId`` values concerned. They
never carry a payload, a header or a key, so ``str(error)`` is always safe to log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuthenticationError",
    "CircuitOpenError",
    "ConfigError",
    "CustomerIOSinkError",
    "DecryptionError",
    "DeltaUnavailableError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RejectedError",
    "TransientError",
    "ValidationError",
    "Violation",
]

# Long id lists would turn one log line into a page; the full list stays on the instance.
_IDS_IN_TEXT = 3


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: ``field`` is a dotted path (``traits.email``), ``rule`` a stable code.

    ``detail`` explains the rule in words; it never contains the offending value.
    """

    field: str
    rule: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}" + (f" ({self.detail})" if self.detail else "")


class CustomerIOSinkError(Exception):
    """Raised when anything in customerio-sink fails; the base of every error below."""

    default_code = "error"

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        code: str | None = None,
        message_ids: Iterable[str] = (),
        attempts: int = 0,
    ) -> None:
        self.status = status
        self.code = code or self.default_code
        self.message_ids: tuple[str, ...] = tuple(message_ids)
        self.attempts = attempts
        self.message = message
        super().__init__(self._text())

    def _text(self) -> str:
        parts = [self.message or self.code]
        if self.status is not None:
            parts.append(f"status={self.status}")
        parts.append(f"code={self.code}")
        if self.attempts:
            parts.append(f"attempts={self.attempts}")
        if self.message_ids:
            shown = ",".join(self.message_ids[:_IDS_IN_TEXT])
            more = len(self.message_ids) - _IDS_IN_TEXT
            parts.append(f"message_ids={shown}" + (f" (+{more} more)" if more > 0 else ""))
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._text()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (Spark tasks); rebuild from state, not from __init__ args.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[CustomerIOSinkError], state: dict[str, object]) -> CustomerIOSinkError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err._text())
    return err


class ConfigError(CustomerIOSinkError):
    """Raised when an option is invalid (bad region, unusable key, impossible limits)."""

    default_code = "config"


class DeltaUnavailableError(ConfigError):
    """Raised when a local Spark session with Delta cannot start (Delta's JARs unresolvable)."""

    default_code = "delta_unavailable"


class DecryptionError(ConfigError):
    """Raised when an encrypted payload cannot be read: no key given, or not the key it needs."""

    default_code = "decryption"


class ValidationError(CustomerIOSinkError):
    """Raised when a message breaks a rule; ``field`` and ``rule`` name the first broken one."""

    default_code = "validation"

    def __init__(
        self,
        field: str,
        rule: str,
        detail: str = "",
        *,
        violations: Sequence[Violation] = (),
        message_ids: Iterable[str] = (),
    ) -> None:
        self.field = field
        self.rule = rule
        self.violations: tuple[Violation, ...] = tuple(violations) or (
            Violation(field, rule, detail),
        )
        more = len(self.violations) - 1
        text = f"invalid {field}: {rule}" + (f" ({detail})" if detail else "")
        if more > 0:
            text += f" (+{more} more violations)"
        super().__init__(text, code=rule, message_ids=message_ids)

    @classmethod
    def from_violations(
        cls, violations: Sequence[Violation], *, message_ids: Iterable[str] = ()
    ) -> ValidationError:
        """Build the error for a non-empty list of violations (the first one names it)."""
        first = violations[0]
        return cls(
            first.field, first.rule, first.detail, violations=violations, message_ids=message_ids
        )


class PayloadTooLargeError(CustomerIOSinkError):
    """Raised when one message is over the 32 KB limit, or a body cannot fit the size limit."""

    default_code = "payload_too_large"

    def __init__(
        self,
        size: int,
        limit: int,
        *,
        index: int | None = None,
        message_ids: Iterable[str] = (),
    ) -> None:
        self.size = size
        self.limit = limit
        self.index = index
        where = f"item {index} " if index is not None else ""
        super().__init__(
            f"{where}is {size} bytes, over the {limit}-byte limit", message_ids=message_ids
        )


class AuthenticationError(CustomerIOSinkError):
    """Raised when Customer.io answers 401 or 403: a wrong or revoked key, or the wrong region."""

    default_code = "unauthorized"


class RejectedError(CustomerIOSinkError):
    """Raised when Customer.io refuses a request for good (400, 413, 422 and other non-retried 4xx).

    ``reasons`` holds the server's own explanations (``meta.errors``), truncated; they are kept out
    of ``str()`` because a server may quote the values it rejected.
    """

    default_code = "rejected"

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        code: str | None = None,
        message_ids: Iterable[str] = (),
        attempts: int = 0,
        reasons: Sequence[str] = (),
    ) -> None:
        self.reasons: list[str] = list(reasons)
        super().__init__(
            message or f"rejected with {len(self.reasons)} reason(s)",
            status=status,
            code=code,
            message_ids=message_ids,
            attempts=attempts,
        )


class TransientError(CustomerIOSinkError):
    """Raised when a request still fails after its retries (5xx, 408, timeouts, connection errors).

    ``status`` is ``None`` when no HTTP answer arrived (connection refused, reset or timed out).
    """

    default_code = "transient"


class RateLimitedError(TransientError):
    """Raised when the retries ran out on 429 answers; ``retry_after`` is in seconds."""

    default_code = "rate_limited"

    def __init__(
        self,
        message: str = "",
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        code: str | None = None,
        message_ids: Iterable[str] = (),
        attempts: int = 0,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message or "rate limited",
            status=status,
            code=code,
            message_ids=message_ids,
            attempts=attempts,
        )


class CircuitOpenError(TransientError):
    """Raised when the circuit breaker is open, so the request was not sent at all.

    ``retry_after`` is the number of seconds until the breaker lets a probe through.
    """

    default_code = "circuit_open"

    def __init__(
        self,
        message: str = "",
        *,
        retry_after: float = 0.0,
        message_ids: Iterable[str] = (),
        attempts: int = 0,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message or f"circuit open, next probe in {retry_after:.3f}s",
            message_ids=message_ids,
            attempts=attempts,
        )
