"""The public surface: ``__all__`` of the package and of every core module, guarded."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import customerio_sink

PACKAGE_ALL = [
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
TUNING_INTERNALS = ["RateLimiter", "RetryPolicy", "CircuitBreaker", "RequestMetrics"]

# The rooms that never import pyspark: the client, the messages, the engine (it runs in Spark's
# Python workers on Arrow alone), reporting, and the errors.
CORE_MODULES = [
    "client.breaker",
    "client.budget",
    "client.calls",
    "client.metrics",
    "client.pipelines",
    "client.rate_limit",
    "client.regions",
    "client.retry",
    "client.secrets",
    "client.transport",
    "engine.collapse",
    "engine.journal",
    "engine.partition",
    "errors",
    "messages.encoding",
    "messages.limits",
    "messages.message_id",
    "messages.models",
    "messages.packing",
    "messages.semantic",
    "messages.validators",
    "reporting.app_api",
    "reporting.cache",
    "spark.protect",
]


def test_package_all_is_exactly_this() -> None:
    assert customerio_sink.__all__ == PACKAGE_ALL
    for name in PACKAGE_ALL:
        assert getattr(customerio_sink, name) is not None
    for name in TUNING_INTERNALS:  # reachable from their modules, not advertised
        assert not hasattr(customerio_sink, name)


def test_importing_the_package_never_imports_pyspark() -> None:
    code = (
        "import sys, customerio_sink as cio; cio.People; cio.Emulator; "
        "print('pyspark' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", CORE_MODULES)
def test_module_all_names_exist(name: str) -> None:
    module = importlib.import_module(f"customerio_sink.{name}")
    exported = module.__all__
    assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr}"


def test_the_sinks_imports() -> None:
    """Exactly the names the Spark engine imports (issue 3, "the sink's needs")."""
    from customerio_sink.client.breaker import CircuitBreaker  # noqa: F401
    from customerio_sink.client.metrics import RequestMetrics  # noqa: F401
    from customerio_sink.client.pipelines import CustomerIOClient  # noqa: F401
    from customerio_sink.client.rate_limit import RateLimiter  # noqa: F401
    from customerio_sink.client.retry import RetryPolicy  # noqa: F401
    from customerio_sink.client.secrets import SecretKey  # noqa: F401
    from customerio_sink.errors import (  # noqa: F401
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
    from customerio_sink.messages.message_id import message_id  # noqa: F401
    from customerio_sink.messages.packing import (  # noqa: F401
        DEFAULT_MAX_BODY_BYTES,
        MAX_MESSAGE_BYTES,
        batch_body,
        pack_ranges,
    )


def test_the_core_never_imports_pyspark() -> None:
    modules = ", ".join(f"customerio_sink.{m}" for m in CORE_MODULES)
    code = f"import sys, {modules}; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_public_name_is_shadowed_by_a_submodule() -> None:
    """Importing every module of the package (Python sets a submodule as an attribute of its
    package) leaves each public name what it was: no room is named like a public name."""
    code = (
        "import importlib, pkgutil, types\n"
        "import customerio_sink as cio\n"
        "rooms = [m.name for m in pkgutil.iter_modules(cio.__path__)]\n"
        "public = {n for n in cio.__all__ if not n.startswith('__')}\n"
        "assert not set(rooms) & public, set(rooms) & public\n"
        "for m in pkgutil.walk_packages(cio.__path__, 'customerio_sink.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = [n for n in cio.__all__ if isinstance(getattr(cio, n), types.ModuleType)]\n"
        "assert not bad, bad\n"
        "assert cio.message_id('a', 'b') == cio.message_id('a', 'b')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
