"""A/B test events: ``Experiment Viewed`` (listed by Customer.io).

An experiment view names the experiment and the variation shown, each by id or by name.
"""

from __future__ import annotations

from typing import ClassVar

from customerio_sink.catalog.base import CatalogEvent, Family
from customerio_sink.catalog.constraints import Required, Rule

__all__ = ["EVENTS", "ExperimentViewed"]


class ExperimentViewed(CatalogEvent):
    """A person saw a variation of an experiment."""

    EVENT: ClassVar[str] = "Experiment Viewed"
    FAMILY: ClassVar[Family] = "ab_test"
    RULES: ClassVar[tuple[Rule, ...]] = (
        Required("experiment_id|experiment_name"),
        Required("variation_id|variation_name"),
    )
    experiment_id: str | None = None
    experiment_name: str | None = None
    variation_id: str | None = None
    variation_name: str | None = None


EVENTS: tuple[type[CatalogEvent], ...] = (ExperimentViewed,)
