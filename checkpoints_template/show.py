"""Read a Structured Streaming checkpoint directory with plain file I/O (no Spark, no JVM).

What it reports, and where Spark keeps it::

    <checkpoint>/metadata        {"id": "<query id>"}            — stable across restarts
    <checkpoint>/offsets/<n>     v1 / batch metadata / one line per source offset
                                 — written when batch n is planned, before it runs
    <checkpoint>/commits/<n>     v1 / {"nextBatchWatermarkMs": ...}
                                 — written after batch n's sink (and so the ledger) finished

A Delta source's offset is ``{"reservoirId", "reservoirVersion", "index", "isStartingVersion"}``:
``index = -1`` means every change before ``reservoirVersion`` is read and nothing of it yet;
``index >= 0`` means files of ``reservoirVersion`` up to that index are read;
``isStartingVersion`` is true while the query still reads the table's initial snapshot (a backfill).

Usage: ``python -m checkpoints_template.inspect <checkpoint_dir> [--json]
[--journal-dir DIR --job NAME]``. Paths on DBFS or Unity Catalog volumes are read through their
FUSE mounts (``/dbfs/...``, ``/Volumes/...``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["CheckpointState", "SourceOffset", "main", "read_checkpoint"]


class NotACheckpointError(ValueError):
    """Raised when a directory holds neither ``metadata`` nor ``offsets/``."""


@dataclass(frozen=True)
class SourceOffset:
    """One source's offset in one batch; ``delta`` fields are None for other sources."""

    source: int
    raw: Any
    reservoir_id: str | None = None
    version: int | None = None
    index: int | None = None
    is_starting_version: bool | None = None

    @property
    def is_delta(self) -> bool:
        return self.version is not None

    def describe(self) -> str:
        if self.raw is None:
            return f"source {self.source}: no offset yet"
        if not self.is_delta:
            return f"source {self.source}: {json.dumps(self.raw)}"
        where = (
            f"all of versions < {self.version} read"
            if self.index == -1
            else f"version {self.version} read up to file index {self.index}"
        )
        if self.is_starting_version:
            where = f"initial snapshot of version {self.version} read up to file index {self.index}"
        return (
            f"source {self.source}: delta table {self.reservoir_id}, version {self.version}, "
            f"index {self.index}, isStartingVersion={str(self.is_starting_version).lower()} "
            f"({where})"
        )


@dataclass
class CheckpointState:
    """What a checkpoint says about its query. Batch ids are None when none exist yet."""

    path: str
    query_id: str | None
    last_committed_batch: int | None
    last_offset_batch: int | None
    planned_at: str | None = None
    offsets: list[SourceOffset] = field(default_factory=list)
    committed_offsets: list[SourceOffset] = field(default_factory=list)
    journal: dict[str, Any] | None = None

    @property
    def pending_batch(self) -> int | None:
        """The batch planned but not committed: a restart re-runs it with the same offsets."""
        last, done = self.last_offset_batch, self.last_committed_batch
        if last is not None and (done is None or last > done):
            return last
        return None

    def status(self) -> str:
        if self.last_offset_batch is None:
            return "no batch planned yet: the query has not started (or a reset emptied it)"
        pending = self.pending_batch
        if pending is not None:
            return (
                f"batch {pending} is planned but not committed: on restart Spark re-runs it with "
                "the same offsets and the ledger skips what it already acknowledged — keep its "
                "journal"
            )
        return "every planned batch is committed"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["pending_batch"] = self.pending_batch
        out["status"] = self.status()
        return out

    def lines(self) -> list[str]:
        def batch(n: int | None) -> str:
            return "none" if n is None else str(n)

        out = [
            f"checkpoint: {self.path}",
            f"query id: {self.query_id or 'unknown (no metadata file)'}",
            f"last committed batch: {batch(self.last_committed_batch)}",
            f"last offset batch: {batch(self.last_offset_batch)}"
            + (f" (planned at {self.planned_at})" if self.planned_at else ""),
        ]
        out += [f"  {o.describe()}" for o in self.offsets]
        if self.pending_batch is not None and self.committed_offsets:
            out.append(f"offsets of the last committed batch {self.last_committed_batch}:")
            out += [f"  {o.describe()}" for o in self.committed_offsets]
        out.append(f"status: {self.status()}")
        if self.journal is not None:
            j = self.journal
            out.append(f"journal: {j['dir']}")
            if not j["batches"]:
                out.append("  no batch journals (all pruned, or the job has not sent yet)")
            for b in j["batches"]:
                mark = "commit marker" if b["committed"] else "no commit marker (in flight)"
                out.append(f"  batch {b['batch_id']}: {b['files']} part files, {mark}")
        return out


