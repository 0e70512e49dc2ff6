"""GDPR erasure: delete (and suppress where asked) people at Customer.io, then remove their rows
from every ledger table, with an audit row per person.

A *requests table* (or DataFrame) names the people: ``user_id`` (required), ``suppress``
(optional boolean: also send ``User Suppressed``, so the person is not re-created by a later
identify) and ``request_id`` (optional: the ticket the erasure answers). :func:`erase_people`

1. sends ``User Deleted`` for every person (then ``User Suppressed`` where asked) through the
   sink — the same engine, budget, retries and ledger as the syncs, in a run of its own;
2. for each person whose calls were acknowledged, removes every ledger row about them: rows
   keyed by them in ``acks``, ``dead_letters``, ``retry_queue`` and ``skipped`` (the erasure's
   own acks included), dead letters and parked rows whose payload names them as ``userId``
   (encrypted payloads are decrypted with the ledger's cipher to be searched), and
   ``key_map`` rows that map their old or new key; ``lineage``, ``requests``, ``key_audit``,
   ``metrics`` and ``alerts`` hold counts, never a person. The run's journal is removed too;
3. appends one ``erasure_audit`` row per person: a keyed hash of the user id (HMAC-SHA256 with
   ``hasher``, never the id; null without a hasher), whether suppressed, the delete call's
   message id, how it was delivered, the rows removed per table, the job and run that did it
   and when.

A person whose delete was not acknowledged keeps their ledger rows (the dead letter or parked
call is how it is retried) and gets an audit row saying so; run the erasure again for them. A
request whose ``request_id`` already has an ``acked`` audit row is skipped (``already_done``), so
running the erasure over the same requests table again sends nothing new.
Deleted rows stay in files older Delta versions reference until ``VACUUM``: give
``vacuum_hours`` (or run the retention job) to remove them from storage.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customerio_sink.errors import ConfigError
from customerio_sink.messages.message_id import composite_key
from customerio_sink.spark.mapping import MessageMapping

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from customerio_sink.spark.ledger import Ledger
    from customerio_sink.spark.options import SinkOptions
    from customerio_sink.spark.protect import KeyedHasher

__all__ = ["ERASE_MAPPING", "ErasureReport", "erase_people", "remove_people"]

log = logging.getLogger(__name__)

#: The calls an erasure sends: one ``track`` of a semantic event per row.
ERASE_MAPPING = MessageMapping(
    source="queue", call="track", user_id="user_id", event_column="event", row_id="row_id"
)

#: Ledger tables with one row per message, keyed by ``source_key``.
KEYED_TABLES = ("acks", "dead_letters", "retry_queue", "skipped")
#: Tables whose ``payload`` may name a person (when not encrypted).
PAYLOAD_TABLES = ("dead_letters", "retry_queue")


@dataclass
class ErasureReport:
    """What one erasure run did: people erased, people whose delete did not go through, rows
    removed per table, and the run id in ``erasure_audit``."""

    run_id: str
    erased: list[str] = field(default_factory=list)
    not_delivered: list[str] = field(default_factory=list)
    rows_removed: dict[str, int] = field(default_factory=dict)
    already_done: list[str] = field(default_factory=list)


def delta_table(spark: SparkSession, ledger: Ledger, name: str) -> Any:
    """The :class:`delta.tables.DeltaTable` of one ledger table."""
    from delta.tables import DeltaTable

    if ledger.schema:
        return DeltaTable.forName(spark, ledger.table(name))
    return DeltaTable.forPath(spark, ledger.location(name))


def _requests(spark: SparkSession, requests: DataFrame | str) -> list[dict[str, Any]]:
    df = spark.table(requests) if isinstance(requests, str) else requests
    if "user_id" not in df.columns:
        raise ConfigError(f"erasure requests need a user_id column (columns: {df.columns})")
    wanted: dict[str, dict[str, Any]] = {}
    for row in df.collect():
        data = row.asDict()
        uid = data.get("user_id")
        if uid is None or not str(uid).strip():
            continue
        uid = str(uid)
        entry = wanted.setdefault(uid, {"user_id": uid, "suppress": False, "request_id": None})
        entry["suppress"] = entry["suppress"] or bool(data.get("suppress") or False)
        entry["request_id"] = entry["request_id"] or data.get("request_id")
    return list(wanted.values())


def _needle(uid: str) -> str:
    """How a payload names a person: its ``userId`` field, as the sink serialises it."""
    return f'"userId":{json.dumps(uid)}'


def _sealed_tests(
    spark: SparkSession, ledger: Ledger, name: str, user_ids: list[str]
) -> list[tuple[Any, str]]:
    """(condition, person) pairs for the rows of ``name`` whose *encrypted* payload names a
    person: the payloads are decrypted with the ledger's cipher (``payload_key``) and the
    matching rows chosen by message id. Without a cipher such rows are matched by key only, and
    the log says how many payloads could not be searched."""
    from pyspark.sql import functions as F

    from customerio_sink.spark.keys import resolve_cipher
    from customerio_sink.spark.protect import _TOKEN_PREFIX

    sealed = ledger.read(spark, name).where(F.col("payload").startswith(_TOKEN_PREFIX))
    cipher = resolve_cipher(ledger.cipher)
    if cipher is None:
        unread = sealed.count()
        if unread:
            log.warning(
                "erasure: %d encrypted payloads in %s not searched for the people (matched by "
                "key only): give the payload key (--payload-key) to search them",
                unread,
                name,
            )
        return []
    plain = cipher.decrypt_columns(sealed.select("message_id", "payload"), ["payload"])
    who = F.coalesce(
        *[F.when(F.instr("payload", _needle(uid)) > 0, F.lit(uid)) for uid in user_ids]
    )
    found = plain.select("message_id", who.alias("who")).where("who IS NOT NULL").distinct()
    ids: dict[str, list[str]] = {}
    for r in found.collect():
        ids.setdefault(r.who, []).append(r.message_id)
    return [(F.col("message_id").isin(mids), uid) for uid, mids in ids.items()]


def remove_people(
    spark: SparkSession, ledger: Ledger, user_ids: list[str], run: str = "erase"
) -> dict[str, dict[str, int]]:
    """Delete every ledger row about ``user_ids``; rows removed per person and table. Each
    DELETE's ``userMetadata`` is ``customerio-sink <run> erase <table>``."""
    from pyspark.sql import Column
    from pyspark.sql import functions as F

    from customerio_sink.spark.ledger import commit_metadata

    removed: dict[str, dict[str, int]] = {uid: {} for uid in user_ids}
    if not user_ids:
        return removed
    for name in (*KEYED_TABLES, "key_map"):
        if not ledger._exists(spark, name):
            continue
        # (condition, person) pairs: the first that holds names the person a row is about.
        tests: list[tuple[Column, str]] = []
        for uid in user_ids:
            if name == "key_map":
                tests.append(((F.col("old_key") == uid) | (F.col("new_key") == uid), uid))
                continue
            tests.append((F.col("source_key") == uid, uid))
            # A relationship's key is the person's and the object's ids, escaped and joined
            # by ":" (message_id.composite_key): it starts with the escaped person id and ":".
            related = (F.col("call_type") == "group") | (F.col("event") == "Relationship Deleted")
            prefix = composite_key(uid, "") or ""
            tests.append((related & F.col("source_key").startswith(prefix), uid))
            if name in PAYLOAD_TABLES:  # a plain payload naming them under another key
                tests.append((F.coalesce(F.instr("payload", _needle(uid)) > 0, F.lit(False)), uid))
        if name in PAYLOAD_TABLES:  # an encrypted payload naming them (read with the cipher)
            tests += _sealed_tests(spark, ledger, name, user_ids)
        who = F.coalesce(*[F.when(test, F.lit(uid)) for test, uid in tests])
        cond = who.isNotNull()
        counts = ledger.read(spark, name).where(cond).groupBy(who.alias("who")).count().collect()
        for who_id, n in counts:
            removed[who_id][name] = int(n)
        if counts:
            with commit_metadata(spark, f"customerio-sink {run} erase {name}"):
                delta_table(spark, ledger, name).delete(cond)
    return removed


