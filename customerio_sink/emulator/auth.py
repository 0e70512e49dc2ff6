"""Who may call: the Pipelines key check, as the official client 1.1.0 authenticates.

* plain keys arrive as ``Authorization: Basic base64("<key>:")`` (the password is ignored, as the
  key alone identifies the source);
* keys matching ``^(pk|sk)_(us|eu)_`` arrive as ``Authorization: Bearer <key>``, and may also use
  Basic.

A plain key sent as Bearer is refused: that is the third-party mistake the reference warns
about, and the emulator exists to catch it. Reasons never echo the presented key.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["PREFIXED_KEY", "AuthOutcome", "authenticate_bearer", "authenticate_pipelines"]

PREFIXED_KEY = re.compile(r"^(pk|sk)_(us|eu)_")


@dataclass(frozen=True)
class AuthOutcome:
    """The key that matched (``None`` when refused) and, when refused, a reason safe to show."""

    key: str | None
    reason: str = ""


def _match(candidate: str, keys: Collection[str]) -> str | None:
    # compare_digest against every key so the answer time says nothing about which key is close.
    found = None
    for key in keys:
        if hmac.compare_digest(candidate.encode(), key.encode()):
            found = key
    return found


def authenticate_pipelines(header: str | None, keys: Collection[str]) -> AuthOutcome:
    """Check a Pipelines ``Authorization`` header against the configured write keys."""
    if not header:
        return AuthOutcome(None, "missing Authorization header")
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return AuthOutcome(None, "Basic credentials are not valid base64 of '<key>:'")
        key = _match(decoded.partition(":")[0], keys)
        return AuthOutcome(key) if key else AuthOutcome(None, "unknown API key")
    if scheme.lower() == "bearer":
        key = _match(credentials, keys)
        if key is None:
            return AuthOutcome(None, "unknown API key")
        if not PREFIXED_KEY.match(key):
            return AuthOutcome(
                None, "Bearer is for pk_/sk_ region keys; send this key as Basic base64('<key>:')"
            )
        return AuthOutcome(key)
    return AuthOutcome(None, "Authorization must use the Basic or Bearer scheme")


def authenticate_bearer(header: str | None, keys: Collection[str]) -> AuthOutcome:
    """Check an App API ``Authorization: Bearer <key>`` header."""
    if not header:
        return AuthOutcome(None, "missing Authorization header")
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return AuthOutcome(None, "the App API needs Authorization: Bearer <App API key>")
    key = _match(credentials.strip(), keys)
    return AuthOutcome(key) if key else AuthOutcome(None, "unknown App API key")
