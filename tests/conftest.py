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


_CONNECT_SERVER = """
import sys
from customerio_sink.spark.session import get_spark
spark = get_spark("customerio-sink-connect-server", extra_conf={
    "spark.plugins": "org.apache.spark.sql.connect.SparkConnectPlugin",
    "spark.connect.grpc.binding.port": sys.argv[1],
    "spark.connect.grpc.binding.address": "127.0.0.1",
})
print("READY", flush=True)
sys.stdin.read()  # until the test process closes our stdin (or dies)
spark.stop()
"""


@pytest.fixture(scope="session")
def connect_url() -> Iterator[str]:
    """The ``sc://`` URL of one local Spark Connect server (Delta on) for this process.

    The server is a child process (classic Spark with the Connect plugin); foreachBatch
    functions run in Python processes it starts, which import this checkout via PYTHONPATH.
    """
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    server = subprocess.Popen(
        [sys.executable, "-c", _CONNECT_SERVER, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None
    seen = []
    for line in server.stdout:  # the JVM's start: until READY, or the child exits
        if line.strip() == "READY":
            break
        seen.append(line)
    else:
        server.wait()
        pytest.fail("the Spark Connect server did not start:\n" + "".join(seen[-30:]))
    try:
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def connect_spark(connect_url: str) -> Iterator[SparkSession]:
    """A Spark Connect session on :func:`connect_url`'s server.

    Built with the Connect builder itself, so this process stays in classic mode for the other
    tests (``builder.remote`` would switch the whole process to Connect).
    """
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    session = ConnectSession.builder.remote(connect_url).getOrCreate()
    yield session  # type: ignore[misc]
    session.stop()
