# Databricks notebook source
# MAGIC %md
# MAGIC # 01 · The six calls and the semantic events
# MAGIC
# MAGIC Customer.io's Data Pipelines API has six call types, each a `POST` to its own endpoint
# MAGIC (`/v1/identify`, `/v1/track`, `/v1/page`, `/v1/screen`, `/v1/group`, `/v1/alias`) or many of
# MAGIC them in one `POST /v1/batch`. There is no DELETE: removing people, devices, relationships
# MAGIC and objects are `track` calls with reserved event names, the *semantic events*.
# MAGIC
# MAGIC This notebook makes one call of each kind with `CustomerIOClient`, the package's
# MAGIC per-call client (the Spark sink uses the same rules in bulk), and prints the JSON that
# MAGIC arrived. Every call gets a `messageId`, a `timestamp` (Customer.io stamps calls without one
# MAGIC as "now") and `context.library`; the client validates it first and sends `X-Strict-Mode: 1`,
# MAGIC so a bad call fails loudly instead of being dropped behind a `200`.
# MAGIC
# MAGIC Locally the calls go to the embedded emulator. **On Databricks they go to the Customer.io
# MAGIC workspace of the key in the secret scope**: use a test workspace, and ids nobody uses.

# COMMAND ----------

import os

try:
    dbutils  # noqa: F821  (Databricks)
    ON_DATABRICKS = True
except NameError:
    ON_DATABRICKS = False

# Widgets on Databricks; NB_<NAME> environment variables locally (e.g. NB_USER_ID=ada).
WIDGETS = {
    "user_id": "nb-demo-ada",
    "secret_scope": "",
    "secret_key": "",
    "region": "us",
}
if ON_DATABRICKS:
    for _name, _default in WIDGETS.items():
        dbutils.widgets.text(_name, _default)  # noqa: F821
    P = {name: dbutils.widgets.get(name) for name in WIDGETS}  # noqa: F821
else:
    P = {name: os.environ.get(f"NB_{name.upper()}", value) for name, value in WIDGETS.items()}

# COMMAND ----------

import json

from customerio_sink.client import CustomerIOClient
from customerio_sink.emulator import Emulator
from customerio_sink.errors import ValidationError
from customerio_sink.spark.options import resolve_api_key

if ON_DATABRICKS:
    emu = None
    client = CustomerIOClient(
        resolve_api_key(secret_scope=P["secret_scope"], secret_key=P["secret_key"]),
        region=P["region"] or None,
    )
else:
    emu = Emulator().start()  # the emulator's test key is "test-key"
    client = CustomerIOClient("test-key", endpoint=emu.url)
USER = P["user_id"]
print(client)  # the key prints as **********


def sent(metrics):
    """What the request did, and (locally) the call as the emulator received it."""
    print(f"POST {metrics.endpoint} → {metrics.status} in {metrics.latency_ms:.1f} ms")
    if emu is not None:
        print(json.dumps(emu.messages()[-1], indent=2))


# COMMAND ----------

# MAGIC %md
# MAGIC ## identify — create or update a person
# MAGIC
# MAGIC `userId` (or `anonymousId`) plus `traits`. Traits merge into the profile: a later value
# MAGIC wins, traits not sent stay. `email` is special (a person can be identified by it), and so
# MAGIC are `unsubscribed` and `cio_subscription_preferences`.

# COMMAND ----------

sent(client.identify(USER, {"email": "ada@example.com", "plan": "pro", "first_name": "Ada"}))

# A call Customer.io would refuse never leaves: every violation is named, no payload is echoed.
try:
    client.identify(None, {"email": "not-an-email"})
