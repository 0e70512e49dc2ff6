# Databricks notebook source
# MAGIC %md
# MAGIC # 02 · Streams: start, watch, stop
# MAGIC
# MAGIC An append-only *events queue* table — one row per thing a person did — becomes Customer.io
# MAGIC `track` calls (`userId`, `event`, `properties`, `timestamp`). This notebook runs the sink as
# MAGIC a continuous stream (`trigger(processingTime=...)`), appends rows while it runs, watches its
# MAGIC progress, and stops it cleanly. Then it does the same through the second front door,
# MAGIC `df.writeStream.format("customerio")` (a Spark 4 Python Data Source).
# MAGIC
# MAGIC **Why the checkpoint matters.** Spark records a micro-batch in the checkpoint only after the
# MAGIC sink has returned, so after a crash the same `batch_id` is replayed with the same rows. The
# MAGIC sink journals each request's outcome as it goes and skips what an earlier attempt of the
# MAGIC batch already delivered: only requests in flight at the crash can be sent twice, and they
# MAGIC carry the same `messageId`.
# MAGIC
# MAGIC **Within Customer.io's limits.** Calls are packed into `/v1/batch` bodies under 500 KB, and
# MAGIC every partition of every job on one key shares the key's budget (default 3000 requests
# MAGIC per 3 s, the documented rate); a `429` pauses them all instead of failing the job.

# COMMAND ----------


from customerio_sink.notebook import notebook_params, setup_notebook

try:
    dbutils  # noqa: F821  (Databricks)
except NameError:
    dbutils = None

# Widgets on Databricks; NB_<NAME> environment variables locally (e.g. NB_WORK_DIR=/tmp/nb).
WIDGETS = {
    "work_dir": "",  # Databricks: a /Volumes/... directory; locally empty = a new temp dir
    "job": "nb-events",
    "trigger_interval": "2 seconds",
    "secret_scope": "",
    "secret_key": "",
    "region": "us",
}
ON_DATABRICKS, P = notebook_params(WIDGETS, dbutils)

# COMMAND ----------

import json
import shutil
from datetime import datetime, timezone

from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.mapping import MessageMapping
from customerio_sink.spark.options import SinkOptions
from customerio_sink.spark.runner import read_source
from customerio_sink.spark.writer import CustomerIOWriter

nb = setup_notebook("02", P, on_databricks=ON_DATABRICKS, display=globals().get("display"))
spark, WORK, TEMP_WORK, JOB = nb.spark, nb.work, nb.temp_work, P["job"]
emu, API_KEY, TARGET, show = nb.emulator, nb.api_key, nb.target, nb.show


# COMMAND ----------

# MAGIC %md
# MAGIC ## An events queue table
# MAGIC
# MAGIC One row per event, with an id (`event_id`, which feeds the deterministic `messageId`), the
# MAGIC person, the event name, its properties as a JSON string and its time. Customer.io stamps a
# MAGIC call without a timestamp as "now", so the sink always sends one.

# COMMAND ----------

EVENTS = f"{WORK}/events"
SCHEMA = "event_id STRING, user_id STRING, event STRING, properties STRING, ts TIMESTAMP"
NAMES = ("Signed Up", "Viewed Product", "Added to Cart", "Order Completed")