def _batch_ids(directory: Path) -> list[int]:
    """Batch files of an offsets/ or commits/ log (not .crc, .tmp or other names), ascending."""
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit() and p.is_file())


def _parse_source(source: int, line: str) -> SourceOffset:
    text = line.strip()
    if text in ("", "-"):
        return SourceOffset(source, None)
    try:
        raw = json.loads(text)
    except ValueError:
        return SourceOffset(source, text)
    if isinstance(raw, dict) and "reservoirVersion" in raw:
        return SourceOffset(
            source,
            raw,
            reservoir_id=raw.get("reservoirId"),
            version=int(raw["reservoirVersion"]),
            index=int(raw.get("index", -1)),
            is_starting_version=bool(raw.get("isStartingVersion", False)),
        )
    return SourceOffset(source, raw)


def read_offsets(path: Path) -> tuple[str | None, list[SourceOffset]]:
    """(planned-at time, source offsets) of one ``offsets/<n>`` file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or not lines[0].startswith("v"):
        raise NotACheckpointError(f"{path}: not an offset log file (no version line)")
    planned_at = None
    try:
        meta = json.loads(lines[1]) if len(lines) > 1 else {}
        millis = meta.get("batchTimestampMs")
        if millis:
            planned_at = (
                datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
                .isoformat(timespec="seconds")
                .replace("+00:00", "Z")
            )
    except ValueError:
        pass
    return planned_at, [_parse_source(i, line) for i, line in enumerate(lines[2:])]


def read_journal(journal_dir: str, job: str, query_id: str | None) -> dict[str, Any]:
    """The delivery journal's batches for this job's run (``<dir>/<job>/<query id>/``)."""
    base = Path(journal_dir) / job / (query_id or "")
    batches = []
    if query_id and base.is_dir():
        for p in sorted(base.glob("batch=*"), key=lambda p: int(p.name.split("=", 1)[1])):
            batches.append(
                {
                    "batch_id": int(p.name.split("=", 1)[1]),
                    "files": len(list(p.glob("part-*.jsonl"))),
                    "committed": (p / "_commit.json").exists(),
                }
            )
    return {"dir": str(base), "batches": batches}


def read_checkpoint(
    path: str | Path, *, journal_dir: str | None = None, job: str | None = None
) -> CheckpointState:
    """Read a checkpoint directory.

    Raises:
        NotACheckpointError: the directory is missing or holds no ``metadata``/``offsets``.
    """
    root = Path(path)
    if not root.is_dir():
        raise NotACheckpointError(f"{root}: no such directory")
    meta = root / "metadata"
    offsets_dir, commits_dir = root / "offsets", root / "commits"
    if not meta.exists() and not offsets_dir.is_dir():
        raise NotACheckpointError(f"{root}: not a streaming checkpoint (no metadata, no offsets/)")
    query_id = None
    if meta.exists():
        try:
            query_id = json.loads(meta.read_text(encoding="utf-8").splitlines()[0]).get("id")
        except (ValueError, IndexError):
            query_id = None
    offset_ids, commit_ids = _batch_ids(offsets_dir), _batch_ids(commits_dir)
    state = CheckpointState(
        path=str(root),
        query_id=query_id,
        last_committed_batch=commit_ids[-1] if commit_ids else None,
        last_offset_batch=offset_ids[-1] if offset_ids else None,
    )
    if offset_ids:
        state.planned_at, state.offsets = read_offsets(offsets_dir / str(offset_ids[-1]))
    done = state.last_committed_batch
    if state.pending_batch is not None and done is not None and done in offset_ids:
        _, state.committed_offsets = read_offsets(offsets_dir / str(done))
    if journal_dir and job:
        state.journal = read_journal(journal_dir, job, query_id)
    return state


def main(argv: Sequence[str] | None = None) -> int:
    """Print a checkpoint's state; 0 done, 1 not a checkpoint, 2 bad arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m checkpoints_template.inspect",
        description="Show a streaming checkpoint's query id, last committed batch, last planned "
        "(offset) batch and the Delta source version/index it points at. Reads plain files; "
        "needs no Spark.",
        epilog="example:\n  python -m checkpoints_template.inspect "
        "/tmp/cio/dev/sync_people/checkpoint --journal-dir /tmp/cio/dev/ledger/_journal "
        "--job sync_people",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", help="the checkpoint directory (checkpointLocation)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--journal-dir", help="also list this job's delivery journal batches")
    parser.add_argument("--job", help="job name in the journal (with --journal-dir)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if bool(args.journal_dir) != bool(args.job):
        parser.error("--journal-dir and --job go together")
    try:
        state = read_checkpoint(args.checkpoint, journal_dir=args.journal_dir, job=args.job)
    except (NotACheckpointError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(state.as_dict(), indent=2, default=str))
    else:
        print("\n".join(state.lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
