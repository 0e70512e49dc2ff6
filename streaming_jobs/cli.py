"""``customerio-sink <job> [flags]``: one console script for every job (``pip install`` puts it
on PATH), beside ``python -m streaming_jobs.<job>``.

The exit code is the job's own, so a Databricks ``python_wheel_task`` (entry point
``customerio-sink``) fails when the job fails: 0 done, 1 failed, 2 bad arguments, 130 stopped.
:func:`main` raises :class:`SystemExit` for a non-zero code (a wheel task ignores a returned
one); :func:`run` returns it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from streaming_jobs import JOBS, OPS, TOOLS

__all__ = ["main", "run"]

USAGE = """\
usage: customerio-sink <job> [flags]     (customerio-sink <job> --help for the job's flags)

jobs:
  sync_people          people table change feed -> identify / User Deleted
  sync_events          append-only events table -> track
  sync_objects         objects or relationships change feed -> group / Object Deleted
  sync_devices         devices change feed -> Device Created or Updated / Device Deleted
  replay_dead_letters  re-send fixed dead letters, or drain the retry queue

operations:
  erase                GDPR erasure: User Deleted (+ suppress), the person's ledger rows removed
  retention            delete ledger rows older than N days, then VACUUM
  maintenance          OPTIMIZE (Z-order) + retention + VACUUM over the ledger tables
  alerts               alert rules over the metrics table -> alerts table / webhook

tools:
  trace                where did row X go: acked, dead-lettered, parked or skipped (and why)
  migrate              import exports, backfill history, re-key people, cut-over check
  demo                 the whole path on one machine: emulator + local Spark/Delta + two jobs

exit codes: 0 done, 1 the job failed, 2 bad arguments, 130 stopped
"""


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: :func:`run`, raising :class:`SystemExit` with a non-zero exit code.

    A Databricks ``python_wheel_task`` calls the entry point and ignores what it returns, so a
    failed job must raise to fail the run; 0 is returned (``sys.exit(0)`` by pip's wrapper).
    """
    code = run(argv)
    if code != 0:
        raise SystemExit(code)
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """Run ``argv[0]`` (a job name; ``-`` and ``_`` both work) with the rest as its flags; the
    job's exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if args else 2
    name = args[0].replace("-", "_")
    if name not in JOBS + OPS + TOOLS:
        print(
            f"customerio-sink: error: no job {args[0]!r} (jobs: {', '.join(JOBS + OPS + TOOLS)})",
            file=sys.stderr,
        )
        return 2
    job = importlib.import_module(f"streaming_jobs.{name}")
    code: int = job.main(args[1:])
    return code


if __name__ == "__main__":
    raise SystemExit(main())
