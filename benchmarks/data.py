"""The benchmark's source table: ``Order Completed`` events built with Spark expressions.

Each row is what an append-only events queue holds: ``event_id``, ``user_id``, ``event``,
``properties`` (a JSON object string: an order with one to three products) and ``ts``. Values
are pseudo-random but deterministic (hashes of the row number), so every run sends the same
bytes. ``properties`` averages ~340 bytes, the whole row as JSON ~550 (400-750), and the
track message the sink builds from it ~500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["COLUMNS", "EVENT", "events_frame", "write_events"]

EVENT = "Order Completed"
COLUMNS = ("event_id", "user_id", "event", "properties", "ts")

_PRODUCTS = (
    "Trail Running Shoe",
    "Merino Wool Sock 3-Pack",
    "Insulated Water Bottle 750 ml",
    "Ultralight Rain Jacket",
    "Headlamp 400 lm",
    "Compression Sleeve",
    "Camp Stove",
    "Trekking Poles (pair)",
)
_COUPONS = ("", "SPRING10", "FREESHIP", "WELCOME5")
# 2024-01-01T00:00:00Z: event times are spread over the year after it (never "now", so the
# 72-hour campaign-trigger window is not involved).
_EPOCH = 1_704_067_200


def _uniform(F: Any, seed: int, *cols: Column) -> Column:
    """A deterministic pseudo-random double in [0, 1) from the given columns and a seed."""
    return F.pmod(F.xxhash64(F.lit(seed), *cols), F.lit(1_000_003)) / F.lit(1_000_003.0)


def events_frame(spark: SparkSession, rows: int, *, partitions: int = 2) -> DataFrame:
    """``rows`` events as a DataFrame with :data:`COLUMNS` (a lazy plan; nothing runs yet)."""
    from pyspark.sql import functions as F

    n = F.col("id")
    names = F.array(*[F.lit(name) for name in _PRODUCTS])
    coupons = F.array(*[F.lit(c) for c in _COUPONS])
    digest = F.sha1(F.concat(F.lit("bench-event-"), n.cast("string")))
    event_id = F.concat_ws(
        "-",
        F.substring(digest, 1, 8),
        F.substring(digest, 9, 4),
        F.substring(digest, 13, 4),
        F.substring(digest, 17, 4),
        F.substring(digest, 21, 12),
    )

    def product(i: Column) -> Column:
        pick = (F.pmod(F.xxhash64(n, i), F.lit(len(_PRODUCTS))) + 1).cast("int")
        price = F.round(F.lit(4.99) + _uniform(F, 7, n, i) * F.lit(180.0), 2)
        return F.struct(
            F.concat(
                F.lit("prod_"),
                F.lpad(F.pmod(F.xxhash64(n, i, F.lit(1)), F.lit(99991)).cast("string"), 5, "0"),
            ).alias("product_id"),
            F.concat(F.lit("SKU-"), F.upper(F.substring(F.sha1(F.concat(n, i)), 1, 8))).alias(
                "sku"
            ),
            F.element_at(names, pick).alias("name"),
            price.alias("price"),
            (F.pmod(F.xxhash64(n, i, F.lit(2)), F.lit(3)) + 1).cast("int").alias("quantity"),
        )

    count = (F.pmod(F.xxhash64(n, F.lit(3)), F.lit(3)) + 1).cast("int")  # 1..3 products
    products = F.transform(F.sequence(F.lit(1), count), product)
    subtotal = F.aggregate(products, F.lit(0.0), lambda acc, p: acc + p["price"] * p["quantity"])
    shipping = F.when(subtotal > 75, F.lit(0.0)).otherwise(F.lit(6.95))
    tax = F.round(subtotal * F.lit(0.0825), 2)
    coupon = F.element_at(coupons, (F.pmod(F.xxhash64(n, F.lit(4)), F.lit(4)) + 1).cast("int"))
    properties = F.to_json(
        F.struct(
            F.concat(F.lit("ord_"), n.cast("string")).alias("order_id"),
            F.round(subtotal + shipping + tax, 2).alias("total"),
            F.round(subtotal, 2).alias("revenue"),
            shipping.alias("shipping"),
            tax.alias("tax"),
            F.when(coupon != "", coupon).alias("coupon"),
            F.lit("USD").alias("currency"),
            products.alias("products"),
        )
    )
    return spark.range(0, rows, 1, partitions).select(
        event_id.alias("event_id"),
        F.concat(
            F.lit("user_"), F.pmod(F.xxhash64(n, F.lit(5)), F.lit(200_000)).cast("string")
        ).alias("user_id"),
        F.lit(EVENT).alias("event"),
        properties.alias("properties"),
        F.timestamp_seconds(F.lit(_EPOCH) + (n * F.lit(31)) % F.lit(31_536_000)).alias("ts"),
    )


def write_events(spark: SparkSession, path: str, rows: int, *, partitions: int = 2) -> float:
    """Write ``rows`` events to a new Delta table at ``path``; return the seconds it took."""
    import time

    started = time.perf_counter()
    events_frame(spark, rows, partitions=partitions).write.format("delta").mode("overwrite").save(
        path
    )
    return time.perf_counter() - started
