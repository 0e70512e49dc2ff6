# Databricks notebook source
# MAGIC %md
# MAGIC # 10 · Monitoring a sync, and replaying dead letters after a fix
# MAGIC
# MAGIC Everything the sink did is in five Delta tables, so monitoring is a query:
# MAGIC
# MAGIC | table | one row per | answers |
# MAGIC |---|---|---|
# MAGIC | `requests` | HTTP request (all its attempts) | rate, latency, retries, status codes |
# MAGIC | `acks` | call Customer.io accepted | what arrived, when, after how many attempts |
# MAGIC | `dead_letters` | call that cannot be sent as it is | what to fix; was it replayed? |
# MAGIC | `retry_queue` | call parked by a transient failure or held back | what to drain |
# MAGIC | `lineage` | micro-batch (and replay/drain run) | did every row end somewhere? |
# MAGIC
# MAGIC Customer.io's side of it: the Pipelines API allows 3000 requests per 3 seconds per
# MAGIC workspace ("not strictly enforced"; consistent excess may be throttled or blocked). Requests
# MAGIC answered 5xx, 408 or 429, or cut off, are retried with backoff (honouring `Retry-After`);
# MAGIC 400s (strict mode) are split until the bad call stands alone and dead-lettered with the
# MAGIC server's reason.
# MAGIC
# MAGIC Locally the notebook first makes some traffic against the emulator with faults switched on
# MAGIC (latency, 15% `503`s) and a few bad rows. On Databricks set `work_dir` and `job` to an
# MAGIC existing job's and `generate_traffic` to `false` to look at a real ledger.

# COMMAND ----------


from customerio_sink.notebook import notebook_params, setup_notebook

try:
    dbutils  # noqa: F821  (Databricks)
except NameError:
    dbutils = None

# Widgets on Databricks; NB_<NAME> environment variables locally (e.g. NB_WORK_DIR=/tmp/nb).
WIDGETS = {
    "work_dir": "",  # Databricks: a /Volumes/... directory; locally empty = a new temp dir
    "job": "nb-monitoring",
    "generate_traffic": "true",
    "secret_scope": "",
    "secret_key": "",
    "region": "us",
}
ON_DATABRICKS, P = notebook_params(WIDGETS, dbutils)

# COMMAND ----------

import json
import shutil
from datetime import datetime, timedelta, timezone

from matplotlib.figure import Figure

from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.mapping import MessageMapping
from customerio_sink.spark.options import SinkOptions
from customerio_sink.spark.replay import replay_dead_letters
from customerio_sink.spark.runner import read_source, run_sync

nb = setup_notebook("10", P, on_databricks=ON_DATABRICKS, display=globals().get("display"))
spark, WORK, TEMP_WORK, JOB = nb.spark, nb.work, nb.temp_work, P["job"]
emu, API_KEY, TARGET, show = nb.emulator, nb.api_key, nb.target, nb.show


# A small request budget (10 per second) and small bodies, so the rate limiter has work to do;
# short backoff, so the demo's retries take milliseconds.
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
    max_batch_messages=8,
    rate_requests=10,
    rate_period_s=1.0,
    base_delay_s=0.05,
    max_delay_s=0.5,
    **TARGET,
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Some traffic (locally, or with `generate_traffic=true`)
# MAGIC
# MAGIC Two runs of an events job, 80 events each. A bug upstream left `user_id` empty on a few
# MAGIC rows — the person's id is still in `properties.customer_ref` — and one row's properties are
# MAGIC not JSON. The emulator answers with 40 ms latency and fails 15% of requests with `503`.

# COMMAND ----------

EVENTS = f"{WORK}/events"
SCHEMA = "event_id STRING, user_id STRING, event STRING, properties STRING, ts TIMESTAMP"
if P["generate_traffic"] == "true":
    if emu is not None:
        emu.set_faults(latency_ms=40, error_rate=0.15, seed=7)
    start = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=5)
    for run in range(2):
        rows = [
            (
                f"e{run}-{i:03d}",
                None if i % 20 == 3 else f"u{i % 30}",
                ("Viewed Product", "Added to Cart", "Order Completed")[i % 3],
                "{broken" if (run, i) == (1, 7) else json.dumps({"customer_ref": f"u{i % 30}"}),
                start + timedelta(minutes=i),
            )
            for i in range(80)
        ]
        spark.createDataFrame(rows, SCHEMA).write.format("delta").mode("append").save(EVENTS)
        run_sync(
            spark,
            options,
            read_source(spark, EVENTS, kind="queue"),
            checkpoint=f"{WORK}/checkpoints/{JOB}",
        )
    if emu is not None:
        emu.clear_faults()

# COMMAND ----------

# MAGIC %md
# MAGIC ## The ledger tables

# COMMAND ----------

ledger = {
    name: options.ledger.read(spark, name).where(f"job = '{JOB}'")
    for name in ("acks", "dead_letters", "retry_queue", "requests", "lineage")
}
for name, df in ledger.items():
    print(f"{name}: {df.count()} rows")
