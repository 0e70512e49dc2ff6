"""API keys held as values that never print themselves.

A :class:`SecretKey` hides its value from ``repr``, ``str``, f-strings and logging; code that
must send the key calls :meth:`SecretKey.reveal`. Keys are stripped of surrounding whitespace on
the way in: keys read from mounted secret files often end in a newline, which ``http.client``
rejects with an error message that contains the whole header (and so the key).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from customerio_sink.errors import ConfigError

__all__ = ["RotatingKey", "SecretKey"]

_MASK = "**********"


class SecretKey:
    """A secret string (API key) that prints as ``**********``.

    Raises :class:`ConfigError` if the value is empty after stripping, or holds characters that
    cannot travel in an HTTP header (control characters, non-ASCII); the message never quotes it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | SecretKey) -> None:
        if isinstance(value, SecretKey):
            value = value.reveal()
        if not isinstance(value, str):
            raise ConfigError(f"an API key must be a str, not {type(value).__name__}")
        value = value.strip()
        if not value:
            raise ConfigError("the API key is empty")
        if not all(" " <= ch < "\x7f" for ch in value):
            raise ConfigError(
                "the API key contains control or non-ASCII characters "
                "that cannot be sent in an HTTP header"
            )
        self._value = value

    @classmethod
    def from_env(cls, name: str) -> SecretKey:
        """Read the key from environment variable ``name``; :class:`ConfigError` if unset."""
        value = os.environ.get(name)
        if value is None:
            raise ConfigError(f"environment variable {name} is not set")
        return cls(value)

    @classmethod
    def from_file(cls, path: str | Path) -> SecretKey:
        """Read the key from a file (a mounted secret); trailing newlines are dropped."""
        try:
            return cls(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read the key file ({type(exc).__name__})") from None

    def reveal(self) -> str:
        """The key itself. Call it only where the key is sent, never where it could be logged."""
        return self._value

    def fingerprint(self) -> str:
        """A one-way digest (8 hex chars) that tells keys apart in logs without showing them."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:8]

    def __repr__(self) -> str:
        return f"SecretKey('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretKey):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("SecretKey", self._value))

    def __getstate__(self) -> str:
        return self._value

    def __setstate__(self, state: str) -> None:
        self._value = state


class RotatingKey(SecretKey):
    """The current key, and during a rotation window the key it replaced (``previous``).

    Sends use the current key; a client that gets a 401 with it tries ``previous`` once (see
    :class:`~customerio_sink.client.transport.Sender`). Prints, compares and hashes as the current
    key.
    """

    __slots__ = ("_previous",)

    def __init__(self, value: str | SecretKey, previous: str | SecretKey | None = None) -> None:
        super().__init__(value)
        self._previous = None if previous is None else SecretKey(previous)

    @property
    def previous(self) -> SecretKey | None:
        """The replaced key while the rotation window is open, else None."""
        return self._previous

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other)

    def __hash__(self) -> int:
        return super().__hash__()

    def __getstate__(self) -> tuple[str, str | None]:  # type: ignore[override]
        return (self._value, None if self._previous is None else self._previous.reveal())

    def __setstate__(self, state: tuple[str, str | None]) -> None:  # type: ignore[override]
        self._value, previous = state
        self._previous = None if previous is None else SecretKey(previous)
