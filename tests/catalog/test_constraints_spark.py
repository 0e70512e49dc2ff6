"""The named SQL constraints, evaluated by Spark on tables of mixed valid and invalid rows, give
the same per-row verdicts as the Python models on the same rows (read back from Spark)."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import reduce
from typing import TYPE_CHECKING, Any

import pytest

from customerio_sink import catalog
from customerio_sink.catalog.constraints import sql_literal
from tests.catalog.cases import invalid_rows, valid_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark


def _cases(event: str) -> list[dict[str, Any]]:
    rows = valid_rows(event) + [row for row, _ in invalid_rows(event)]
    return [{**row, "case_id": f"{event}#{i}"} for i, row in enumerate(rows)]


def _verdicts(spark: SparkSession, event: str) -> DataFrame:
    """case_id, the row as JSON, and the names of the constraints it fails."""
    ddl = "`case_id` STRING, " + catalog.spark_ddl(catalog.model_for(event))
    frame = spark.createDataFrame(_cases(event), schema=ddl)
    checks = ", ".join(
        f"CASE WHEN {sql} THEN NULL WHEN NOT ({sql}) THEN {sql_literal(name)}"
        f" ELSE {sql_literal(name + ' is NULL')} END"
        for name, sql in catalog.constraints(event).items()
    )
    return frame.selectExpr(
        "case_id",
        "to_json(struct(*)) AS row_json",
        f"filter(array({checks}), c -> c IS NOT NULL) AS failed",
    )


def test_sql_constraints_and_python_models_agree_row_by_row(spark: SparkSession) -> None:
    frames = [_verdicts(spark, event) for event in catalog.CATALOG]
    results = reduce(lambda a, b: a.unionByName(b), frames).collect()

    expected_cases = sum(len(_cases(event)) for event in catalog.CATALOG)
    assert len(results) == expected_cases
    disagreements = []
    failing_rows = 0
    for result in results:
        event = result["case_id"].split("#")[0]
        row = json.loads(result["row_json"], parse_float=Decimal)
        row.pop("case_id")
        python = sorted({catalog.constraint_name(v) for v in catalog.check(event, row)})
        sql = sorted(result["failed"])
        failing_rows += bool(sql)
        if python != sql:
            disagreements.append((result["case_id"], python, sql))
    assert disagreements == []
    # Mixed tables: every event has passing rows and failing rows.
    assert 0 < failing_rows < len(results)
    passing = {r["case_id"].split("#")[0] for r in results if not r["failed"]}
    failing = {r["case_id"].split("#")[0] for r in results if r["failed"]}
    assert passing == failing == set(catalog.CATALOG)


def test_one_table_of_several_events_with_guarded_constraints(spark: SparkSession) -> None:
    events = ["Cart Viewed", "Product Added"]
    ddl = "`event` STRING, " + catalog.spark_ddl(catalog.model_for("Product Added"))
    cart = catalog.spark_ddl(catalog.model_for("Cart Viewed"))
    ddl += ", `products` " + cart.split("`products` ", 1)[1]  # the cart's last column
    rows = [
        {
            "event": "Cart Viewed",
            "user_id": "u",
            "products": [{"price": Decimal(1), "quantity": 0}],
        },
        {"event": "Cart Viewed", "user_id": "u", "price": Decimal(-1)},  # not a cart property
        {"event": "Product Added", "user_id": "u", "product_id": "p", "price": Decimal(-1)},
        {"event": "Product Added", "user_id": "u", "product_id": "p", "quantity": 0},
        {"event": "Product Added", "anonymous_id": "a", "sku": "s"},
    ]
    table = catalog.catalog_constraints(events)
    frame = spark.createDataFrame(rows, schema=ddl)
    failed = frame.selectExpr(
        *(f"NOT ({sql}) AS `{name}`" for name, sql in table.items())
    ).collect()
    got = [sorted(name for name, bad in r.asDict().items() if bad) for r in failed]
    assert got == [
        ["Cart Viewed/products[].quantity:quantity_below_one"],
        [],
        ["Product Added/price:price_negative"],
        ["Product Added/quantity:quantity_below_one"],
        [],
    ]
