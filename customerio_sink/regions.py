"""Customer.io hosts per region, and the Pipelines ``Authorization`` header.

Rules (official client ``customerio-cdp-analytics`` 1.1.0, reference "Addendum — official
client 1.1.0"):

- Keys matching ``^(pk|sk)_(us|eu)_`` are sent as ``Bearer <key>``; any other key as HTTP Basic
  with the key as user name and a blank password (``base64("<key>:")``).
- The base URL is the explicit ``endpoint`` if given, else the host of the explicit ``region``,
  else the region named by a prefixed key, else US.
- A prefixed key of one region sent to the other region's default host logs a warning (once per
  client), because Customer.io will answer 401 and the cause is not obvious.
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass

from customerio_sink.errors import ConfigError
from customerio_sink.secrets import SecretKey

__all__ = [
    "EU",
    "REGIONS",
    "US",
    "Region",
    "app_api_base_url",
    "key_region",
    "pipelines_auth_header",
    "pipelines_base_url",
]

log = logging.getLogger(__name__)

_PREFIXED_KEY = re.compile(r"^(pk|sk)_(us|eu)_")


@dataclass(frozen=True, slots=True)
class Region:
    """One Customer.io data centre: its Pipelines, Track and App API hosts."""

    name: str
    pipelines_url: str
    track_url: str
    app_url: str


US = Region("us", "https://cdp.customer.io", "https://track.customer.io", "https://api.customer.io")
EU = Region(
    "eu", "https://cdp-eu.customer.io", "https://track-eu.customer.io", "https://api-eu.customer.io"
)
REGIONS: dict[str, Region] = {"us": US, "eu": EU}


def get_region(name: str) -> Region:
    """The region called ``name`` ("us" or "eu", any case); :class:`ConfigError` otherwise."""
    try:
        return REGIONS[name.strip().lower()]
    except (KeyError, AttributeError):
        raise ConfigError(f"unknown region {name!r}; expected one of {sorted(REGIONS)}") from None


def key_region(key: SecretKey) -> str | None:
    """The region a prefixed Pipelines key belongs to ("us"/"eu"), or ``None`` for plain keys."""
    match = _PREFIXED_KEY.match(key.reveal())
    return match.group(2) if match else None


def _normalise_endpoint(endpoint: str) -> str:
    endpoint = endpoint.strip().rstrip("/")
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError("endpoint must start with http:// or https://")
    # Accept both "https://host" and "https://host/v1": paths are always added as "/v1/...".
    if endpoint.endswith("/v1"):
        endpoint = endpoint[: -len("/v1")]
    return endpoint


def pipelines_base_url(
    key: SecretKey, region: str | None = None, endpoint: str | None = None
) -> str:
    """The Pipelines base URL (no trailing slash, no ``/v1``) for this key and these options.

    Logs a warning when a prefixed key of one region would go to the other region's host.
    """
    if region:
        get_region(region)  # a misspelt region is an error even when an endpoint wins
    if endpoint:
        base = _normalise_endpoint(endpoint)
    elif region:
        base = get_region(region).pipelines_url
    else:
        base = get_region(key_region(key) or "us").pipelines_url
    own = key_region(key)
    if own is not None:
        for other in REGIONS.values():
            if other.name != own and base == other.pipelines_url:
                log.warning(
                    "%s API key is being sent to the %s host %s",
                    own.upper(),
                    other.name.upper(),
                    base,
                )
    return base


def app_api_base_url(region: str | None = None, endpoint: str | None = None) -> str:
    """The App API base URL: ``endpoint`` if given, else the region's App host (default US)."""
    if endpoint:
        return _normalise_endpoint(endpoint)
    return get_region(region or "us").app_url


def pipelines_auth_header(key: SecretKey) -> SecretKey:
    """The ``Authorization`` header value for a Pipelines key, itself held as a secret."""
    raw = key.reveal()
    if _PREFIXED_KEY.match(raw):
        return SecretKey("Bearer " + raw)
    token = base64.b64encode(f"{raw}:".encode()).decode("ascii")
    return SecretKey("Basic " + token)
