"""Peak memory of the driver (its Python process and the JVM it started) and the Python workers.

psutil is not a dependency, so this reads Linux's ``/proc``: ``VmHWM`` (peak resident set) and
``VmRSS`` of each process, and walks parent links to find the JVM child of the driver and the
Python workers the JVM forks (``pyspark.daemon`` and its children). Writing ``5`` to
``/proc/<pid>/clear_refs`` resets a process's ``VmHWM`` (Linux 4.0+), so each measured phase
starts from the memory the process holds at that moment, not from its all-time peak.

Workers come and go during a run, so a thread polls every ``interval_s``; a worker that lives
shorter than the interval may be missed (with ``spark.python.worker.reuse`` on, the default,
workers live as long as the session).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["MemoryMonitor", "MemoryPeaks", "process_tree", "vm_kib"]

_PROC = Path("/proc")


def vm_kib(pid: int, name: str) -> int | None:
    """``VmHWM``/``VmRSS``/… of ``pid`` in KiB, or None when the process is gone."""
    try:
        with open(_PROC / str(pid) / "status") as fh:
            for line in fh:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cmdline(pid: int) -> str:
    try:
        return (
            (_PROC / str(pid) / "cmdline")
            .read_bytes()
            .replace(b"\0", b" ")
            .decode("utf-8", "replace")
        )
    except OSError:
        return ""


def process_tree(root: int) -> dict[int, int]:
    """Every live descendant of ``root`` mapped to its parent pid."""
    parents: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = ppid
                frontier.append(pid)
    return found


def _reset_peak(pid: int) -> bool:
    try:
        with open(_PROC / str(pid) / "clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


@dataclass
class MemoryPeaks:
    """Peak resident memory of one phase, in MiB.

    ``driver_total_mb`` is the largest sampled sum of the driver Python's and the JVM's resident
    sets (or, if larger, the sum of their two peaks — an upper bound the sampling may miss).
    ``workers_total_mb`` is the largest sampled sum over live Python workers;
    ``worker_max_mb`` the largest peak of any one worker.
    """

    driver_python_mb: float = 0.0
    jvm_mb: float = 0.0
    driver_total_mb: float = 0.0
    worker_max_mb: float = 0.0
    workers_total_mb: float = 0.0
    workers_seen: int = 0
    peak_reset: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "driver_python_mb": round(self.driver_python_mb, 1),
            "jvm_mb": round(self.jvm_mb, 1),
            "driver_total_mb": round(self.driver_total_mb, 1),
            "worker_max_mb": round(self.worker_max_mb, 1),
            "workers_total_mb": round(self.workers_total_mb, 1),
            "workers_seen": self.workers_seen,
            "peak_reset": self.peak_reset,
        }


class MemoryMonitor:
    """Context manager that measures :class:`MemoryPeaks` while its block runs.

    ``exclude`` are pids (and their descendants) not to count, e.g. an emulator subprocess.
    """

    def __init__(self, *, interval_s: float = 0.2, exclude: tuple[int, ...] = ()) -> None:
        self.interval_s = interval_s
        self.exclude = set(exclude)
        self.driver = os.getpid()
        self.peaks = MemoryPeaks()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hwm: dict[int, int] = {}
        self._kind: dict[int, str] = {}

    def _classify(self) -> dict[int, str]:
        tree = process_tree(self.driver)
        skip = set(self.exclude)
        changed = True
        while changed:  # the excluded pids' own descendants too
            changed = False
            for pid, ppid in tree.items():
                if ppid in skip and pid not in skip:
                    skip.add(pid)
                    changed = True
        kinds: dict[int, str] = {}
        jvms = {pid for pid in tree if pid not in skip and "java" in _cmdline(pid).split(" ")[0]}
        for pid in tree:
            if pid in skip:
                continue
            if pid in jvms:
                kinds[pid] = "jvm"
                continue
            ancestor = tree.get(pid)
            while ancestor is not None and ancestor not in jvms:
                ancestor = tree.get(ancestor)
            if ancestor is not None and "python" in _cmdline(pid):
                kinds[pid] = "worker"
        return kinds

    def _sample(self) -> None:
        kinds = self._classify()
        for pid, kind in kinds.items():
            if pid not in self._kind:
                self._kind[pid] = kind
        driver_rss = vm_kib(self.driver, "VmRSS") or 0
        jvm_rss = sum(vm_kib(p, "VmRSS") or 0 for p, k in kinds.items() if k == "jvm")
        worker_rss = sum(vm_kib(p, "VmRSS") or 0 for p, k in kinds.items() if k == "worker")
        for pid in [self.driver, *kinds]:
            hwm = vm_kib(pid, "VmHWM")
            if hwm is not None:
                self._hwm[pid] = max(self._hwm.get(pid, 0), hwm)
        p = self.peaks
        p.driver_total_mb = max(p.driver_total_mb, (driver_rss + jvm_rss) / 1024)
        p.workers_total_mb = max(p.workers_total_mb, worker_rss / 1024)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> MemoryMonitor:
        kinds = self._classify()
        ok = [_reset_peak(pid) for pid in [self.driver, *kinds]]
        self.peaks.peak_reset = all(ok)
        self._sample()
        self._thread = threading.Thread(target=self._run, name="memory-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        p = self.peaks
        p.driver_python_mb = self._hwm.get(self.driver, 0) / 1024
        p.jvm_mb = sum(h for pid, h in self._hwm.items() if self._kind.get(pid) == "jvm") / 1024
        workers = [h for pid, h in self._hwm.items() if self._kind.get(pid) == "worker"]
        p.worker_max_mb = max(workers, default=0) / 1024
        p.workers_seen = len(workers)
        p.driver_total_mb = max(p.driver_total_mb, p.driver_python_mb + p.jvm_mb)
