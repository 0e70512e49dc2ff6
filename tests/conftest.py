"""Shared fixtures: one session-scoped local Spark + Delta session for the whole run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

os.environ.setdefault("SPARK_TESTING", "1")
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The one local Spark session (2 cores, Delta on) shared by every Spark test."""
    import sys

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from customerio_sink.spark.session import get_spark

    session = get_spark("customerio-sink-tests")
    yield session
    session.stop()
