"""The Spark layer: session builder, row → message mapping, the sending engine, the foreachBatch
writer, the ``customerio`` Python Data Source and the Delta ledger tables.

Import the submodules you need; nothing here is imported eagerly so that ``import
customerio_sink`` never needs pyspark.
"""

from __future__ import annotations
