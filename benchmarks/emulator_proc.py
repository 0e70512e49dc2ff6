"""The emulator the benchmark sends to: in its own process (default) or in a thread.

In its own process (``python -m customerio_sink.emulator --fast``) the emulator's request
handling does not share a GIL with the sender being measured — which matters for the official
client and the per-row loop, whose sending runs in the benchmark's own Python process. Its
statistics come over HTTP (``GET /_emulator/stats``). The in-thread form (``mode="thread"``) is
the package's :class:`~customerio_sink.emulator.Emulator` object, for tests that want no
subprocess.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from types import TracebackType
from typing import IO, Any

import requests

__all__ = ["BenchEmulator", "free_port"]


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BenchEmulator:
    """An emulator in fast mode for one key; a context manager.

    ``rate_limit`` is requests per ``rate_window_s`` per key (``10**9`` turns the budget off).
    ``stats()`` returns the emulator's :class:`EmulatorStats` as a dict.
    """

    def __init__(
        self,
        key: str,
        *,
        rate_limit: int = 10**9,
        rate_window_s: float = 3.0,
        mode: str = "process",
    ) -> None:
        if mode not in ("process", "thread"):
            raise ValueError(f"mode: 'process' or 'thread', got {mode!r}")
        self.key = key
        self.rate_limit = rate_limit
        self.rate_window_s = rate_window_s
        self.mode = mode
        self.url = ""
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._emu: Any = None
        self._http = requests.Session()
        self._stderr: IO[bytes] | None = None

    def start(self) -> BenchEmulator:
        if self.mode == "thread":
            from customerio_sink.emulator import Emulator

            self._emu = Emulator(
                keys=(self.key,),
                fast=True,
                rate_limit=self.rate_limit,
                rate_window_s=self.rate_window_s,
                builtin_rules_only=True,
            ).start()
            self.url = self._emu.url
            self.pid = os.getpid()
            return self
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "customerio_sink.emulator",
            "--port",
            str(port),
            "--fast",
            "--builtin-rules",
            "--key",
            self.key,
            "--rate-limit",
            str(self.rate_limit),
            "--rate-window",
            str(self.rate_window_s),
        ]
        # A file, not a pipe: a pipe nobody reads would block the emulator once it filled.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=self._stderr, stdin=subprocess.DEVNULL
        )
        self.pid = self._proc.pid
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            if self._proc.poll() is not None:
                err = self._stderr_text()
                raise RuntimeError(f"the emulator exited at start: {err[-2000:]}")
            try:
                self._http.get(f"{self.url}/_emulator/stats", timeout=1).raise_for_status()
                return self
            except requests.RequestException:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the emulator did not answer within 30 s") from None
                time.sleep(0.05)

    def stats(self) -> dict[str, Any]:
        if self._emu is not None:
            stats: dict[str, Any] = self._emu.stats().as_dict()
            return stats
        response = self._http.get(f"{self.url}/_emulator/stats", timeout=30)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        data["status_counts"] = {int(k): v for k, v in data.get("status_counts", {}).items()}
        return data

    def reset(self) -> None:
        if self._emu is not None:
            self._emu.reset()
            return
        self._http.post(f"{self.url}/_emulator/reset", timeout=30).raise_for_status()

    def set_latency(self, latency_ms: float) -> None:
        """Delay every Pipelines answer by ``latency_ms`` (the emulator's latency fault)."""
        if self._emu is not None:
            self._emu.set_faults(latency_ms=latency_ms)
            return
        self._http.post(
            f"{self.url}/_emulator/faults", json={"latency_ms": latency_ms}, timeout=30
        ).raise_for_status()

    def stop(self) -> None:
        self._http.close()
        if self._emu is not None:
            self._emu.stop()
            self._emu = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def __enter__(self) -> BenchEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
