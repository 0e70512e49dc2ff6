"""``python -m checkpoints_template.inspect <checkpoint_dir>``: what a checkpoint holds.

An alias of :mod:`checkpoints_template.show` for the command line; import from ``show``.
"""

from __future__ import annotations

from checkpoints_template.show import main

if __name__ == "__main__":
    raise SystemExit(main())
