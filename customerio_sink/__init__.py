"""customerio-sink: keep Customer.io in step with Delta Lake tables from Spark Structured Streaming.

The pure core (client, models, packing, rate limiting, retries, errors, emulator) never imports
pyspark; the Spark layer lives in :mod:`customerio_sink.spark`.
"""

from __future__ import annotations

from customerio_sink.__version__ import __version__

__all__ = ["__version__"]