def erase_people(
    spark: SparkSession,
    options: SinkOptions,
    requests: DataFrame | str,
    *,
    hasher: KeyedHasher | None = None,
    erased_by: str = "erase",
    vacuum_hours: float | None = None,
) -> ErasureReport:
    """Erase the people of ``requests`` at Customer.io and from the ledger; see the module.

    ``options`` are the sink options of the erasure job (key, endpoint, ledger, budget); its
    mapping is replaced by :data:`ERASE_MAPPING`. ``vacuum_hours`` vacuums the tables that lost
    rows. Raises :class:`ConfigError` for a requests table without ``user_id``.
    """
    from customerio_sink.spark.ops_tables import append_ops, ensure_ops_table
    from customerio_sink.spark.retention import vacuum

    run_id = f"erase-{uuid.uuid4().hex[:12]}"
    report = ErasureReport(run_id=run_id)
    people, report.already_done = _not_done(spark, options.ledger, _requests(spark, requests))
    if not people:
        return report
    opts = options.with_(mapping=ERASE_MAPPING, on_transient="park", hold_recent=False)
    _send_calls(spark, opts, people, run_id)
    # Delivery per person, from this run's ledger rows (before they are removed).
    acked = _acked_calls(spark, opts, run_id)
    done = [
        p["user_id"]
        for p in people
        if len(acked.get(p["user_id"], ())) == (2 if p["suppress"] else 1)
    ]
    report.erased = done
    report.not_delivered = [p["user_id"] for p in people if p["user_id"] not in done]
    removed = remove_people(spark, opts.ledger, done, f"{erased_by}:{run_id}")
    shutil.rmtree(Path(opts.ledger.journal) / opts.job / run_id, ignore_errors=True)
    for per in removed.values():
        for name, n in per.items():
            report.rows_removed[name] = report.rows_removed.get(name, 0) + n
    if vacuum_hours is not None:
        for name in report.rows_removed:
            vacuum(spark, opts.ledger, name, vacuum_hours)

    rows = _audit_rows(people, acked, done, removed, hasher, erased_by, run_id)
    ensure_ops_table(spark, opts.ledger, "erasure_audit")
    append_ops(spark, opts.ledger, "erasure_audit", rows, f"erase:{run_id}", 0)
    log.info(
        "erasure %s: %d people erased, %d not delivered (ledger rows kept)",
        run_id,
        len(report.erased),
        len(report.not_delivered),
    )
    return report


