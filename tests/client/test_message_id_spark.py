"""``message_id_sql`` computes on the JVM the very id ``message_id`` computes in Python."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from customerio_sink.messages.message_id import message_id, message_id_sql

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark


def test_sql_and_python_agree(spark: SparkSession) -> None:
    rows = [
        ("job", "k1", 7, True, 1_714_564_800_000),
        ("job", None, 0, False, 0),
        ("jöb ✓ 😀", "", 123_456_789_012, None, 2**48 - 1),
        ("a", "1:a", -5, True, 1),
    ]
    frame = spark.createDataFrame(rows, "a string, b string, c long, d boolean, t long")
    expr = message_id_sql("a", "b", "c", "d", time_ms="t")
    for row in frame.selectExpr("*", f"{expr} AS mid").collect():
        assert row.mid == message_id(row.a, row.b, row.c, row.d, time_ms=row.t)
    for row in frame.selectExpr("a", "b", f"{message_id_sql('a', 'b')} AS mid").collect():
        assert row.mid == message_id(row.a, row.b)
