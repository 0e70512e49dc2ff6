"""How fast the emulator itself answers, so a benchmark of a sender never measures the receiver.

Two figures, each the better of ``runs`` runs (the machine may be busy elsewhere):

* **fast mode, 490 KB bodies** — requests per second of ~490 KB ``/v1/batch`` bodies (850 track
  calls each) on one keep-alive connection, in fast mode (what the throughput phases use);
* **full mode, small bodies** — requests per second of one-call bodies with schema validation on,
  on one keep-alive connection (what the per-row loop meets).

Every request must be answered 200 and every message counted; a wrong answer fails the phase.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import requests

from customerio_sink.emulator import Emulator

__all__ = ["run_emulator_phase"]

KEY = "bench-key"
STRICT = {"X-Strict-Mode": "1", "Content-Type": "application/json"}


def _track(i: int, pad: int) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": f"user-{i}",
        "event": "Order Completed",
        "messageId": f"{i:032x}",
        "properties": {"note": "x" * pad},
    }


def _rate(emu: Emulator, body: bytes, requests_per_run: int, runs: int) -> float:
    best = 0.0
    with requests.Session() as session:
        for _ in range(runs):
            started = time.perf_counter()
            for _ in range(requests_per_run):
                response = session.post(
                    f"{emu.url}/v1/batch", data=body, auth=(KEY, ""), headers=STRICT
                )
                if response.status_code != 200:
                    raise RuntimeError(f"emulator answered {response.status_code}")
            best = max(best, requests_per_run / (time.perf_counter() - started))
    return best


def run_emulator_phase(requests_per_run: int = 60, runs: int = 2) -> dict[str, Any]:
    """Requests/s of the in-process emulator; see the module docstring."""
    big = orjson.dumps({"batch": [_track(i, 440) for i in range(850)]})
    small = orjson.dumps({"batch": [_track(0, 20)]})
    with Emulator(keys=(KEY,), fast=True, rate_limit=10**9) as emu:
        fast_rps = _rate(emu, big, requests_per_run, runs)
        if emu.stats().accepted != requests_per_run * runs * 850:
            raise RuntimeError("fast mode lost messages")
    with Emulator(keys=(KEY,), rate_limit=10**9) as emu:
        full_rps = _rate(emu, small, requests_per_run * 5, runs)
        if emu.stats().accepted != requests_per_run * 5 * runs:
            raise RuntimeError("full mode lost messages")
    return {
        "fast_mode_body_bytes": len(big),
        "fast_mode_requests_per_s": round(fast_rps, 1),
        "fast_mode_mb_per_s": round(fast_rps * len(big) / 1e6, 1),
        "full_mode_small_requests_per_s": round(full_rps, 1),
    }
