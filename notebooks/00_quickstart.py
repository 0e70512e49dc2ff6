# Databricks notebook source
# MAGIC %md
# MAGIC # 00 · Quickstart: a people table to Customer.io
# MAGIC
# MAGIC This notebook keeps a Delta table of people in step with Customer.io, once, and shows where
# MAGIC every row went.
# MAGIC
# MAGIC **The Customer.io side.** Customer.io's *Data Pipelines API* (`https://cdp.customer.io/v1`,
# MAGIC EU: `https://cdp-eu.customer.io/v1`) takes Segment-style calls. An `identify` call creates
# MAGIC or updates a person: `userId` plus `traits` (any JSON; `email` is special). Auth is HTTP
# MAGIC Basic with the source's API key as user name and an empty password. Limits: 32 KB per call,
# MAGIC 500 KB per `/v1/batch` request, 3000 requests per 3 seconds. Without the `X-Strict-Mode: 1`
# MAGIC header the API answers `200` even to calls it drops, so the sink always sends it.
# MAGIC
# MAGIC **What the sink does.** It reads the table's change data feed, maps each change to a call
# MAGIC (inserts and updates → `identify`, deletes → the `User Deleted` semantic event), validates
# MAGIC it, packs the calls into `/v1/batch` bodies just under 500 KB and records the outcome of
# MAGIC every row in Delta ledger tables.
# MAGIC
# MAGIC Locally the notebook talks to the package's embedded Customer.io emulator. On Databricks it
# MAGIC talks to Customer.io, with the key read from a secret scope.

# COMMAND ----------


from customerio_sink.notebook import notebook_params, setup_notebook

try:
    dbutils  # noqa: F821  (Databricks)
except NameError:
    dbutils = None

# Widgets on Databricks; NB_<NAME> environment variables locally (e.g. NB_WORK_DIR=/tmp/nb).
WIDGETS = {
    "work_dir": "",  # Databricks: a /Volumes/... directory; locally empty = a new temp dir
    "job": "nb-quickstart",
    "secret_scope": "",
    "secret_key": "",
    "region": "us",
}
ON_DATABRICKS, P = notebook_params(WIDGETS, dbutils)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Setup
# MAGIC
# MAGIC On Databricks: the cluster's `spark`, the API key from the secret scope (it is held as a
# MAGIC `SecretKey`, which prints as `**********`), and the region's endpoint. Locally: a small
# MAGIC Spark session with Delta (`get_spark()` returns the active one if there is one) and the
# MAGIC emulator on a loopback port.

# COMMAND ----------

import json
import shutil

from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.mapping import MessageMapping
from customerio_sink.spark.options import SinkOptions
from customerio_sink.spark.runner import read_source, run_sync

nb = setup_notebook("00", P, on_databricks=ON_DATABRICKS, display=globals().get("display"))
spark, WORK, TEMP_WORK, JOB = nb.spark, nb.work, nb.temp_work, P["job"]
emu, API_KEY, TARGET, show = nb.emulator, nb.api_key, nb.target, nb.show


