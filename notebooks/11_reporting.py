# Databricks notebook source
# MAGIC %md
# MAGIC # 11 · Reporting with the App API
# MAGIC
# MAGIC The Data Pipelines API only writes. Reading — campaign and newsletter metrics, looking a
# MAGIC person up, exporting people — is the **App API**, a different surface with different rules:
# MAGIC
# MAGIC * host `https://api.customer.io` (EU: `https://api-eu.customer.io`), paths under `/v1`;
# MAGIC * `Authorization: Bearer <App API key>` — an *App API key* from the account's API
# MAGIC   credentials, not the Pipelines source key;
# MAGIC * 10 requests per second (its own budget, apart from the Pipelines budget);
# MAGIC * lists are paged with a cursor (`start`/`limit` in, `next` out);
# MAGIC * exports run in the background: start one, poll its status, then fetch a signed download
# MAGIC   link that expires after 15 minutes.
# MAGIC
# MAGIC `AppAPIClient` handles the auth, the budget, retries and paging, and caches customer
# MAGIC lookups (pass `invalidate=app.invalidate_customer` to a `CustomerIOClient` to evict people
# MAGIC it writes). Locally it talks to the emulator's App API fixtures (3 campaigns, 2 newsletters,
# MAGIC 2 broadcasts, 25 people — plus everyone the sink identified).

# COMMAND ----------


from customerio_sink.notebook import notebook_params, setup_notebook

try:
    dbutils  # noqa: F821  (Databricks)
except NameError:
    dbutils = None

# Widgets on Databricks; NB_<NAME> environment variables locally (e.g. NB_WORK_DIR=/tmp/nb).
WIDGETS = {
    "work_dir": "",  # Databricks: a /Volumes/... directory; locally empty = a new temp dir
    "job": "nb-reporting",
    "secret_scope": "",
    "secret_key": "",  # the Pipelines key
    "app_secret_key": "",  # the App API key, in the same scope
    "region": "us",
    "campaign_id": "1",
    "newsletter_id": "101",
    "broadcast_id": "202",
}
ON_DATABRICKS, P = notebook_params(WIDGETS, dbutils)

# COMMAND ----------

import shutil
import time

import requests
from matplotlib.figure import Figure

from customerio_sink.app_api import AppAPIClient
from customerio_sink.spark.ledger import Ledger
from customerio_sink.spark.mapping import MessageMapping
from customerio_sink.spark.options import SinkOptions, resolve_api_key
from customerio_sink.spark.runner import read_source, run_sync

nb = setup_notebook("11", P, on_databricks=ON_DATABRICKS, display=globals().get("display"))
spark, WORK, TEMP_WORK, JOB = nb.spark, nb.work, nb.temp_work, P["job"]
emu, API_KEY, TARGET, show = nb.emulator, nb.api_key, nb.target, nb.show
if ON_DATABRICKS:
    app = AppAPIClient(
        resolve_api_key(secret_scope=P["secret_scope"], secret_key=P["app_secret_key"]),
        region=P["region"] or None,
    )
else:
    app = AppAPIClient("app-key", endpoint=emu.url)
print(app)
show_figure = nb.show_figure


# COMMAND ----------

# MAGIC %md
# MAGIC ## First, a few people through the sink
# MAGIC
# MAGIC So that there is someone to look up: three people from a Delta table, synced with the
# MAGIC change-feed job of notebook 00.

# COMMAND ----------

