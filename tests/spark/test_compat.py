"""The Spark 3.5 stand-ins for Spark 4's UTF-8 functions give the native functions' verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from customerio_sink.spark.compat import is_valid_utf8, make_valid_utf8

pytestmark = pytest.mark.spark

HEX = [
    "68656C6C6F",  # hello
    "C3A9",  # é
    "F09F9880",  # an emoji (4 bytes)
    "EFBFBD",  # U+FFFD itself: valid
    "",  # empty
    "C328",  # a lead byte without its continuation
    "80",  # a lone continuation byte
    "E282",  # a truncated 3-byte sequence
    "C0AF",  # an overlong encoding of '/'
    "EDA080",  # a UTF-16 surrogate
    "61FF62",  # 0xFF never appears in UTF-8
]


def test_the_fallbacks_agree_with_spark_4(spark: Any) -> None:
    from pyspark.sql import functions as F

    if not hasattr(F, "is_valid_utf8"):
        pytest.skip("this Spark has no native function to compare with")  # Spark 3.5 legs
    df = spark.createDataFrame([(h,) for h in HEX] + [(None,)], "h STRING")
    text = F.unhex("h").cast("string")
    rows = df.select(
        "h",
        is_valid_utf8(text, native=True).alias("native"),
        is_valid_utf8(text, native=False).alias("fallback"),
        is_valid_utf8(make_valid_utf8(text, native=False), native=True).alias("repaired_ok"),
        (make_valid_utf8(text, native=False) == text).alias("kept"),
    ).collect()
    assert sum(r.native is False for r in rows) == 6  # the cases hold both kinds
    for r in rows:
        assert r.fallback == r.native, r.h
        if r.h is not None:
            assert r.repaired_ok, r.h  # the repair is valid UTF-8
            assert r.kept == r.native, r.h  # and changes exactly the invalid strings


def test_the_trim_and_cast_stand_ins_agree_with_spark_4(spark: Any) -> None:
    from pyspark.sql import functions as F

    texts = [' \t\r\n{"a":1}', "{}", "  x ", "\u00a0{", "", None, "2026-01-02 03:04:05", "nope"]
    df = spark.createDataFrame([(t,) for t in texts], "t STRING")
    trimmed = df.select(
        F.ltrim("t", F.lit(" \t\r\n")).alias("native"),
        F.regexp_replace("t", r"^[ \t\r\n]+", "").alias("fallback"),  # compat.ltrim_space's
    ).collect()
    assert all(r.native == r.fallback for r in trimmed), trimmed
    previous = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", "false")  # as Spark 3.5 runs by default
    try:
        cast = df.select(
            F.col("t").try_cast("timestamp_ntz").alias("native"),
            F.col("t").cast("timestamp_ntz").alias("fallback"),  # compat.try_cast's on 3.5
        ).collect()
    finally:
        spark.conf.set("spark.sql.ansi.enabled", previous)
    assert all(r.native == r.fallback for r in cast), cast
    assert sum(r.native is not None for r in cast) == 1
