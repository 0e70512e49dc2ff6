"""The ledger of ``format("customerio")`` writes, filled by Spark itself: no call after ``start()``.

The Data Source sends on the executors and marks each batch complete in the journal from its
``commit()``, which runs in a Python worker beside the driver — a process with no SparkSession,
so it cannot write Delta. It also drops a small *marker* (job, ledger, run id; never the key) in
a registry directory of the driver process, whose path travels inside the registered data source
class. One ledger thread in the driver process (the :class:`Ingestor`) turns committed journals
into ledger rows and prunes them, exactly as the ``foreachBatch`` door does:

- a :class:`~pyspark.sql.streaming.StreamingQueryListener` that :func:`install` adds to the
  session wakes it on every progress and termination of a query (the listener thread only
  queues the query id: no Delta write happens on it);
- it also looks for new markers every second — how a batch write (``df.write.format(...)``),
  which has no listener event, reaches the ledger;
- :func:`flush` (``cio.flush()``) writes everything committed so far and waits; it also runs when
  the interpreter exits, so a script that ends right after ``query.stop()`` loses nothing.

Every write is idempotent per ``(job, run, batch)`` (Delta ``txnAppId``/``txnVersion``), so a
batch written twice — by two processes, or again after a restart — is in the ledger once. A batch
committed but not yet written when a process died stays in the journal; the restarted query
(same checkpoint, same query id) writes it with its first committed batch.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pyspark.sql.streaming import StreamingQueryListener

from customerio_sink.engine import journal
from customerio_sink.spark.markers import HasTarget, LedgerTarget, read_markers

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["IngestListener", "Ingestor", "flush", "ingest_committed", "install"]

log = logging.getLogger(__name__)

POLL_S = 1.0  # how often the ledger thread looks for markers of batch writes
EXIT_FLUSH_S = 300.0  # at most this long at interpreter exit
_KEEP_LINEAGE = 2000  # lineage rows kept per run for callers that have not seen them yet


def _ingest_batch(
    spark: SparkSession, target: LedgerTarget, run_id: str, batch_id: int
) -> dict[str, Any]:
    key = f"{target.job}/{run_id}"
    summary = journal.read_commit(target.ledger.journal, key, batch_id) or {}
    started = summary.get("committed_at")
    return target.ledger.ingest(
        spark,
        job=target.job,
        run_id=run_id,
        batch_id=batch_id,
        summary=summary,
        front_door="datasource",
        source=target.source_name,
        started_at=datetime.fromisoformat(started) if started else datetime.now(timezone.utc),
        dry_run=target.dry_run,
    )


@dataclass
class _Ticket:
    """A request to the ledger thread, and its answer."""

    runs: list[tuple[LedgerTarget, str]] | None = None  # None: every run known
    already: set[int] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None


class Ingestor:
    """The process's one ledger thread: every ledger write of the Data Source happens on it.

    Requests come from the listener (a query id), from markers (batch writes), and from callers
    that wait (:func:`ingest_committed`, :func:`flush`). Failures are logged; a run whose write
    failed is tried again on its next committed batch, on :func:`flush`, or on a restart.
    """

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.registry = tempfile.mkdtemp(prefix="customerio-sink-")
        self._requests: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._runs: dict[tuple[str, str, str], tuple[LedgerTarget, str]] = {}
        self._kinds: dict[tuple[str, str, str], str] = {}
        self._failed: set[tuple[str, str, str]] = set()
        self._lineage: dict[tuple[str, str, str], dict[int, dict[str, Any]]] = {}
        self._highest: dict[str, int] = {}
        self._since_flush: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="customerio-ledger", daemon=True)
        self._thread.start()

    # -- requests (any thread) -----------------------------------------------------------------

    def query_event(self, run_id: str) -> None:
        """A query made progress or ended: write its committed batches (no wait)."""
        self._requests.put(("event", run_id))

    def ingest(
        self, target: LedgerTarget, run_id: str, already: set[int] | None = None
    ) -> list[dict[str, Any]]:
        """Write ``run_id``'s committed batches now; return their lineage (not in ``already``)."""
        return self._wait(_Ticket(runs=[(target, run_id)], already=already), None)

    def flush(self, timeout_s: float | None = None) -> list[dict[str, Any]]:
        """Write every run's committed batches and wait.

        Returns the lineage rows written since the previous flush, in the background or now.
        """
        return self._wait(_Ticket(), timeout_s)

    def wait_for(self, run_id: str, batch_id: int, timeout_s: float) -> None:
        """Wait (without asking for anything) until ``batch_id`` of ``run_id`` is in the ledger.

        Raises:
            TimeoutError: not there after ``timeout_s`` seconds.
        """
        with self._changed:
            ok = self._changed.wait_for(
                lambda: self._highest.get(run_id, -1) >= batch_id, timeout=timeout_s
            )
        if not ok:
            raise TimeoutError(
                f"run {run_id}: batch {batch_id} not in the ledger after {timeout_s:g} s "
                "(cio.flush() writes it and raises the error that kept it out)"
            )

    def _wait(self, ticket: _Ticket, timeout_s: float | None) -> list[dict[str, Any]]:
        self._requests.put(("ticket", ticket))
        if not ticket.done.wait(timeout_s):
            raise TimeoutError(f"the ledger was not written within {timeout_s:g} s")
        if ticket.error is not None:
            raise ticket.error
        return ticket.lineage

    # -- the ledger thread ---------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            try:
                items = [self._requests.get(timeout=POLL_S)]
            except queue.Empty:
                items = []
            with contextlib.suppress(queue.Empty):
                while True:
                    items.append(self._requests.get_nowait())
            try:
                self._serve(items)
            except BaseException as exc:  # never let the thread die: callers wait on it
                log.exception("customerio: ledger thread error")
                for kind, item in items:
                    if kind == "ticket" and not item.done.is_set():
                        item.error = exc
                        item.done.set()

    def _serve(self, items: list[tuple[str, Any]]) -> None:
        keys = self._absorb_markers()
        events = {item for kind, item in items if kind == "event"}
        keys |= {k for k in self._runs if k[2] in events and k not in self._failed}
        for key in sorted(keys):
            with contextlib.suppress(Exception):  # logged in _run; retried later
                self._run(key)
        for kind, ticket in items:
            if kind == "ticket":
                self._answer(ticket)

    def _answer(self, ticket: _Ticket) -> None:
        if ticket.runs is None:  # a flush: every run, each tried even when another fails
            for key in sorted(self._runs):
                try:
                    self._run(key)
                except Exception as exc:
                    ticket.error = ticket.error or exc
            ticket.lineage, self._since_flush = self._since_flush, []
        else:
            try:
                for target, run_id in ticket.runs:
                    key = self._remember(target, run_id, None)
                    self._run(key)
                    ticket.lineage += self._unseen(key, ticket.already)
            except Exception as exc:
                ticket.error = exc
        ticket.done.set()

    def _absorb_markers(self) -> set[tuple[str, str, str]]:
        news = set()
        for marker in read_markers(self.registry):
            target = LedgerTarget.from_dict(marker["target"])
            news.add(self._remember(target, marker["run_id"], marker.get("kind")))
        return news

    def _remember(
        self, target: LedgerTarget, run_id: str, kind: str | None
    ) -> tuple[str, str, str]:
        key = _key(target, run_id)
        self._runs[key] = (target, run_id)
        self._kinds[key] = kind or self._kinds.get(key, "stream")
        return key

    def _run(self, key: tuple[str, str, str]) -> list[dict[str, Any]]:
        """Write the committed, not yet written batches of one run; return their lineage."""
        target, run_id = self._runs[key]
        written = self._lineage.setdefault(key, {})
        journal_key = f"{target.job}/{run_id}"
        root = target.ledger.journal
        todo = [b for b in journal.committed_batches(root, journal_key) if b not in written]
        out = []
        try:
            if todo:
                target.ledger.ensure_tables(self.spark)
            for batch_id in todo:
                lineage = _ingest_batch(self.spark, target, run_id, batch_id)
                journal.prune_before(root, journal_key, batch_id)
                written[batch_id] = lineage
                out.append(lineage)
                self._announce(key, lineage)
        except Exception as exc:
            self._failed.add(key)
            log.warning(
                "customerio: the ledger of job %s run %s was not written (%s: %s); it is "
                "written with the run's next batch, by cio.flush(), or after a restart",
                target.job,
                run_id,
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
            )
            raise
        self._failed.discard(key)
        while len(written) > _KEEP_LINEAGE:
            written.pop(min(written))
        return out

    def _announce(self, key: tuple[str, str, str], lineage: dict[str, Any]) -> None:
        run_id, batch_id = lineage["run_id"], int(lineage["batch_id"])
        with self._changed:
            self._highest[run_id] = max(self._highest.get(run_id, -1), batch_id)
            self._changed.notify_all()
        self._since_flush = [*self._since_flush[-_KEEP_LINEAGE:], lineage]
        what = "batch write" if self._kinds.get(key) == "batch" else f"batch {batch_id}"
        log.info(
            "customerio: job %s run %s %s in the ledger: %s rows in, %s acked, %s dead-lettered, "
            "%s parked, %s skipped",
            lineage["job"],
            run_id,
            what,
            lineage["rows_in"],
            lineage["acked"],
            lineage["dead_lettered"],
            lineage["parked"],
            lineage["skipped"],
        )

    def _unseen(self, key: tuple[str, str, str], already: set[int] | None) -> list[dict[str, Any]]:
        written = self._lineage.get(key, {})
        done = already if already is not None else set()
        out = [written[b] for b in sorted(written) if b not in done]
        done.update(written)
        return out

    def close(self, timeout_s: float = EXIT_FLUSH_S) -> None:
        """Write what is committed (at most ``timeout_s``), then drop the registry directory."""
        try:
            self.flush(timeout_s)
        except Exception as exc:
            log.warning("customerio: ledger not completed at exit (%s)", type(exc).__name__)
        shutil.rmtree(self.registry, ignore_errors=True)


