"""What users run today instead of the sink: the official client, and a plain per-row loop.

Both read the rows on the driver, as a notebook would, and their wall time includes that read.
The official client (``customerio-cdp-analytics``, ``from customerio.analytics import Client``)
queues each ``track`` call and a consumer thread posts ``/v1/batch`` bodies; ``flush()`` waits
until every queued message was answered. The per-row loop posts one ``/v1/track`` per row
through a reused ``requests.Session``.

Reading rows: :func:`driver_rows` uses ``toLocalIterator`` (Arrow off, as it would be for most
notebooks: rows are pickled per partition) by default, or Arrow record batches
(``reader="arrow"``: the whole result collected as Arrow, then walked); the faster of the two
on this machine is the one the benchmark uses for the official client.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = [
    "OFFICIAL_DEFAULTS",
    "OfficialSettings",
    "driver_rows",
    "run_official",
    "run_per_row",
    "sweep_candidates",
]

Row = tuple[str, str, str, str, datetime]


@dataclass(frozen=True)
class OfficialSettings:
    """``Client(...)`` keyword arguments varied by the benchmark (the rest stay default).

    ``max_queue_size`` of None means "as many as the rows sent", so ``track`` never finds the
    queue full.
    """

    upload_size: int = 100
    upload_interval: float = 0.5
    gzip: bool = False
    max_queue_size: int | None = 10000
    thread: int = 1

    def client_kwargs(self, rows: int) -> dict[str, Any]:
        out = asdict(self)
        out["max_queue_size"] = self.max_queue_size or max(rows, 1)
        return out

    def label(self) -> str:
        queue = "rows" if self.max_queue_size is None else str(self.max_queue_size)
        return (
            f"upload_size={self.upload_size}, upload_interval={self.upload_interval:g}, "
            f"gzip={self.gzip}, max_queue_size={queue}, thread={self.thread}"
        )


OFFICIAL_DEFAULTS = OfficialSettings()


def sweep_candidates() -> list[OfficialSettings]:
    """Settings tried to find the official client's best (thread=2 is measured, but its
    consumers are not all tracked — the reference's §5.3 bug — so it is not a fair pick)."""
    return [
        OfficialSettings(upload_size=100, max_queue_size=None),
        OfficialSettings(upload_size=500, max_queue_size=None),
        OfficialSettings(upload_size=2000, max_queue_size=None),
        OfficialSettings(upload_size=2000, upload_interval=2.0, max_queue_size=None),
        OfficialSettings(upload_size=2000, gzip=True, max_queue_size=None),
    ]


def driver_rows(df: DataFrame, reader: str = "local_iterator") -> Iterator[Row]:
    """The source rows as tuples (event_id, user_id, event, properties, ts), read on the driver.

    ``local_iterator`` streams partitions with ``toLocalIterator(prefetchPartitions=True)``;
    ``arrow`` collects the result as Arrow (Spark's ``toArrow``) and walks its batches.
    """
    cols = ("event_id", "user_id", "event", "properties", "ts")
    if reader == "arrow":
        table = df.select(*cols).toArrow()
        for batch in table.to_batches():
            data = batch.to_pydict()
            yield from zip(*(data[c] for c in cols), strict=True)
        return
    if reader != "local_iterator":
        raise ValueError(f"reader: 'local_iterator' or 'arrow', got {reader!r}")
    for row in df.select(*cols).toLocalIterator(prefetchPartitions=True):
        yield (row[0], row[1], row[2], row[3], row[4])


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts


def run_official(
    df: DataFrame,
    *,
    url: str,
    key: str,
    settings: OfficialSettings,
    rows: int,
    reader: str = "local_iterator",
) -> dict[str, Any]:
    """Send ``df`` (``rows`` rows) through the official client; wall time includes the read.

    ``track`` returns ``(False, msg)`` when the client's queue is full (the message is dropped):
    the loop waits 1 ms and calls again, as a careful notebook would, and counts those waits.
    """
    from customerio.analytics import Client

    log = logging.getLogger("customerio")
    level = log.level
    log.setLevel(logging.CRITICAL)  # "queue is full" warnings would flood stderr
    errors: list[str] = []

    def on_error(exc: Exception, batch: list[Any]) -> None:
        errors.append(f"{type(exc).__name__}: {len(batch)} messages")

    waits = 0
    sent = 0
    started = time.perf_counter()
    client = Client(key, host=url, on_error=on_error, **settings.client_kwargs(rows))
    try:
        for event_id, user_id, event, properties, ts in driver_rows(df, reader):
            props = json.loads(properties)
            stamp = _utc(ts)
            ok, _ = client.track(
                user_id=user_id,
                event=event,
                properties=props,
                timestamp=stamp,
                message_id=event_id,
            )
            while not ok:
                waits += 1
                time.sleep(0.001)
                ok, _ = client.track(
                    user_id=user_id,
                    event=event,
                    properties=json.loads(properties),
                    timestamp=stamp,
                    message_id=event_id,
                )
            sent += 1
        client.flush()
        wall = time.perf_counter() - started
    finally:
        client.join()
        log.setLevel(level)
    return {
        "settings": asdict(settings)
        | {"max_queue_size": settings.client_kwargs(rows)["max_queue_size"]},
        "settings_label": settings.label(),
        "reader": reader,
        "rows": sent,
        "wall_s": wall,
        "events_per_s": sent / wall if wall > 0 else 0.0,
        "queue_full_waits": waits,
        "uses_python_workers": False,
        "errors": errors[:20],
        "error_batches": len(errors),
    }


def run_per_row(
    df: DataFrame,
    *,
    url: str,
    key: str,
    sample: int,
    reader: str = "local_iterator",
    session: bool = False,
) -> dict[str, Any]:
    """POST the first ``sample`` rows one per request to ``/v1/track``.

    ``session=False`` is the loop the issue describes, as a hand-written notebook has it:
    ``requests.post`` per row (a new connection each time). ``session=True`` reuses one
    ``requests.Session`` (keep-alive): the same loop written with more care, reported beside it.
    """
    http: Any = requests.Session() if session else requests
    statuses: dict[int, int] = {}
    sent = 0
    started = time.perf_counter()
    try:
        for event_id, user_id, event, properties, ts in driver_rows(df.limit(sample), reader):
            msg = {
                "type": "track",
                "messageId": event_id,
                "userId": user_id,
                "event": event,
                "properties": json.loads(properties),
                "timestamp": _utc(ts).isoformat(timespec="milliseconds"),
            }
            response = http.post(f"{url}/v1/track", json=msg, auth=(key, ""))
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            sent += 1
        wall = time.perf_counter() - started
    finally:
        if session:
            http.close()
    return {
        "rows": sent,
        "wall_s": wall,
        "events_per_s": sent / wall if wall > 0 else 0.0,
        "status_counts": statuses,
        "reader": reader,
        "http": "requests.Session().post" if session else "requests.post",
        "uses_python_workers": False,
    }
