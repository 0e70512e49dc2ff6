"""customerio-sink: keep Customer.io in step with Delta Lake tables from Spark Structured Streaming.

The pure core (client, models, packing, rate limiting, retries, errors, emulator) never imports
pyspark; the Spark layer lives in :mod:`customerio_sink.spark`. The names below are the public
surface of the core; everything else is importable from its module (``customerio_sink.models``,
``customerio_sink.packing``, ...).
"""

from __future__ import annotations

from customerio_sink.__version__ import __version__
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
