"""A loopback Customer.io emulator: the Data Pipelines API (strict mode, size limits, rate
budget, duplicate ``messageId`` counting, switchable faults) plus a read-only App API.

Standalone on purpose: it imports nothing from the rest of the package but the version, so a
change in the client can never break the test double the client is tested against.

    from customerio_sink.emulator import Emulator

    with Emulator(keys=("test-key",)) as emu:
        ...  # post to f"{emu.url}/v1/batch"
        assert emu.stats().accepted == 3
"""

from __future__ import annotations

from customerio_sink.emulator.emulator import Emulator
from customerio_sink.emulator.faults import FaultConfig
from customerio_sink.emulator.rules import SEMANTIC_EVENTS
from customerio_sink.emulator.state import EmulatorStats, Rejection
from customerio_sink.emulator.validation import ADJUSTMENTS, MessageValidator, find_openapi_file

__all__ = [
    "ADJUSTMENTS",
    "SEMANTIC_EVENTS",
    "Emulator",
    "EmulatorStats",
    "FaultConfig",
    "MessageValidator",
    "Rejection",
    "find_openapi_file",
]
