"""One replay or drain of a job at a time: a lease file beside the job's journal.

``<journal>/<job>/_second_chance.lease`` is created with ``O_CREAT | O_EXCL`` (one creator wins)
and holds the owner: kind (``replay`` / ``drain``), run id, host, process id, start and expiry.
While the run lasts a thread renews the expiry; at the end the file is removed. A second run
meets the file and stops at once with one line naming the running one — unless that one is gone:
its process no longer exists on this host, or its lease expired (it stopped renewing, e.g. its
machine died). Then the lease is broken and taken over; the journal of the dead run tells the
new one what was already sent (see :mod:`customerio_sink.spark.replay`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from customerio_sink.errors import CustomerIOSinkError

__all__ = ["LEASE_SECONDS", "RunInProgressError", "hold", "lease_path"]

#: How long a lease lasts without renewal; renewed every third of it while the run is alive.
LEASE_SECONDS = 120.0
_TORN_GRACE_S = 5.0  # an empty lease file younger than this is still being written


class RunInProgressError(CustomerIOSinkError):
    """Raised when another replay or drain of the same job holds the lease."""

    default_code = "run_in_progress"


def lease_path(journal_root: str, job: str) -> Path:
    """Where the lease file of ``job``'s replays and drains lives under the journal root."""
    return Path(journal_root) / job / "_second_chance.lease"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        held = orjson.loads(data)
    except orjson.JSONDecodeError:
        held = {}
    if not isinstance(held, dict):
        held = {}
    if not held:
        # Created but not written (its writer died at that instant, or is writing now).
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return None
        held = {"token": "", "expires_at": mtime + _TORN_GRACE_S}
    return held


def _alive(held: dict[str, Any]) -> bool:
    if time.time() >= float(held.get("expires_at") or 0):
        return False
    if held.get("host") == socket.gethostname() and held.get("pid"):
        try:
            os.kill(int(held["pid"]), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def describe(held: dict[str, Any], job: str) -> str:
    """The one-line error for a lease held by another run: who holds it, since when, until when."""
    return (
        f"a {held.get('kind', 'replay or drain')} of job {job} is already running "
        f"(run {held.get('run_id', '?')}, pid {held.get('pid', '?')} on {held.get('host', '?')}, "
        f"since {held.get('started', '?')}, lease until "
        f"{_iso(float(held.get('expires_at') or 0))}): wait for it to finish; if it died on "
        "another machine, its lease ends then"
    )


def _write(path: Path, info: dict[str, Any]) -> None:
    """Replace the lease's content atomically (renewal)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(orjson.dumps(info))
    os.replace(tmp, path)


def _break(path: Path, held: dict[str, Any], job: str) -> None:
    """Move a dead run's lease aside; put it back if it was not the one judged dead."""
    aside = path.with_name(f"{path.name}.broken.{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    moved = _read(aside) or {}
    if moved.get("token") != held.get("token"):
        # Someone took the lease over between our look and the move: it is theirs.
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
        aside.unlink(missing_ok=True)
        raise RunInProgressError(describe(moved, job))
    aside.unlink(missing_ok=True)


def _acquire(path: Path, info: dict[str, Any], job: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = _read(path)
            if held is None:
                continue  # released meanwhile
            if _alive(held):
                raise RunInProgressError(describe(held, job)) from None
            _break(path, held, job)
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(info))
            fh.flush()
            os.fsync(fh.fileno())
        return
    held = _read(path) or {}
    raise RunInProgressError(describe(held, job))


def _renew(path: Path, info: dict[str, Any], seconds: float, stop: threading.Event) -> None:
    while not stop.wait(seconds / 3):
        current = _read(path)
        if current is None or current.get("token") != info["token"]:
            return  # broken by someone who judged us dead: nothing left to renew
        info["expires_at"] = time.time() + seconds
        _write(path, info)


@contextlib.contextmanager
def hold(
    journal_root: str, job: str, kind: str, run_id: str, seconds: float = LEASE_SECONDS
) -> Iterator[None]:
    """Hold the job's replay/drain lease for the ``with`` block.

    Raises:
        RunInProgressError: another replay or drain of ``job`` is running; names it.
    """
    path = lease_path(journal_root, job)
    now = time.time()
    info: dict[str, Any] = {
        "kind": kind,
        "run_id": run_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "token": uuid.uuid4().hex,
        "started": _iso(now),
        "expires_at": now + seconds,
    }
    _acquire(path, info, job)
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(path, info, seconds, stop), name="lease-renewal", daemon=True
    )
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        current = _read(path)
        if current is not None and current.get("token") == info["token"]:
            path.unlink(missing_ok=True)
