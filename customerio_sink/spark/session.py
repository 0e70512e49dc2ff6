"""One function that returns a SparkSession with Delta Lake configured.

On Databricks (or wherever a session is already active) it returns that session untouched. On a
laptop or CI machine it builds a small local session tuned for tests and the demo: 2 cores, few
shuffle partitions, UI off, Delta extension and catalog on, and the Delta JARs resolved from
Maven through ``spark.jars.packages`` (or taken from local files when ``CUSTOMERIO_SINK_DELTA_JARS``
names them).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from importlib import metadata
from typing import TYPE_CHECKING, Any

from customerio_sink.errors import DeltaUnavailableError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["DeltaUnavailableError", "delta_maven_coordinate", "get_spark", "on_databricks"]

#: Environment variables that change how the local session finds Delta's JARs.
ENV_DELTA_PACKAGE = "CUSTOMERIO_SINK_DELTA_PACKAGE"  # Maven coordinate override
ENV_DELTA_JARS = "CUSTOMERIO_SINK_DELTA_JARS"  # comma-separated local JAR paths (offline)
ENV_MAVEN_REPO = "CUSTOMERIO_SINK_MAVEN_REPO"  # extra Maven repository / mirror URL
ENV_VERBOSE = "CUSTOMERIO_SINK_VERBOSE"  # 1: show Spark's and Ivy's startup output
ENV_REMOTE = "SPARK_REMOTE"  # sc://host:port — connect to a Spark Connect server instead


def on_databricks() -> bool:
    """True inside a Databricks runtime (driver or job)."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def delta_maven_coordinate() -> str:
    """The Maven coordinate of the Delta JAR matching the installed ``delta-spark`` wheel."""
    override = os.environ.get(ENV_DELTA_PACKAGE)
    if override:
        return override
    version = metadata.version("delta-spark")
    major = int(version.split(".")[0])
    if major >= 4 and version.split(".")[1] != "0":
        # delta-spark 4.1+ publishes one artifact per Spark line: delta-spark_<spark>_2.13.
        import pyspark

        spark_line = ".".join(pyspark.__version__.split(".")[:2])
        return f"io.delta:delta-spark_{spark_line}_2.13:{version}"
    scala = "2.13" if major >= 4 else "2.12"
    return f"io.delta:delta-spark_{scala}:{version}"