print(f"work dir: {WORK}; sending to {TARGET}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## A people table with its change data feed on
# MAGIC
# MAGIC `delta.enableChangeDataFeed` makes Delta record every insert, update and delete with its
# MAGIC commit version, which is what the sink streams. Two rows are bad on purpose: one without an
# MAGIC id and one with an email that is not an address. Customer.io would answer them with a 400
# MAGIC (strict mode) or drop them silently (default mode); the sink catches them before sending.

# COMMAND ----------

PEOPLE = f"{WORK}/people"
spark.sql(
    f"CREATE TABLE delta.`{PEOPLE}` (id STRING, email STRING, plan STRING) "
    "USING delta TBLPROPERTIES (delta.enableChangeDataFeed = true)"
)
rows = [(f"u{i:02d}", f"person{i:02d}@example.com", ("free", "pro")[i % 2]) for i in range(1, 11)]
rows += [(None, "ghost@example.com", "free"), ("u11", "not-an-email", "pro")]
spark.createDataFrame(rows, "id STRING, email STRING, plan STRING").write.format("delta").mode(
    "append"
).save(PEOPLE)
show(spark.read.format("delta").load(PEOPLE))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Sync it, available-now
# MAGIC
# MAGIC A `MessageMapping` declares which columns become the call; `SinkOptions` say where it goes
# MAGIC and where the ledger lives. `read_source(..., kind="cdf", start="backfill")` reads the
# MAGIC change feed from the table's first version, so every current row arrives as an insert
# MAGIC (`start="latest"` would look forward only). `run_sync` starts the foreachBatch query with
# MAGIC `trigger(availableNow=True)`, prints one line per micro-batch and stops when it has caught
# MAGIC up.
# MAGIC
# MAGIC Every call carries a deterministic, ULID-shaped `messageId` (job, key, commit version,
# MAGIC change type), so a re-sent call is recognisably the same call.

# COMMAND ----------

options = SinkOptions(
    job=JOB,
    mapping=MessageMapping(source="cdf", entity="person", user_id="id", traits=("email", "plan")),
    ledger=Ledger(path=f"{WORK}/ledger"),
    api_key=API_KEY,
    **TARGET,
)
CHECKPOINT = f"{WORK}/checkpoints/{JOB}"
first = run_sync(
    spark, options, read_source(spark, PEOPLE, kind="cdf", start="backfill"), checkpoint=CHECKPOINT
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Change the table and sync again
# MAGIC
# MAGIC Customer.io has no DELETE: a deleted row becomes a `track` call with the event
# MAGIC `User Deleted`. Customer.io does not promise to apply calls in the order they arrive, so
# MAGIC within a micro-batch the sink collapses each key's changes to its net change and never has
# MAGIC two calls for one person in flight. The same checkpoint means the query continues where it
# MAGIC stopped: only the new changes are sent.

# COMMAND ----------

table = f"delta.`{PEOPLE}`"
spark.sql(f"UPDATE {table} SET plan = 'enterprise' WHERE id IN ('u01', 'u02')")
spark.sql(f"UPDATE {table} SET email = 'person11@example.com' WHERE id = 'u11'")  # the fix
spark.sql(f"DELETE FROM {table} WHERE id = 'u10'")
second = run_sync(
    spark, options, read_source(spark, PEOPLE, kind="cdf", start="backfill"), checkpoint=CHECKPOINT
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Where every row went: the ledger
# MAGIC
# MAGIC * `acks` — one row per call Customer.io accepted (status, attempts, latency);
# MAGIC * `dead_letters` — rows that cannot be sent as they are, with a reason a person can act on;
# MAGIC * `lineage` — one row per micro-batch: `rows_in = acked + dead_lettered + parked + skipped`
# MAGIC   (pre-images of updates are skipped; they only serve to spot updates that changed nothing).

# COMMAND ----------

acks = options.ledger.read(spark, "acks")
show(acks.groupBy("call_type", "event").count().orderBy("call_type"))
dead = options.ledger.read(spark, "dead_letters")
show(dead.select("batch_id", "source_key", "error_class", "error_message"))
lineage = options.ledger.read(spark, "lineage").orderBy("batch_id")
show(
    lineage.select(
        "batch_id",
        "rows_in",
        "acked",
        "dead_lettered",
        "parked",
        "skipped",
        "skipped_by_reason",
        "requests",
        "min_commit_version",
        "max_commit_version",
    )
)
unbalanced = lineage.where("rows_in <> acked + dead_lettered + parked + skipped").count()
print(f"batches whose counts do not add up: {unbalanced}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## What Customer.io received
# MAGIC
# MAGIC Locally, the emulator shows the requests, the calls as they arrived on the wire, and the
# MAGIC people they produced. `duplicates` counts calls whose `messageId` it had already accepted.

# COMMAND ----------

if emu is not None:
    stats = emu.stats()
    print(
        f"{stats.requests} requests, {stats.accepted} calls accepted, "
        f"{stats.rejected} rejected, {stats.duplicates} duplicates"
    )
    print(json.dumps(emu.messages("identify")[0], indent=2))
    print(json.dumps(emu.messages("track")[0], indent=2))
    for user_id, person in sorted(emu.people.items()):
        print(user_id, person["traits"])

# COMMAND ----------

# MAGIC %md
# MAGIC ## Cleanup
# MAGIC
# MAGIC Stop this notebook's streams, the emulator, and remove the work dir if it was a temp dir.

# COMMAND ----------

for q in spark.streams.active:
    if (q.name or "").startswith(JOB):
        q.stop()
if emu is not None:
    emu.stop()
if TEMP_WORK:
    shutil.rmtree(WORK, ignore_errors=True)