PEOPLE = f"{WORK}/people"
spark.sql(
    f"CREATE TABLE delta.`{PEOPLE}` (id STRING, email STRING, plan STRING, first_name STRING) "
    "USING delta TBLPROPERTIES (delta.enableChangeDataFeed = true)"
)
spark.sql(
    f"INSERT INTO delta.`{PEOPLE}` VALUES ('nb-ada', 'ada@example.com', 'pro', 'Ada'), "
    "('nb-grace', 'grace@example.com', 'enterprise', 'Grace'), "
    "('nb-alan', 'alan@example.com', 'pro', 'Alan')"
)
options = SinkOptions(
    job=JOB,
    mapping=MessageMapping(
        source="cdf", entity="person", user_id="id", traits=("email", "plan", "first_name")
    ),
    ledger=Ledger(path=f"{WORK}/ledger"),
    api_key=API_KEY,
    **TARGET,
)
synced = run_sync(
    spark,
    options,
    read_source(spark, PEOPLE, kind="cdf", start="backfill"),
    checkpoint=f"{WORK}/checkpoints/{JOB}",
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Campaign, newsletter and broadcast metrics
# MAGIC
# MAGIC `GET /v1/campaigns/{id}/metrics` with `version=2` takes a resolution (`res`: hours, days,
# MAGIC weeks, months) and a `start`/`end` range in unix seconds, and answers one array per metric,
# MAGIC oldest bucket first. (Without `version=2` the endpoint answers with the deprecated v1
# MAGIC behaviour: `period` and `steps`, Eastern time, never fewer than 2 steps.) Newsletters
# MAGIC (one-time sends) and API-triggered broadcasts have the same kind of metrics.

# COMMAND ----------

for campaign in app.campaigns():
    print(f"campaign {campaign['id']}: {campaign['name']} ({campaign['state']})")

end = int(time.time())
start = end - 14 * 86400
metrics = app.campaign_metrics(P["campaign_id"], version=2, res="days", start=start, end=end)
series = metrics["series"]

fig = Figure(figsize=(10, 4.5), layout="constrained")
ax = fig.subplots()
days = list(range(-len(series["sent"]) + 1, 1))
for name in ("sent", "delivered", "opened", "clicked", "converted"):
    ax.plot(days, series[name], marker="o", ms=3, label=name)
ax.set(
    title=f"Campaign {P['campaign_id']}: daily metrics, last {len(days)} days",
    xlabel="day (0 = the latest bucket)",
    ylabel="messages",
    ylim=(0, None),
)
ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
show_figure(fig, "campaign_metrics")

for kind, method, item_id in (
    ("newsletter", app.newsletter_metrics, P["newsletter_id"]),
    ("broadcast", app.broadcast_metrics, P["broadcast_id"]),
):
    totals = {
        name: sum(values)
        for name, values in method(item_id, period="weeks", steps=4)["series"].items()
    }
    print(f"{kind} {item_id}, last 4 weeks: {totals}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Look a person up
# MAGIC
# MAGIC `GET /v1/customers?email=` finds people by email (case-insensitive; several people can share
# MAGIC one). `GET /v1/customers/{id}/attributes` returns a profile; `id_type` may be `id`, `email`
# MAGIC or `cio_id` (Customer.io's internal id), email only when the workspace uses it as an
# MAGIC identifier. Ada was written by the sink a few cells ago.

# COMMAND ----------

found = app.find_customers("ADA@example.com")
print(found)
profile = app.customer_attributes(found[0]["id"])
print({key: profile["attributes"].get(key) for key in ("id", "email", "plan", "first_name")})
print("unknown people are None:", app.customer_attributes("nobody-here"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Export people
# MAGIC
# MAGIC `POST /v1/exports/customers` with `filters` (the same grammar as the customer search:
# MAGIC `and`/`or`/`not`, `attribute` with `eq`/`exists`, `segment`) starts an export;
# MAGIC `GET /v1/exports/{id}` reports its status; `GET /v1/exports/{id}/download` gives a signed
# MAGIC link to the CSV, valid for about 15 minutes — download it right away.

# COMMAND ----------

export = app.start_customer_export(
    {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
    attributes=["first_name", "plan"],
)
print(f"export {export['id']}: {export['status']}")
export = app.wait_for_export(export["id"], poll_interval=10 if ON_DATABRICKS else 0.2)
print(f"export {export['id']}: {export['status']}, {export.get('total')} people")
url = app.export_download_url(export["id"])
csv_text = requests.get(url, timeout=30).text  # a signed link: no key needed
print(csv_text)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Cleanup
# MAGIC
# MAGIC Close the App API client, stop this notebook's streams and the emulator, and remove the
# MAGIC work dir if it was a temp dir.

# COMMAND ----------

app.close()
for q in spark.streams.active:
    if (q.name or "").startswith(JOB):
        q.stop()
if emu is not None:
    emu.stop()
if TEMP_WORK:
    shutil.rmtree(WORK, ignore_errors=True)
