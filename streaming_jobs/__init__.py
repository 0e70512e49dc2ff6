"""Command-line entry points, one per sync, thin over :mod:`customerio_sink.spark`.

=======================  ==============================================================
``sync_people``          people table change feed → identify / User Deleted
``sync_events``          append-only events table → track
``sync_objects``         objects (or person↔object relationships) change feed → group /
                         Object Deleted (Relationship Deleted)
``sync_devices``         devices change feed → Device Created or Updated / Device Deleted
``replay_dead_letters``  re-send chosen dead letters, or drain the retry queue
=======================  ==============================================================

Operations jobs: ``erase`` (GDPR erasure at Customer.io and in the ledger), ``retention`` (old
ledger rows deleted, then VACUUM), ``maintenance`` (OPTIMIZE, retention, VACUUM) and ``alerts``
(alert rules over the metrics table that ``--metrics`` makes a sync write).

Tools beside the jobs (no shared sending flags): ``trace`` (where did row X go) and ``migrate``
(import exports, backfill history, re-key people, the cut-over check) and ``demo`` (the
whole path on one machine: the emulator, local Spark + Delta and two jobs; ``make demo``).

Run ``python -m streaming_jobs.<name> --help``; a Databricks job calls
``streaming_jobs.<name>.main([...])``, which returns the exit code.
"""

from __future__ import annotations

__all__ = ["JOBS", "OPS", "TOOLS"]

JOBS = ("sync_people", "sync_events", "sync_objects", "sync_devices", "replay_dead_letters")
TOOLS = ("trace", "migrate", "demo")
OPS = ("erase", "retention", "maintenance", "alerts")
