"""The delivery journal: a durable, append-only record of every final outcome, written by the
sending tasks as they go.

Why a journal and not only the Delta ledger: HTTP calls happen on executors long before the driver
can commit anything to Delta. If a task, the driver or the whole query dies mid-batch, Spark
replays the batch with the same ``batch_id``; the journal of that batch tells the replay which
messages were already acknowledged (or dead-lettered, or parked), so only requests that were in
flight at the crash can be sent twice — and they carry the same ``messageId``.

Layout (a directory every executor and the driver can reach with plain file I/O — a local path,
``/dbfs/...`` or a Unity Catalog volume ``/Volumes/...``)::

    <root>/<job>/<run id>/batch=<n>/part-<partition>-<uuid>.jsonl  one file per task attempt
    <root>/<job>/<run id>/batch=<n>/_commit.json                    written when the batch commits
    <root>/<job>/<run id>/batch=<n>/_ingest.started                 made before its ledger writes

(``<run id>`` is the streaming query id; the functions below take ``"<job>/<run id>"`` as ``job``.)

Each line is one outcome record for one HTTP request (or one group of messages decided without
HTTP), with parallel arrays for the messages it covers. Lines are flushed as they are written; a
torn last line (process killed mid-write) is ignored by the reader.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

__all__ = [
    "ACKED",
    "DEAD",
    "FINAL_OUTCOMES",
    "PARKED",
    "SKIPPED",
    "JournalWriter",
    "batch_dir",
    "claim_ingest",
    "committed_batches",
    "final_message_ids",
    "prune_before",
    "read_commit",
    "read_records",
    "write_commit",
]

ACKED = "acked"
DEAD = "dead"
PARKED = "parked"
#: Not a final outcome of a message: a source row that was not sent (with its reason).
SKIPPED = "skipped"
FINAL_OUTCOMES = frozenset({ACKED, DEAD, PARKED})


def batch_dir(root: str, job: str, batch_id: int) -> Path:
    """The journal directory of one micro-batch of one job."""
    return Path(root) / job / f"batch={batch_id}"


@dataclass
class JournalWriter:
    """Appends outcome records for one task attempt. Not thread-safe: one per task."""

    root: str
    job: str
    batch_id: int
    partition_id: int
    fsync: bool = False
    _fh: IO[bytes] | None = field(default=None, init=False, repr=False)
    _stem: str = field(default="", init=False, repr=False)
    _writers: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def directory(self) -> Path:
        return batch_dir(self.root, self.job, self.batch_id)

    def _open(self) -> IO[bytes]:
        if self._fh is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._stem = f"part-{self.partition_id:05d}-{uuid.uuid4().hex[:12]}"
            self._fh = open(self.directory / f"{self._stem}.jsonl", "ab")  # noqa: SIM115
        return self._fh

    def _table_paths(self, suffix: str) -> tuple[Path, Path]:
        """(the temporary file, the final file) of one of the attempt's Parquet tables."""
        return (
            self.directory / f".{self._stem}.{suffix}.tmp",
            self.directory / f"{self._stem}.{suffix}.parquet",
        )

    @property
    def has_parts(self) -> bool:
        """Whether :meth:`append_table` wrote part of a table not yet published."""
        return bool(self._writers)

    def append_table(self, suffix: str, table: Any) -> None:
        """Write part of a table now (a row group of the temporary file), so a long task keeps
        no more than a part in memory; :meth:`write_tables` adds the rest and publishes it."""
        import pyarrow.parquet as pq

        self._open()
        writer = self._writers.get(suffix)
        if writer is None:
            tmp, _ = self._table_paths(suffix)
            writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
            self._writers[suffix] = writer
        writer.write_table(table)

    def write_tables(self, tables: dict[str, Any]) -> None:
        """At the end of a task attempt, write its outcomes as Parquet beside the JSONL.

        ``tables`` maps a suffix (``outcomes``, ``requests``) to a ``pyarrow.Table`` (the rest
        of it, after any parts written by :meth:`append_table`). Each file appears atomically
        (rename), so a file that exists is complete; the ledger reads these instead of
        re-parsing the JSONL, which remains the record for attempts that crashed.
        """
        import pyarrow.parquet as pq

        if not self._stem:
            return
        for suffix, table in tables.items():
            tmp, final = self._table_paths(suffix)
            writer = self._writers.pop(suffix, None)
            if writer is None:
                pq.write_table(table, tmp, compression="snappy")
            else:
                writer.write_table(table)
                writer.close()
            os.replace(tmp, final)

    def write(self, record: dict[str, Any]) -> None:
        """Append one record and flush it to the OS (and to disk when ``fsync``)."""
        fh = self._open()
        fh.write(orjson.dumps(record) + b"\n")
        fh.flush()
        if self.fsync:
            os.fsync(fh.fileno())

    def discard_parts(self) -> None:
        """Close the files of tables that will not be published (the attempt failed): only a
        whole table is ever published."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_records(root: str, job: str, batch_id: int) -> Iterator[dict[str, Any]]:
    """Every complete record journaled for a batch, across all task attempts."""
    directory = batch_dir(root, job, batch_id)
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("part-*.jsonl")):
        with open(path, "rb") as fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # torn write of a killed task: the request is treated as in flight
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError:
                    break


def final_message_ids(root: str, job: str, batch_id: int) -> set[str]:
    """Message ids that already reached a final outcome in an earlier attempt of this batch."""
    done: set[str] = set()
    for record in read_records(root, job, batch_id):
        if record.get("outcome") in FINAL_OUTCOMES:
            done.update(record.get("ids", ()))
    return done


def write_commit(root: str, job: str, batch_id: int, summary: dict[str, Any]) -> None:
    """Mark a batch as fully sent (atomic rename), with its summed partition counts."""
    directory = batch_dir(root, job, batch_id)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f"._commit.{uuid.uuid4().hex}.tmp"
    tmp.write_bytes(orjson.dumps(summary))
    os.replace(tmp, directory / "_commit.json")


def claim_ingest(directory: Path) -> bool:
    """Mark a batch's journal as being written into the ledger; True for the first claim.

    The marker is made (exclusively) before the batch's first ledger write, so a later attempt
    of the same batch finds it and knows the ledger may already hold some of its rows.
    """
    try:
        with open(directory / "_ingest.started", "x") as marker:
            os.fsync(marker.fileno())
    except FileExistsError:
        return False
    return True


def read_commit(root: str, job: str, batch_id: int) -> dict[str, Any] | None:
    """The commit marker of a batch (its summed partition counts), or None when the batch has
    not been committed."""
    path = batch_dir(root, job, batch_id) / "_commit.json"
    return orjson.loads(path.read_bytes()) if path.exists() else None


def committed_batches(root: str, job: str) -> list[int]:
    """Batch ids whose journal carries a commit marker, ascending."""
    base = Path(root) / job
    if not base.is_dir():
        return []
    ids = [
        int(p.name.split("=", 1)[1]) for p in base.glob("batch=*") if (p / "_commit.json").exists()
    ]
    return sorted(ids)


def prune_before(root: str, job: str, batch_id: int, keep: Iterable[int] = ()) -> int:
    """Delete journals of batches older than ``batch_id`` (already committed by the checkpoint).

    Returns the number of batch directories removed.
    """
    base = Path(root) / job
    if not base.is_dir():
        return 0
    keep_set = set(keep)
    removed = 0
    for p in base.glob("batch=*"):
        bid = int(p.name.split("=", 1)[1])
        if bid < batch_id and bid not in keep_set:
            shutil.rmtree(p, ignore_errors=True)
            removed += 1
    return removed