def _key(target: LedgerTarget, run_id: str) -> tuple[str, str, str]:
    return (target.ledger.journal, target.job, run_id)


class IngestListener(StreamingQueryListener):
    """Hands each query's progress and end to the ledger thread (does nothing else itself)."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    def onQueryStarted(self, event: Any) -> None:
        # Runs before the query starts: only a queue put. Writes what a restarted query left.
        self.ingestor.query_event(str(event.id))

    def onQueryProgress(self, event: Any) -> None:
        self.ingestor.query_event(str(event.progress.id))

    def onQueryIdle(self, event: Any) -> None:
        return None

    def onQueryTerminated(self, event: Any) -> None:
        self.ingestor.query_event(str(event.id))


_STATE: dict[str, Any] = {"ingestor": None, "listening": []}
_STATE_LOCK = threading.Lock()


def ingestor(spark: SparkSession | None = None) -> Ingestor | None:
    """The process's ledger thread (started with ``spark`` if given and not running yet)."""
    with _STATE_LOCK:
        current: Ingestor | None = _STATE["ingestor"]
        if current is None and spark is not None:
            current = _STATE["ingestor"] = Ingestor(spark)
            atexit.register(current.close)
        elif current is not None and spark is not None:
            current.spark = spark  # the session the user works with now
        return current


