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

CORE_MODULES = [
    "app_api",
    "breaker",
    "cache",
    "calls",
    "client",
    "encoding",
    "errors",
    "limits",
    "message_id",
    "metrics",
    "models",
    "packing",
    "protect",
    "rate_limit",
    "regions",
    "retry",
    "secrets",
    "semantic",
    "transport",
    "validators",
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
    from customerio_sink.breaker import CircuitBreaker  # noqa: F401
    from customerio_sink.client import CustomerIOClient  # noqa: F401
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
    from customerio_sink.message_id import message_id  # noqa: F401
    from customerio_sink.metrics import RequestMetrics  # noqa: F401
    from customerio_sink.packing import (  # noqa: F401
        DEFAULT_MAX_BODY_BYTES,
        MAX_MESSAGE_BYTES,
        batch_body,
        pack_ranges,
    )
    from customerio_sink.rate_limit import RateLimiter  # noqa: F401
    from customerio_sink.retry import RetryPolicy  # noqa: F401
    from customerio_sink.secrets import SecretKey  # noqa: F401


def test_the_core_never_imports_pyspark() -> None:
    modules = ", ".join(f"customerio_sink.{m}" for m in CORE_MODULES)
    code = f"import sys, {modules}; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_public_name_stays_itself_after_its_same_named_submodule_is_imported() -> None:
    """``import customerio_sink.message_id`` (Python sets the submodule as an attribute of the
    package) must not turn ``cio.message_id`` from the function into the module."""
    code = (
        "import importlib, pkgutil, types\n"
        "import customerio_sink as cio\n"
        "names = [m.name for m in pkgutil.iter_modules(cio.__path__)]\n"
        "for name in names:\n"
        "    importlib.import_module(f'customerio_sink.{name}')\n"
        "clashes = sorted(set(names) & set(cio.__all__))\n"
        "assert clashes, 'the test needs a public name that is also a submodule'\n"
        "bad = [n for n in clashes if isinstance(getattr(cio, n), types.ModuleType)]\n"
        "assert not bad, bad\n"
        "assert cio.message_id('a', 'b') == cio.message_id('a', 'b')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