except ValidationError as exc:
    print("refused before sending:")
    for violation in exc.violations:
        print(f"  {violation}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## track, page, screen — things a person did
# MAGIC
# MAGIC `track` records a named event with `properties`; events can trigger campaigns when their
# MAGIC timestamp is within the last 72 hours. `page` (web) and `screen` (mobile) are views with a
# MAGIC `name`; destinations rely on `properties.url` and `title` for pages.

# COMMAND ----------

sent(client.track(USER, "Order Completed", {"order_id": "o-1001", "total": 42.5}))
sent(client.page(USER, "Pricing", {"url": "https://www.example.com/pricing", "title": "Pricing"}))
sent(client.screen(USER, "Cart", {"items": 2}))

# COMMAND ----------

# MAGIC %md
# MAGIC ## group and alias — objects and merged profiles
# MAGIC
# MAGIC Customer.io calls groups *objects*: `groupId` is the object id, `traits.objectTypeId` its
# MAGIC type (default 1), `traits.relationshipAttributes` describe the person↔object relationship.
# MAGIC `alias` merges a `previousId` (often an anonymous id) into the profile `userId`; send it
# MAGIC before identifying the person by `userId`.

# COMMAND ----------

sent(
    client.group(
        USER,
        "acme",
        {"objectTypeId": 1, "name": "ACME, Inc.", "relationshipAttributes": {"role": "admin"}},
    )
)
sent(client.alias("anon-7f3c", USER))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Devices: `Device Created or Updated`, `Device Deleted`
# MAGIC
# MAGIC A device is `context.device.token` (plus `type` `ios`/`android` and any attributes) on a
# MAGIC `track` call for the person. An existing token is updated, a new one created.

# COMMAND ----------

sent(client.add_device(USER, "tok-ios-1", device_type="ios", device_attributes={"app": "2.1"}))
if emu is not None:
    print("devices:", emu.devices.get(USER))
sent(client.delete_device(USER, "tok-ios-1", device_type="ios"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## `Relationship Deleted`, `Object Deleted`
# MAGIC
# MAGIC Unlink a person from an object (`properties.objectId`, `objectTypeId`), or delete the object
# MAGIC with all its relationships. The spec requires an `anonymousId` on `Object Deleted` without
# MAGIC giving it a meaning; the client sends the object id.

# COMMAND ----------

sent(client.delete_relationship(USER, "acme", object_type_id=1))
if emu is not None:
    print("relationships:", emu.relationships)
sent(client.delete_object("acme", object_type_id=1))
if emu is not None:
    print("objects:", emu.objects)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Delete is not suppress: `User Deleted`, `User Suppressed`, `User Unsuppressed`
# MAGIC
# MAGIC * `User Deleted` removes the person — and the next `identify` brings them straight back,
# MAGIC   with no memory that they were removed.
# MAGIC * `User Suppressed` removes the person **and** blocks the identifier: later identifies
# MAGIC   do not add them back. `User Unsuppressed` lifts the block.
# MAGIC
# MAGIC **Erasure (a GDPR/CCPA request) is delete + suppress.** A change feed's deletes become
# MAGIC `User Deleted`; for erasure, suppress as well.

# COMMAND ----------

sent(client.delete_user(USER))
client.identify(USER, {"email": "ada@example.com"})  # e.g. a nightly sync re-sends the row
if emu is not None:
    print("after delete + identify, back again:", USER in emu.people)

sent(client.delete_user(USER))
sent(client.suppress_user(USER))
client.identify(USER, {"email": "ada@example.com", "plan": "pro"})
if emu is not None:
    print("after delete + suppress + identify:", emu.people.get(USER))
sent(client.unsuppress_user(USER))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Message metrics: `Report Delivery Event`, `Report Content Event`
# MAGIC
# MAGIC `Report Delivery Event` reports what happened to a message (`delivered`, `opened`,
# MAGIC `clicked`, `converted`) by its `deliveryId` — the mobile SDKs send it for push and in-app.
# MAGIC `Report Content Event` reports `viewed_content`/`clicked_content` for anonymous content
# MAGIC by `contentId` and `templateId`.

# COMMAND ----------

sent(client.report_delivery_event("dlv-123", "opened", recipient="tok-ios-1"))
sent(client.report_content_event("viewed_content", content_id=7, template_id=3))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Many calls, one request: `/v1/batch`
# MAGIC
# MAGIC `batch()` validates every call first, then packs them into as few bodies as fit under the
# MAGIC 500 KB request limit (each call ≤ 32 KB). The Spark sink does the same, in bulk.

# COMMAND ----------

metrics = client.batch(
    [
        {"type": "identify", "userId": f"{USER}-{i}", "traits": {"email": f"p{i}@example.com"}}
        for i in range(50)
    ]
)
print(f"{len(metrics)} request(s) for 50 calls, {metrics[0].request_bytes} bytes")
if emu is not None:
    stats = emu.stats()
    print(
        f"emulator: {stats.requests} requests, {stats.accepted} accepted, {stats.rejected} rejected"
    )

# COMMAND ----------

# MAGIC %md
# MAGIC ## Cleanup
# MAGIC
# MAGIC Close the client's connection pool and stop the emulator (no streams, no files here).

# COMMAND ----------

client.close()
if emu is not None:
    emu.stop()
