"""Checkpoint conventions for the streaming jobs (see README.md) and a reader for Spark
checkpoint directories: ``python -m checkpoints_template.inspect <checkpoint_dir>``.

The reader lives in :mod:`checkpoints_template.show`; ``inspect`` is only its command-line name
(a module of that name must not be imported as a top-level module, where it would shadow the
standard library's ``inspect``).
"""

from __future__ import annotations

from checkpoints_template.show import CheckpointState, read_checkpoint

__all__ = ["CheckpointState", "read_checkpoint"]
