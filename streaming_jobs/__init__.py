"""Command-line entry points, one per sync, thin over :mod:`customerio_sink.spark`.

=======================  ==============================================================
``sync_people``          people table change feed → identify / User Deleted
``sync_events``          append-only events table → track
``sync_objects``         objects (or person↔object relationships) change feed → group /
                         Object Deleted (Relationship Deleted)
``sync_devices``         devices change feed → Device Created or Updated / Device Deleted
``replay_dead_letters``  re-send chosen dead letters, or drain the retry queue
=======================  ==============================================================

Tools beside the jobs (no shared sending flags): ``trace`` (where did row X go) and ``migrate``
(import exports, backfill history, re-key people, the cut-over check).

Run ``python -m streaming_jobs.<name> --help``; a Databricks job calls
``streaming_jobs.<name>.main([...])``, which returns the exit code.
"""

from __future__ import annotations

__all__ = ["JOBS", "TOOLS"]

JOBS = ("sync_people", "sync_events", "sync_objects", "sync_devices", "replay_dead_letters")
TOOLS = ("trace", "migrate")