def append_events(path, first, count):
    """Append `count` events (ids first … first+count-1), as an application would."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [
        (f"e{i:04d}", f"u{i % 7}", NAMES[i % 4], json.dumps({"sku": f"SKU-{i}"}), now)
        for i in range(first, first + count)
    ]
    spark.createDataFrame(rows, SCHEMA).write.format("delta").mode("append").save(path)


spark.sql(f"CREATE TABLE delta.`{EVENTS}` ({SCHEMA}) USING delta")
append_events(EVENTS, 0, 5)

options = SinkOptions(
    job=JOB,
    mapping=MessageMapping(
        source="queue",
        call="track",
        user_id="user_id",
        event_column="event",
        properties_json="properties",
        timestamp="ts",
        row_id="event_id",
    ),
    ledger=Ledger(path=f"{WORK}/ledger"),
    api_key=API_KEY,
    **TARGET,
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Start a continuous stream (foreachBatch)
# MAGIC
# MAGIC `CustomerIOWriter(options)` is the `foreachBatch` function. `read_source(kind="queue")`
# MAGIC reads the table's appends (and skips commits that rewrite files, such as purges of rows
# MAGIC already delivered). The query runs until stopped: each trigger interval it picks up what was
# MAGIC appended since the last batch.

# COMMAND ----------

writer = CustomerIOWriter(options)
query = (
    read_source(spark, EVENTS, kind="queue")
    .writeStream.queryName(JOB)
    .foreachBatch(writer)
    .option("checkpointLocation", f"{WORK}/checkpoints/{JOB}")
    .trigger(processingTime=P["trigger_interval"])
    .start()
)
query.processAllAvailable()  # wait until the first 5 events are through
print(f"query {query.name} active={query.isActive}; batches so far: {len(writer.history)}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Append while it runs, and watch it
# MAGIC
# MAGIC `processAllAvailable()` blocks until everything appended so far is processed (handy in a
# MAGIC notebook; a job just keeps running). `query.lastProgress` is Spark's view of the last
# MAGIC micro-batch; the sink's own view — every row accounted for — is the lineage.

# COMMAND ----------

append_events(EVENTS, 5, 20)
query.processAllAvailable()
progress = query.lastProgress
print({key: progress[key] for key in ("batchId", "numInputRows", "durationMs")})
for lineage in writer.history:
    print(
        f"batch {lineage['batch_id']}: {lineage['rows_in']} rows in, {lineage['acked']} acked, "
        f"{lineage['requests']} requests, {lineage['send_seconds']} s in the sink"
    )
if emu is not None:
    print(f"Customer.io (emulator) has {len(emu.message_id_counts())} events")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Stop it cleanly
# MAGIC
# MAGIC `query.stop()` lets the running micro-batch finish (up to `spark.sql.streaming.stopTimeout`)
# MAGIC and stops. A batch cut short is not in the checkpoint, so the next start replays it, and the
# MAGIC journal makes the replay send only what was not delivered. Restarting with the same
# MAGIC checkpoint continues where the query stopped.

# COMMAND ----------

query.stop()
query.awaitTermination()
print(f"active: {query.isActive}")
show(
    options.ledger.read(spark, "lineage")
    .where(f"job = '{JOB}'")
    .orderBy("batch_id")
    .select("batch_id", "front_door", "rows_in", "acked", "dead_lettered", "parked", "requests")
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## The same through `format("customerio")`
# MAGIC
# MAGIC The Python Data Source (Spark 4; Databricks Runtime 15.4 LTS and later) sends in `write()`
# MAGIC on the executors and marks the batch complete in `commit()`. `prepare()` maps the rows to
# MAGIC message columns (in the JVM); `register()` makes the format known to the session; the key
# MAGIC travels in the `api_key_secret` option, which Spark's redaction hides in plans and the UI.
# MAGIC `commit()` runs where no SparkSession exists, so the driver writes the Delta ledger rows
# MAGIC with `ingest_committed()` (`run_sync` does this for you).
# MAGIC
# MAGIC Here: a second queue table, the mobile app's events, as its own job. Stop it the same way,
# MAGIC then ingest once more, for a batch that committed while the query stopped.

# COMMAND ----------

from customerio_sink.spark.datasource import ingest_committed, prepare, register  # Spark 4

APP_EVENTS = f"{WORK}/app_events"
spark.sql(f"CREATE TABLE delta.`{APP_EVENTS}` ({SCHEMA}) USING delta")
append_events(APP_EVENTS, 100, 15)
app_options = options.with_(job=f"{JOB}-app")
register(spark)
ds_query = (
    prepare(read_source(spark, APP_EVENTS, kind="queue"), app_options)
    .writeStream.queryName(app_options.job)
    .format("customerio")
    .options(**app_options.to_options())
    .option("checkpointLocation", f"{WORK}/checkpoints/{app_options.job}")
    .trigger(processingTime=P["trigger_interval"])
    .start()
)
ds_query.processAllAvailable()
done = set()  # batches whose ledger rows this notebook has written
ingested = ingest_committed(spark, app_options, str(ds_query.id), already=done)
ds_query.stop()
ds_query.awaitTermination()
ingested += ingest_committed(spark, app_options, str(ds_query.id), already=done)
for lineage in ingested:
    print(
        f"{app_options.job} batch {lineage['batch_id']}: {lineage['rows_in']} rows in, "
        f"{lineage['acked']} acked"
    )
if emu is not None:
    counts = emu.message_id_counts()
    print(f"Customer.io (emulator) has {len(counts)} events, each once: {set(counts.values())}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Cleanup
# MAGIC
# MAGIC Stop this notebook's streams (if a cell above failed half way), the emulator, and remove
# MAGIC the work dir if it was a temp dir.

# COMMAND ----------

for q in spark.streams.active:
    if (q.name or "").startswith(JOB):
        q.stop()
if emu is not None:
    emu.stop()
if TEMP_WORK:
    shutil.rmtree(WORK, ignore_errors=True)
