"""Where the sink runs: journal locations on clusters, the run id without a SparkContext."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from customerio_sink.errors import ConfigError
from customerio_sink.spark.ledger import (
    Ledger,
    check_journal_for_master,
    check_journal_shared,
    journal_location,
)
from customerio_sink.spark.options import SinkOptions
from customerio_sink.spark.writer import run_id_of

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import SparkSession

MAPPING = '{"call": "track", "user_id": "uid", "event": "name"}'


@pytest.mark.parametrize(
    ("given", "path"),
    [
        ("dbfs:/mnt/cio/journal", "/dbfs/mnt/cio/journal"),
        ("dbfs:///mnt/cio/journal", "/dbfs/mnt/cio/journal"),
        ("file:/tmp/cio/journal", "/tmp/cio/journal"),
        ("file:///tmp/cio/journal", "/tmp/cio/journal"),
        ("/Volumes/main/cio/state/journal", "/Volumes/main/cio/state/journal"),
        ("/tmp/cio/journal", "/tmp/cio/journal"),
    ],
)
def test_journal_location_is_a_plain_path(given: str, path: str) -> None:
    assert journal_location(given, "journal_dir") == path
    assert Ledger(path="/tmp/l", journal_dir=given).journal == path


def test_a_dbfs_ledger_keeps_its_journal_on_the_fuse_mount() -> None:
    assert Ledger(path="dbfs:/mnt/cio/ledger").journal == "/dbfs/mnt/cio/ledger/_journal"


@pytest.mark.parametrize(
    "url",
    [
        "s3://bucket/cio/ledger",
        "s3a://bucket/cio/ledger",
        "abfss://c@acct.dfs.core.windows.net/cio/ledger",
        "gs://bucket/cio/ledger",
    ],
)
def test_an_object_store_ledger_without_a_journal_dir_fails_at_start(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        Ledger(path=url)
    message = str(info.value)
    assert "\n" not in message
    assert "ledger_path" in message and "journal_dir" in message and "/Volumes/" in message
    # the Delta tables may live there; only the journal needs a FUSE path
    assert Ledger(path=url, journal_dir="/Volumes/m/c/v/j").journal == "/Volumes/m/c/v/j"


def test_an_object_store_journal_dir_fails_through_the_options() -> None:
    with pytest.raises(ConfigError, match="journal_dir 's3://b/j'"):
        SinkOptions.from_options(
            {"job": "j", "mapping": MAPPING, "ledger_path": "/tmp/l", "journal_dir": "s3://b/j"}
        )


@pytest.mark.parametrize("master", ["spark://host:7077", "yarn", "k8s://https://h:443"])
def test_a_local_journal_on_a_cluster_is_refused(master: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_journal_for_master(master, Ledger(path="/tmp/cio/ledger"))
    message = str(info.value)
    assert "\n" not in message and master in message and "journal_shared" in message
    # said to be shared, or a Databricks FUSE path: accepted
    check_journal_for_master(master, Ledger(path="/tmp/cio/ledger", journal_shared=True))
    check_journal_for_master(master, Ledger(path="/tmp/l", journal_dir="/Volumes/m/c/v/j"))
    check_journal_for_master(master, Ledger(path="dbfs:/mnt/ledger"))


def test_journal_shared_comes_through_options_and_flags() -> None:
    opts = SinkOptions.from_options(
        {
            "job": "j",
            "mapping": MAPPING,
            "ledger_path": "/tmp/l",
            "journal_shared": "true",
            "dry_run": "true",
        }
    )
    assert opts.ledger.journal_shared
    assert opts.to_options(include_key=False)["journal_shared"] == "true"
    assert SinkOptions.from_options(opts.to_options(include_key=False)).ledger.journal_shared


def test_a_local_master_takes_a_local_journal(spark: SparkSession, tmp_path: Path) -> None:
    check_journal_shared(spark, Ledger(path=str(tmp_path / "ledger")))


def test_run_id_comes_from_the_active_query_without_the_local_property(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Off the batch thread there is no query-id local property, as on Spark Connect: the run
    id is still the query's id (it was the constant "batch", which made a checkpoint reset's
    ledger appends be skipped as already written)."""
    assert run_id_of(spark, "cio-platform-test") == "batch"  # no stream: a batch write
    query = (
        spark.readStream.format("rate")
        .option("rowsPerSecond", 1)
        .load()
        .writeStream.queryName("cio-platform-test")
        .format("noop")
        .option("checkpointLocation", str(tmp_path / "ckpt"))
        .start()
    )
    try:
        assert run_id_of(spark, "cio-platform-test") == str(query.id)
        assert run_id_of(spark, None) == str(query.id)  # the only active query
    finally:
        query.stop()
    second = (
        spark.readStream.format("rate")
        .load()
        .writeStream.queryName("cio-platform-test")
        .format("noop")
        .option("checkpointLocation", str(tmp_path / "ckpt2"))
        .start()
    )
    try:  # a new checkpoint: a new query id, so new ledger txn ids
        assert run_id_of(spark, "cio-platform-test") == str(second.id) != str(query.id)
    finally:
        second.stop()
