"""customerio-sink: keep Customer.io in step with Delta Lake tables from Spark Structured Streaming.

The pure core (client, models, packing, rate limiting, retries, errors, emulator) never imports
pyspark; the Spark layer lives in :mod:`customerio_sink.spark`. The names below are the public
surface of the core; everything else is importable from its module (``customerio_sink.models``,
``customerio_sink.packing``, ...). They are imported on first use, so ``import
customerio_sink.emulator`` (or a Spark worker) does not pay for the whole client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from customerio_sink.__version__ import __version__

if TYPE_CHECKING:
    from customerio_sink.app_api import AppAPIClient
    from customerio_sink.breaker import CircuitBreaker
    from customerio_sink.client import CustomerIOClient
    from customerio_sink.errors import (
        AuthenticationError,
        CircuitOpenError,
        ConfigError,
        CustomerIOSinkError,
        PayloadTooLargeError,
        RateLimitedError,
        RejectedError,
        TransientError,
        ValidationError,
    )
    from customerio_sink.message_id import message_id
    from customerio_sink.metrics import RequestMetrics
    from customerio_sink.rate_limit import RateLimiter
    from customerio_sink.retry import RetryPolicy
    from customerio_sink.secrets import SecretKey

_WHERE = {
    "AppAPIClient": "app_api",
    "AuthenticationError": "errors",
    "CircuitBreaker": "breaker",
    "CircuitOpenError": "errors",
    "ConfigError": "errors",
    "CustomerIOClient": "client",
    "CustomerIOSinkError": "errors",
    "PayloadTooLargeError": "errors",
    "RateLimitedError": "errors",
    "RateLimiter": "rate_limit",
    "RejectedError": "errors",
    "RequestMetrics": "metrics",
    "RetryPolicy": "retry",
    "SecretKey": "secrets",
    "TransientError": "errors",
    "ValidationError": "errors",
    "message_id": "message_id",
}

__all__ = [
    "AppAPIClient",
    "AuthenticationError",
    "CircuitBreaker",
    "CircuitOpenError",
    "ConfigError",
    "CustomerIOClient",
    "CustomerIOSinkError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RateLimiter",
    "RejectedError",
    "RequestMetrics",
    "RetryPolicy",
    "SecretKey",
    "TransientError",
    "ValidationError",
    "__version__",
    "message_id",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'customerio_sink' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"customerio_sink.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
