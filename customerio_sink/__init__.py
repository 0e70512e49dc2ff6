"""customerio-sink: keep Customer.io in step with Delta Lake tables from Spark Structured Streaming.

    import customerio_sink as cio

    cio.sync(spark, source="main.crm.people", mapping=cio.People(user_id="id", traits=["email"]),
             checkpoint="/Volumes/main/cio/state/people", ledger="/Volumes/main/cio/ledger")

The names below are the whole public surface: the sink (``sync``, ``writer``, ``register``,
``flush``, the mapping classes, ``Ledger``, ``secret``, ``trace``), the HTTP client, the errors
and the emulator; ``cio.migrate`` holds the migration utilities. Tuning internals (rate limiter,
retry policy, circuit breaker, metrics) stay in their modules. Every name is imported on first
use, so ``import customerio_sink`` never imports pyspark (a Spark worker, or a client-only user,
does not pay for the Spark layer).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from customerio_sink.__version__ import __version__

if TYPE_CHECKING:
    from customerio_sink.client.pipelines import CustomerIOClient
    from customerio_sink.client.secrets import SecretKey
    from customerio_sink.emulator import Emulator
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
    from customerio_sink.messages.message_id import message_id
    from customerio_sink.reporting.app_api import AppAPIClient
    from customerio_sink.spark.api import flush, register, secret, sync, writer
    from customerio_sink.spark.ledger import Ledger
    from customerio_sink.spark.mappings import Devices, Events, Objects, People, Relationships
    from customerio_sink.spark.runner import SyncResult
    from customerio_sink.spark.session import get_spark
    from customerio_sink.spark.trace import RowFate, trace

_WHERE = {
    # the sink
    "sync": "spark.api",
    "writer": "spark.api",
    "register": "spark.api",
    "flush": "spark.api",
    "secret": "spark.api",
    "People": "spark.mappings",
    "Events": "spark.mappings",
    "Objects": "spark.mappings",
    "Relationships": "spark.mappings",
    "Devices": "spark.mappings",
    "Ledger": "spark.ledger",
    "SyncResult": "spark.runner",
    "get_spark": "spark.session",
    "trace": "spark.trace",
    "RowFate": "spark.trace",
    # the client
    "CustomerIOClient": "client.pipelines",
    "AppAPIClient": "reporting.app_api",
    "SecretKey": "client.secrets",
    "message_id": "messages.message_id",
    # the errors
    "CustomerIOSinkError": "errors",
    "ConfigError": "errors",
    "ValidationError": "errors",
    "AuthenticationError": "errors",
    "RejectedError": "errors",
    "PayloadTooLargeError": "errors",
    "RateLimitedError": "errors",
    "TransientError": "errors",
    "CircuitOpenError": "errors",
    # the emulator
    "Emulator": "emulator",
}

__all__ = [
    "AppAPIClient",
    "AuthenticationError",
    "CircuitOpenError",
    "ConfigError",
    "CustomerIOClient",
    "CustomerIOSinkError",
    "Devices",
    "Emulator",
    "Events",
    "Ledger",
    "Objects",
    "PayloadTooLargeError",
    "People",
    "RateLimitedError",
    "RejectedError",
    "Relationships",
    "RowFate",
    "SecretKey",
    "SyncResult",
    "TransientError",
    "ValidationError",
    "__version__",
    "flush",
    "get_spark",
    "message_id",
    "register",
    "secret",
    "sync",
    "trace",
    "writer",
]


def __getattr__(name: str) -> Any:
    if name == "migrate":  # the migration utilities, a subpackage (cio.migrate.backfill, ...)
        value = importlib.import_module("customerio_sink.migrate")
        globals()[name] = value
        return value
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'customerio_sink' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"customerio_sink.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