show(
    ledger["requests"]
    .orderBy("started_at")
    .select(
        "batch_id",
        "endpoint",
        "status",
        "attempts",
        "latency_ms",
        "request_bytes",
        "message_count",
        "error_class",
    ),
    n=8,
)
show(ledger["acks"].groupBy("event").agg({"attempts": "max", "latency_ms": "avg"}))
show(ledger["dead_letters"].select("batch_id", "source_key", "error_class", "error_message"))
show(
    ledger["lineage"]
    .orderBy("started_at")
    .select(
        "batch_id",
        "front_door",
        "rows_in",
        "acked",
        "dead_lettered",
        "parked",
        "skipped",
        "requests",
    )
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Plots
# MAGIC
# MAGIC Requests per second and their latency over time (from `requests`; retried requests
# MAGIC marked), outcomes per micro-batch (from `lineage`), and dead letters by reason. The
# MAGIC tables are small (one row per request, per batch), so `toPandas()` is fine.

# COMMAND ----------

requests_pdf = ledger["requests"].select("started_at", "latency_ms", "attempts").toPandas()
lineage_pdf = ledger["lineage"].orderBy("started_at").toPandas()
reasons_pdf = ledger["dead_letters"].groupBy("error_message").count().toPandas()

fig = Figure(figsize=(13, 8.5), layout="constrained")
(ax_rate, ax_latency), (ax_outcomes, ax_reasons) = fig.subplots(2, 2)

t0 = requests_pdf["started_at"].min()
seconds = (requests_pdf["started_at"] - t0).dt.total_seconds()
per_second = seconds.astype(int).value_counts().sort_index()
ax_rate.bar(per_second.index, per_second.values, width=0.9, color="#4c72b0")
if options.rate_requests:
    ax_rate.axhline(
        options.rate_requests / options.rate_period_s, color="#c44e52", ls="--", label="budget"
    )
    ax_rate.legend(loc="upper right")
ax_rate.set(
    title="Requests per second", xlabel="seconds since the first request", ylabel="requests"
)

retried = requests_pdf["attempts"] > 1
ax_latency.scatter(
    seconds[~retried],
    requests_pdf["latency_ms"][~retried],
    s=14,
    color="#4c72b0",
    label="first attempt accepted",
)
ax_latency.scatter(
    seconds[retried],
    requests_pdf["latency_ms"][retried],
    s=28,
    marker="^",
    color="#dd8452",
    label="retried",
)
ax_latency.set(
    title="Request latency (all attempts)", xlabel="seconds since the first request", ylabel="ms"
)
ax_latency.legend(loc="upper right")

labels = [
    f"{d} {b}" if b >= 0 else d
    for d, b in zip(lineage_pdf["front_door"], lineage_pdf["batch_id"], strict=True)
]
bottom = None
for column, color in (
    ("acked", "#55a868"),
    ("dead_lettered", "#c44e52"),
    ("parked", "#dd8452"),
    ("skipped", "#8c8c8c"),
):
    values = lineage_pdf[column].astype(int)
    ax_outcomes.bar(labels, values, bottom=bottom, label=column.replace("_", " "), color=color)
    bottom = values if bottom is None else bottom + values
ax_outcomes.set(
    title="Outcome of every row, per batch", ylabel="rows", ylim=(0, 1.3 * bottom.max())
)
ax_outcomes.legend(loc="upper center", ncols=4)

reasons_pdf = reasons_pdf.sort_values("count")
short = [reason.split(" (rule:")[0] for reason in reasons_pdf["error_message"]]
bars = ax_reasons.barh(range(len(short)), reasons_pdf["count"], color="#c44e52", alpha=0.35)
for bar, label in zip(bars, short, strict=True):  # labels on the bars: reasons are long
    ax_reasons.text(
        0.02 * reasons_pdf["count"].max(), bar.get_y() + bar.get_height() / 2, label, va="center"
    )
ax_reasons.set(title="Dead letters by reason", xlabel="calls", yticks=[])

if ON_DATABRICKS:
    display(fig)  # noqa: F821
else:
    PNG = f"{WORK}/monitoring.png"
    fig.savefig(PNG, dpi=90)
    print(f"saved {PNG}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Replay dead letters after a fix
# MAGIC
# MAGIC The rows without a `userId` can be repaired: the id is in `properties.customer_ref`.
# MAGIC `replay_dead_letters` selects dead letters with a SQL `where`, applies `fix` to each payload
# MAGIC (the call's JSON as a dict), and re-sends them through the same engine. Each letter ends
# MAGIC `acked` (with an ack row) or `rejected` again with the new reason; a letter is marked
# MAGIC before it is sent, so a replay never sends one twice. The malformed-JSON row is left: it
# MAGIC needs a fix at the source.

# COMMAND ----------

result = replay_dead_letters(
    spark,
    options,
    where="error_message LIKE 'userId:%'",
    fix=lambda payload: {**payload, "userId": payload["properties"]["customer_ref"]},
)
print(result)
show(
    options.ledger.read(spark, "dead_letters")
    .where(f"job = '{JOB}'")
    .select("source_key", "replay_status", "replayed_at", "error_message")
)
if emu is not None:
    counts = emu.message_id_counts()
    print(f"Customer.io (emulator) has {len(counts)} events, each once: {set(counts.values())}")

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
