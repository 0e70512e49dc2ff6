"""Markers: how the sink's ``commit()`` (a Python worker beside the driver) tells the driver's
ledger thread (:mod:`customerio_sink.spark.listener`) that a run committed a batch.

A marker names the job, the ledger and the run — never the API key. It is a small JSON file in
a registry directory the driver process owns; its path travels to the workers inside the
registered data source class. Kept free of Spark imports: it is imported on the workers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from customerio_sink.spark.ledger import Ledger

__all__ = ["HasTarget", "LedgerTarget", "read_markers", "write_marker"]

log = logging.getLogger(__name__)

_MARKER = ".marker.json"


class HasTarget(Protocol):
    """What ingestion needs of a job's options (:class:`SinkOptions` has it)."""

    @property
    def job(self) -> str: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def source_name(self) -> str: ...
    @property
    def dry_run(self) -> bool: ...


@dataclass(frozen=True)
class LedgerTarget:
    """Where one job's ledger rows go (what ingestion needs of the sink's options; no key)."""

    job: str
    ledger: Ledger
    source_name: str = ""
    dry_run: bool = False

    @classmethod
    def of(cls, options: HasTarget) -> LedgerTarget:
        return cls(options.job, options.ledger, options.source_name, options.dry_run)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "ledger": dataclasses.asdict(self.ledger),
            "source_name": self.source_name,
            "dry_run": self.dry_run,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LedgerTarget:
        return cls(
            data["job"], Ledger(**data["ledger"]), data["source_name"], bool(data["dry_run"])
        )


def write_marker(registry: str, run_id: str, target: HasTarget, kind: str) -> None:
    """Tell the driver's ledger thread that ``run_id`` of ``target.job`` committed a batch.

    Called from the sink's ``commit()`` (a Python worker on the driver's machine), after the
    journal's commit mark. Best effort: where a worker cannot write the registry (a sandboxed
    worker), the journal keeps the batches and ``ingest_committed`` (what ``cio.sync`` calls)
    writes them.
    """
    body = {"run_id": run_id, "kind": kind, "target": LedgerTarget.of(target).to_dict()}
    name = f"{target.job}.{run_id}".replace("/", "_")
    try:
        tmp = Path(registry) / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(body), encoding="utf-8")
        os.replace(tmp, Path(registry) / f"{name}{_MARKER}")
    except OSError as exc:
        log.warning("customerio: could not leave a ledger marker in %s (%s)", registry, exc)


def read_markers(registry: str) -> list[dict[str, Any]]:
    """Every marker in the registry, each removed once read (a new commit writes it again)."""
    found = []
    for path in sorted(Path(registry).glob(f"*{_MARKER}")):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            found.append(json.loads(path.read_text(encoding="utf-8")))
        with contextlib.suppress(OSError):
            path.unlink()
    return found
