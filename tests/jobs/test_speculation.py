"""Two live attempts of one sending task would both send: a session with speculation on is
refused before the query starts, with one clear ConfigError."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

CHILD = textwrap.dedent(
    """
    import sys
    from pyspark.sql import SparkSession
    from customerio_sink.errors import ConfigError
    from customerio_sink.client.secrets import SecretKey
    from customerio_sink.spark.ledger import Ledger
    from customerio_sink.spark.mapping import MessageMapping
    from customerio_sink.spark.options import SinkOptions
    from customerio_sink.spark.runner import run_sync

    spark = (SparkSession.builder.master("local[1]").config("spark.speculation", "true")
             .config("spark.ui.enabled", "false").getOrCreate())
    mapping = MessageMapping(source="queue", call="track", user_id="value", event="Tick")
    options = SinkOptions(job="spec", mapping=mapping, ledger=Ledger(path=sys.argv[1]),
                          api_key=SecretKey("spec-test-key"), endpoint="http://127.0.0.1:9")
    df = spark.readStream.format("rate").load().selectExpr("CAST(value AS STRING) AS value")
    try:
        run_sync(spark, options, df, checkpoint=sys.argv[2])
    except ConfigError as exc:
        print("REFUSED:", exc.message)
        sys.exit(3)
    """
)


def test_speculation_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "ledger"), str(tmp_path / "cp")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 3, child.stdout + child.stderr[-2000:]
    lines = [line for line in child.stdout.splitlines() if line.startswith("REFUSED:")]
    assert len(lines) == 1
    assert "spark.speculation is true" in lines[0]
    assert not (tmp_path / "cp").exists()