def _local_conf(app_name: str, master: str, shuffle_partitions: int) -> dict[str, str]:
    warehouse = os.path.join(tempfile.gettempdir(), "customerio-sink-warehouse")
    conf = {
        "spark.app.name": app_name,
        "spark.master": master,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.default.parallelism": "2",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": warehouse,
        # The throughput collector: a local session runs batch work on few cores, where G1's
        # concurrent marking threads take CPU from the tasks (about 1 s of 14 in make bench).
        "spark.driver.extraJavaOptions": (
            f"-Dderby.system.home={warehouse} -Ddelta.log.cacheSize=3 -XX:+UseParallelGC"
        ),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
        "spark.ui.retainedJobs": "10",
        "spark.ui.retainedStages": "10",
        "spark.sql.ui.retainedExecutions": "10",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Batches to Python workers are bounded by maxRecordsPerBatch (10,000 rows); at
        # Int.MaxValue Spark skips its byte-size check, which it otherwise makes on every row.
        "spark.sql.execution.arrow.maxBytesPerBatch": "2147483647",
        "spark.sql.streaming.stopTimeout": "60s",
        "spark.driver.memory": "4g",
        # Workers run this interpreter (with pyarrow etc.), not whatever python3 is on PATH.
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    jars = os.environ.get(ENV_DELTA_JARS)
    if jars:
        conf["spark.jars"] = jars
    else:
        conf["spark.jars.packages"] = delta_maven_coordinate()
        repo = os.environ.get(ENV_MAVEN_REPO)
        if repo:
            conf["spark.jars.repositories"] = repo
    return conf


class _JvmOutput:
    """The local JVM's stdout/stderr, read by two threads. Until :meth:`started`, lines are kept
    in memory (the Ivy resolution report, Spark's startup WARN lines); after it, they pass
    through to this process's streams, so errors the JVM prints later are still seen."""

    def __init__(self) -> None:
        self.startup: list[str] = []
        self.passing = False
        self.lock = threading.Lock()

    def attach(self, proc: Any) -> None:
        for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
            threading.Thread(
                target=self._pump, args=(stream, name), name=f"jvm-{name}", daemon=True
            ).start()

    def _pump(self, stream: Any, name: str) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            with self.lock:
                if not self.passing:
                    self.startup.append(line)
                    continue
            target = sys.stdout if name == "stdout" else sys.stderr
            try:
                target.write(line)
                target.flush()
            except (ValueError, OSError):  # the stream was closed (interpreter shutting down)
                return

    def started(self) -> None:
        with self.lock:
            self.passing = True

    def save(self) -> str:
        """Write what the JVM printed while starting to a file; return its path."""
        fd, path = tempfile.mkstemp(prefix="customerio-sink-spark-start-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.writelines(self.startup)
        return path


def _launch_quiet_gateway(conf: dict[str, str]) -> _JvmOutput:
    """Start the JVM with its output piped, so Spark's and Ivy's startup chatter stays off the
    console (``get_spark(verbose=True)`` or ``$CUSTOMERIO_SINK_VERBOSE=1`` shows it)."""
    from subprocess import PIPE

    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    spark_conf = SparkConf()
    for key, value in conf.items():
        spark_conf.set(key, value)
    output = _JvmOutput()
    gateway = launch_gateway(spark_conf, popen_kwargs={"stdout": PIPE, "stderr": PIPE})
    output.attach(gateway.proc)
    SparkContext._ensure_initialized(gateway=gateway, conf=spark_conf)
    return output


def get_spark(
    app_name: str = "customerio-sink",
    *,
    master: str = "local[2]",
    shuffle_partitions: int = 2,
    extra_conf: dict[str, str] | None = None,
    verbose: bool | None = None,
) -> SparkSession:
    """Return the active SparkSession, or build a local one with Delta Lake.

    On Databricks, or when a session is already active, that session is returned as it is. With
    ``$SPARK_REMOTE`` set (``sc://host:port``, as pyspark reads it) it is a Spark Connect session
    of that server — how the jobs run against serverless or shared clusters.
    Otherwise a local session is built (``master``, ``shuffle_partitions`` and ``extra_conf``
    apply only then). A local session starts quietly: the Ivy resolution report and Spark's
    startup warnings are kept off the console (and saved to a file named in the error if the
    start fails) unless ``verbose`` (default: ``$CUSTOMERIO_SINK_VERBOSE``) is true.

    Raises:
        DeltaUnavailableError: the Delta JARs could not be resolved or the JVM did not start.
            The message says how to fix it (network to Maven Central, a mirror, or local JARs).
    """
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    remote = os.environ.get(ENV_REMOTE, "").strip()
    if remote and not on_databricks():
        # A Spark Connect server (serverless, a shared cluster, a local one): no JVM here.
        return SparkSession.builder.remote(remote).getOrCreate()
    if on_databricks() or SparkContext._active_spark_context is not None:
        # The running application's session. Not getActiveSession(): on a thread that ran a
        # foreachBatch, that can be the stream's private clone of the session.
        return SparkSession.builder.getOrCreate()

    # PySpark starts its workers with $PYSPARK_PYTHON (else python3 on PATH); make it this
    # interpreter, which has the package and pyarrow.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if verbose is None:
        verbose = os.environ.get(ENV_VERBOSE, "").strip().lower() in ("1", "true", "yes")
    conf = {**_local_conf(app_name, master, shuffle_partitions), **(extra_conf or {})}
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    output: _JvmOutput | None = None
    try:
        if not verbose:
            output = _launch_quiet_gateway(conf)
        spark = builder.getOrCreate()
        # Touch the Delta classes now so a missing JAR fails here, with our message.
        spark._jvm.io.delta.tables.DeltaTable  # type: ignore[union-attr]  # noqa: B018
        spark.sparkContext.setLogLevel("WARN" if verbose else "ERROR")
        if output is not None:
            output.started()
    except Exception as exc:  # the JVM/Ivy failure modes are many; one clear message for all
        source = os.environ.get(ENV_DELTA_JARS) or delta_maven_coordinate()
        log_note = f" What Spark printed while starting: {output.save()}." if output else ""
        raise DeltaUnavailableError(
            f"Could not start a local Spark session with Delta Lake ({source}). Spark resolves "
            "Delta's JARs from Maven Central through spark.jars.packages on first use. Fix: allow "
            f"access to Maven Central, or set {ENV_MAVEN_REPO} to a reachable Maven mirror, or "
            "download the JARs (e.g. `mvn dependency:copy -Dartifact=io.delta:delta-spark_2.13:"
            f"4.0.1` plus delta-storage) and set {ENV_DELTA_JARS}=/path/a.jar,/path/b.jar. "
            f"Underlying error: {type(exc).__name__}: "
            f"{(str(exc).strip().splitlines() or [''])[0][:300]}.{log_note}"
        ) from exc
    return spark


def is_connect(spark: Any) -> bool:
    """Whether ``spark`` is a Spark Connect session (no SparkContext, RDDs or JVM handles).

    Imports nothing: a Connect session's class is loaded before any such session exists, and
    importing the Connect client where it is not used costs time (and on pyspark 4.2 without
    grpcio ends a ``python -c`` script with exit 0, taken for a doctest run).
    """
    module = sys.modules.get("pyspark.sql.connect.session")
    return module is not None and isinstance(spark, module.SparkSession)
