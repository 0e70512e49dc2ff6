# Databricks notebook source
# MAGIC %md
# MAGIC # 03 · Backfilling history safely
# MAGIC
# MAGIC Sending a year of events to Customer.io is a different act from streaming today's, for two
# MAGIC reasons Customer.io documents:
# MAGIC
# MAGIC * **The 72-hour rule.** Events whose timestamp falls within the last 72 hours can trigger
# MAGIC   campaigns and messages; older ones do not. A backfill that reaches into the last three
# MAGIC   days can send real emails to real people.
# MAGIC * **No timestamp (or an invalid one) means "now".** Customer.io stamps such a call with the
# MAGIC   time it arrives — so a five-year-old order without a usable time becomes today's order,
# MAGIC   inside the 72-hour window.
# MAGIC
# MAGIC What the sink does about it: every call carries a timestamp; `backfill=True` dead-letters
# MAGIC rows without a usable one instead of letting them become "now"; every run (dry runs too)
# MAGIC counts the events inside the window; `hold_recent=True` parks them in the retry queue
# MAGIC (`error_class = 'HeldBack'`) until someone decides, and
# MAGIC `drain_retry_queue(include_held=True)` sends them deliberately.

# COMMAND ----------


from customerio_sink.notebook import notebook_params, setup_notebook

try:
    dbutils  # noqa: F821  (Databricks)
except NameError:
    dbutils = None

# Widgets on Databricks; NB_<NAME> environment variables locally (e.g. NB_WORK_DIR=/tmp/nb).
WIDGETS = {
    "work_dir": "",  # Databricks: a /Volumes/... directory; locally empty = a new temp dir
    "job": "nb-history",
    "secret_scope": "",
    "secret_key": "",
    "region": "us",
}
ON_DATABRICKS, P = notebook_params(WIDGETS, dbutils)

# COMMAND ----------

import shutil
from datetime import datetime, timedelta, timezone

from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.mapping import MessageMapping
from customerio_sink.spark.options import SinkOptions
from customerio_sink.spark.replay import drain_retry_queue
from customerio_sink.spark.runner import read_source, run_sync

nb = setup_notebook("03", P, on_databricks=ON_DATABRICKS, display=globals().get("display"))
spark, WORK, TEMP_WORK, JOB = nb.spark, nb.work, nb.temp_work, P["job"]
emu, API_KEY, TARGET, show = nb.emulator, nb.api_key, nb.target, nb.show


# COMMAND ----------

# MAGIC %md
# MAGIC ## A history table
# MAGIC
# MAGIC Orders from the last 90 days, as ISO-8601 strings (as they often arrive from an export): 60
# MAGIC older than three days, 6 from the last day — inside the window — and 2 whose time is
# MAGIC missing or unreadable.

# COMMAND ----------

HISTORY = f"{WORK}/order_history"
now = datetime.now(timezone.utc)


def iso(age):
    return (now - age).strftime("%Y-%m-%dT%H:%M:%S.000Z")


rows = [
    (
        f"o{i:03d}",
        f"u{i % 12}",
        "Order Completed",
        f'{{"total": {10 + i}}}',
        iso(timedelta(days=4 + i)),
    )
    for i in range(60)
]
rows += [
    (f"r{i}", f"u{i}", "Order Completed", '{"total": 99}', iso(timedelta(hours=2 + 3 * i)))
    for i in range(6)
]
rows += [
    ("n1", "u1", "Order Completed", '{"total": 5}', None),
    ("n2", "u2", "Order Completed", '{"total": 6}', "last tuesday"),
]
spark.createDataFrame(
    rows, "order_id STRING, user_id STRING, event STRING, properties STRING, ordered_at STRING"
).write.format("delta").save(HISTORY)

options = SinkOptions(
    job=JOB,
    mapping=MessageMapping(
        source="queue",
        call="track",
        user_id="user_id",
        event_column="event",
        properties_json="properties",
        timestamp="ordered_at",
        row_id="order_id",
    ),
    ledger=Ledger(path=f"{WORK}/ledger"),
    api_key=API_KEY,
    backfill=True,
    **TARGET,
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Dry run first
# MAGIC
# MAGIC `dry_run=True` maps and validates every row and sends nothing. The report says how many
# MAGIC events would land inside the 72-hour window, and which rows have no usable timestamp (they
# MAGIC are counted as dead letters; a dry run writes only its lineage row). It uses its own
# MAGIC checkpoint, so the real run starts from the beginning.

# COMMAND ----------

dry = run_sync(
    spark,
    options.with_(dry_run=True),
    read_source(spark, HISTORY, kind="queue"),
    checkpoint=f"{WORK}/checkpoints/{JOB}-dry-run",
)
report = dry.totals
print(
    f"would send: {report['skipped']} calls; inside the 72-hour window: "
    f"{report['in_trigger_window']}; without a usable timestamp: {report['dead_lettered']}"
)
if emu is not None:
    print(f"requests Customer.io (emulator) received: {emu.stats().requests}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## The real run, holding back the recent events
# MAGIC
# MAGIC `hold_recent=True` sends the old events, parks the recent ones as `HeldBack` in the
# MAGIC `retry_queue` table, and dead-letters the two rows without a usable time (with
# MAGIC `backfill=True`). Nothing inside the window reaches Customer.io.

# COMMAND ----------

real = run_sync(
    spark,
    options.with_(hold_recent=True),
    read_source(spark, HISTORY, kind="queue"),
    checkpoint=f"{WORK}/checkpoints/{JOB}",
)
show(
    options.ledger.read(spark, "retry_queue").select(
        "message_id", "source_key", "error_class", "reason"
    )
)
show(options.ledger.read(spark, "dead_letters").select("source_key", "error_message"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Decide, then drain
# MAGIC
# MAGIC If the recent orders should trigger their campaigns (or the campaigns are paused), send
# MAGIC them: `drain_retry_queue(..., include_held=True)`. Without `include_held` a drain only
# MAGIC re-sends what transient failures parked. The drain goes through the same engine (packing,
# MAGIC rate budget, retries), marks each queue row `drained_at`, and writes its own lineage row.
# MAGIC A second drain finds nothing: nothing is sent twice.

# COMMAND ----------

drained = drain_retry_queue(spark, options, include_held=True)
print(drained)
print("again:", drain_retry_queue(spark, options, include_held=True))
if emu is not None:
    counts = emu.message_id_counts()
    print(f"Customer.io (emulator) has {len(counts)} orders, each once: {set(counts.values())}")
show(
    options.ledger.read(spark, "lineage")
    .orderBy("started_at")
    .select("run_id", "front_door", "rows_in", "acked", "dead_lettered", "parked", "dry_run")
)

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
