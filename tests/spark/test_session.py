"""The session builder: Delta works locally, the change data feed reads back, errors are clear."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark


def test_change_data_feed_round_trip(spark, tmp_path: Path) -> None:
    path = str(tmp_path / "people")
    spark.sql(
        f"CREATE TABLE delta.`{path}` (id STRING, email STRING, plan STRING) USING delta "
        "TBLPROPERTIES (delta.enableChangeDataFeed = true)"
    )
    spark.sql(f"INSERT INTO delta.`{path}` VALUES ('u1','a@x.io','free'), ('u2','b@x.io','pro')")
    spark.sql(f"UPDATE delta.`{path}` SET plan = 'pro' WHERE id = 'u1'")
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id = 'u2'")

    changes = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", 1)
        .load(path)
        .select("id", "plan", "_change_type", "_commit_version")
        .orderBy("_commit_version", "id", "_change_type")
        .collect()
    )
    assert [(r.id, r.plan, r._change_type, r._commit_version) for r in changes] == [
        ("u1", "free", "insert", 1),
        ("u2", "pro", "insert", 1),
        ("u1", "pro", "update_postimage", 2),  # sorted by _change_type: post < pre
        ("u1", "free", "update_preimage", 2),
        ("u2", "pro", "delete", 3),
    ]


def test_get_spark_returns_the_active_session(spark) -> None:
    from customerio_sink.spark.session import get_spark

    # Same session (the Python wrapper object may differ between threads).
    assert get_spark().sparkContext is spark.sparkContext
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"


def test_unresolvable_delta_jars_fail_with_one_clear_message(tmp_path: Path) -> None:
    # A separate process: the shared session already has its JVM. An artifact that exists
    # nowhere and an empty Ivy home make resolution fail fast and offline.
    script = textwrap.dedent(
        """
        from customerio_sink.spark.session import DeltaUnavailableError, get_spark
        try:
            get_spark(extra_conf={"spark.jars.ivy": %r})
        except DeltaUnavailableError as exc:
            print("CLEAR:", exc)
        """
        % str(tmp_path / "ivy")
    )
    env = {
        **os.environ,
        "CUSTOMERIO_SINK_DELTA_PACKAGE": "io.delta:delta-spark-does-not-exist_2.13:0.0.1",
        "CUSTOMERIO_SINK_MAVEN_REPO": "http://127.0.0.1:9/maven",
    }
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert "CLEAR: Could not start a local Spark session with Delta Lake" in out.stdout
    assert "CUSTOMERIO_SINK_DELTA_JARS" in out.stdout