def _not_done(
    spark: SparkSession, ledger: Ledger, people: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """(the requests still to do, the request ids an earlier run already erased): a request id
    with an ``acked`` ``erasure_audit`` row is not sent again; one not delivered is retried, and
    a request without an id is always done."""
    ids = [str(p["request_id"]) for p in people if p["request_id"] is not None]
    if not ids or not ledger._exists(spark, "erasure_audit"):
        return people, []
    from pyspark.sql import functions as F

    audit = ledger.read(spark, "erasure_audit")
    done = {
        r.request_id
        for r in audit.where(F.col("request_id").isin(ids) & (F.col("delivery") == "acked"))
        .select("request_id")
        .distinct()
        .collect()
    }
    todo = [p for p in people if p["request_id"] is None or str(p["request_id"]) not in done]
    return todo, sorted(done)


def _send_calls(
    spark: SparkSession, opts: SinkOptions, people: list[dict[str, Any]], run_id: str
) -> None:
    """Send ``User Deleted`` for every person (batch 0), then ``User Suppressed`` where asked
    (batch 1), through the sink in the run ``run_id``."""
    from customerio_sink.spark.writer import CustomerIOWriter

    schema = "row_id STRING, user_id STRING, event STRING"
    deletes = [(f"{run_id}:delete:{p['user_id']}", p["user_id"], "User Deleted") for p in people]
    suppresses = [
        (f"{run_id}:suppress:{p['user_id']}", p["user_id"], "User Suppressed")
        for p in people
        if p["suppress"]
    ]
    writer = CustomerIOWriter(opts, front_door="erase", run_id=run_id)
    writer(spark.createDataFrame(deletes, schema), 0)
    if suppresses:
        writer(spark.createDataFrame(suppresses, schema), 1)


def _acked_calls(
    spark: SparkSession, opts: SinkOptions, run_id: str
) -> dict[str, list[tuple[str, str]]]:
    """(event, message id) of the run's acknowledged calls, per person."""
    acks = opts.ledger.read(spark, "acks").where(f"run_id = '{run_id}'")
    acked: dict[str, list[tuple[str, str]]] = {}
    for r in acks.select("source_key", "event", "message_id").collect():
        acked.setdefault(r.source_key, []).append((r.event, r.message_id))
    return acked


def _audit_rows(
    people: list[dict[str, Any]],
    acked: dict[str, list[tuple[str, str]]],
    done: list[str],
    removed: dict[str, dict[str, int]],
    hasher: KeyedHasher | None,
    erased_by: str,
    run_id: str,
) -> list[dict[str, Any]]:
    """One ``erasure_audit`` row per person (a keyed hash of the id, never the id)."""
    now = datetime.now(timezone.utc)
    rows = []
    for p in people:
        uid = p["user_id"]
        calls = dict(acked.get(uid, ()))
        rows.append(
            {
                "request_id": None if p["request_id"] is None else str(p["request_id"]),
                "user_hash": hasher.hash(uid) if hasher is not None else None,
                "suppressed": bool(p["suppress"]) and "User Suppressed" in calls,
                "delete_message_id": calls.get("User Deleted"),
                "delivery": "acked" if uid in done else "not delivered: ledger rows kept",
                "rows_removed": removed.get(uid, {}),
                "erased_by": erased_by,
                "run_id": run_id,
                "erased_at": now,
            }
        )
    return rows
