"""Single source of the package version (read by setup.py without importing the package)."""

from __future__ import annotations

__version__ = "0.1.0"
