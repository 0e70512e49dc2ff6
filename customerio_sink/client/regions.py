"""Customer.io hosts per region, and the Pipelines ``Authorization`` header.

Rules (official client ``customerio-cdp-analytics`` 1.1.0, reference "Addendum — official
client 1.1.0"):

- Keys matching ``^(pk|sk)_(us|eu)_`` are sent as ``Bearer <key>``; any other key as HTTP Basic
  with the key as user name and a blank password (``base64("<key>:")``).
- The base URL is the explicit ``endpoint`` if given, else the host of the explicit ``region``,
  else the region named by a prefixed key, else US.
- A prefixed key of one region sent to the other region's host is refused with one
  :class:`ConfigError` line, because Customer.io would answer 401 and the cause is not obvious.
  ``allow_cross_region=True`` (or ``CUSTOMERIO_SINK_ALLOW_CROSS_REGION=1`` in the environment,
  for jobs whose options cannot carry it) sends it anyway, with a warning.

Rate budgets: each region carries its default request budget. Customer.io documents one
Pipelines figure for both regions (3000 requests per 3 seconds, "not strictly enforced"), so both
defaults are the same; the table is where a different contract for one region would go.
"""

from __future__ import annotations

import base64
import logging
import os
import re
from dataclasses import dataclass

from customerio_sink.client.secrets import SecretKey
from customerio_sink.errors import ConfigError
from customerio_sink.messages.limits import RATE_PERIOD_S, RATE_REQUESTS

__all__ = [
    "EU",
    "REGIONS",
    "US",
    "Region",
    "app_api_base_url",
    "get_region",
    "key_region",
    "pipelines_auth_header",
    "pipelines_base_url",
    "rate_budget",
]

log = logging.getLogger(__name__)

_PREFIXED_KEY = re.compile(r"^(pk|sk)_(us|eu)_")
ALLOW_CROSS_REGION_ENV = "CUSTOMERIO_SINK_ALLOW_CROSS_REGION"


@dataclass(frozen=True, slots=True)
class Region:
    """One Customer.io data centre: its Pipelines, Track and App API hosts, and the default
    Pipelines request budget (``rate_requests`` per ``rate_period_s`` seconds, per workspace)."""

    name: str
    pipelines_url: str
    track_url: str
    app_url: str
    rate_requests: int = RATE_REQUESTS
    rate_period_s: float = RATE_PERIOD_S


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


def rate_budget(region: str | None = None) -> tuple[int, float]:
    """The default Pipelines budget of ``region`` (default US): ``(requests, per_seconds)``."""
    chosen = get_region(region or "us")
    return chosen.rate_requests, chosen.rate_period_s


def _cross_region_allowed(allow: bool | None) -> bool:
    if allow is not None:
        return allow
    return os.environ.get(ALLOW_CROSS_REGION_ENV, "").strip().lower() in ("1", "true", "yes")


def _normalise_endpoint(endpoint: str) -> str:
    endpoint = endpoint.strip().rstrip("/")
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError("endpoint must start with http:// or https://")
    # Accept both "https://host" and "https://host/v1": paths are always added as "/v1/...".
    if endpoint.endswith("/v1"):
        endpoint = endpoint[: -len("/v1")]
    return endpoint


def pipelines_base_url(
    key: SecretKey,
    region: str | None = None,
    endpoint: str | None = None,
    *,
    allow_cross_region: bool | None = None,
) -> str:
    """The Pipelines base URL (no trailing slash, no ``/v1``) for this key and these options.

    Raises :class:`ConfigError` when a prefixed key of one region would go to the other region's
    host, unless ``allow_cross_region`` is true (``None``: true when the environment variable
    ``CUSTOMERIO_SINK_ALLOW_CROSS_REGION`` is ``1``); then it logs a warning instead. The message
    names the regions and the host, never the key.
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
                if not _cross_region_allowed(allow_cross_region):
                    raise ConfigError(
                        f"refusing to send a {own.upper()} API key to the {other.name.upper()} "
                        f"host {base} (Customer.io would answer 401): use region {own!r}, or "
                        f"allow_cross_region=True / {ALLOW_CROSS_REGION_ENV}=1 if this is meant"
                    )
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
