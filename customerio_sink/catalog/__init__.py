"""Semantic event catalogue: the A/B test, ecommerce, email, live chat, mobile app and video
events of Customer.io's (Segment-derived) specs, as models, builders and data-quality rules.

::

    from customerio_sink import catalog

    call = catalog.build("Order Completed", row)          # a track call dict, or ValidationError
    problems = catalog.check("Order Completed", row)      # [Violation(field, rule, detail)]
    expectations = catalog.constraints("Order Completed")  # {name: SQL} for @dlt.expect_all

``row`` is a mapping, a pydantic object or a Spark ``Row``. One module per family; the rules
live in :mod:`~customerio_sink.catalog.constraints`, the table of what covers each event in
:mod:`~customerio_sink.catalog.coverage`. Nothing here imports pyspark.
"""

from __future__ import annotations

from customerio_sink.catalog.base import CatalogEvent, spark_ddl
from customerio_sink.catalog.constraints import Rule, constraint_name
from customerio_sink.catalog.registry import (
    CATALOG,
    FAMILIES,
    build,
    catalog_constraints,
    check,
    constraints,
    model_for,
    rules_for,
)

__all__ = [
    "CATALOG",
    "FAMILIES",
    "CatalogEvent",
    "Rule",
    "build",
    "catalog_constraints",
    "check",
    "constraint_name",
    "constraints",
    "model_for",
    "rules_for",
    "spark_ddl",
]