def install(spark: SparkSession) -> Ingestor:
    """Start the ledger thread and listen to this session's queries (again is a no-op)."""
    found = ingestor(spark)
    assert found is not None
    with _STATE_LOCK:
        if not any(s is spark for s in _STATE["listening"]):
            spark.streams.addListener(IngestListener(found))
            _STATE["listening"].append(spark)
    return found


def ingest_committed(
    spark: SparkSession, options: HasTarget, run_id: str, *, already: set[int] | None = None
) -> list[dict[str, Any]]:
    """Write the ledger rows of every committed, not yet written batch of ``run_id``.

    Returns the lineage rows of the run's batches written in this process (by this call or by
    the listener) that are not in ``already`` — which is updated in place. Idempotent.
    """
    found = ingestor(spark)
    assert found is not None
    return found.ingest(LedgerTarget.of(options), run_id, already)


def flush(timeout_s: float | None = None) -> list[dict[str, Any]]:
    """Write everything ``format("customerio")`` committed in this process, and wait.

    Returns the lineage rows written since the previous flush (each with its ``job`` and
    ``run_id``: how a batch write's generated run id is found).

    Raises:
        TimeoutError: not done within ``timeout_s`` seconds.
        Exception: the error of a ledger write that failed (the batches stay in the journal).
    """
    found = ingestor()
    return found.flush(timeout_s) if found is not None else []
