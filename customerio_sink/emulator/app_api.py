"""A read-only App API (reporting, lookup, exports) on the same server, for reporting code.

Bearer auth with one of the App API keys; 10 requests per second per key (429 with
``Retry-After``); cursor pagination (``start`` token + ``limit`` → ``next``, ``""`` when done).
Endpoints::

    GET  /v1/campaigns | /v1/newsletters | /v1/broadcasts          list (paginated)
    GET  /v1/<kind>/{id}                                           one ({"campaign": ...})
    GET  /v1/<kind>/{id}/metrics   version=2: res, start, end;     {"metric": {"series": ...}}
                                   otherwise (v1): period, steps
    GET  /v1/customers?email=<email>                               {"results": [...]}
    POST /v1/customers            {"filter": ...}, ?limit&start    {"identifiers", "ids", "next"}
    GET  /v1/customers/{id}/attributes?id_type=id|email|cio_id     {"customer": ...} or 404
    POST /v1/exports/customers    {"filters": ..., "attributes"}   {"export": {... "pending"}}
    GET  /v1/exports | /v1/exports/{id}                            "done" from the 2nd poll on
    GET  /v1/exports/{id}/download                                 {"url": <emulator CSV URL>}

Customers are the 25 fixtures plus the people identified through the Pipelines endpoints
(their ``traits`` are the attributes, values as sent; suppressed people are not found).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import orjson

from customerio_sink.emulator.app_fixtures import (
    BROADCASTS,
    CAMPAIGNS,
    FIXTURE_CUSTOMERS,
    NEWSLETTERS,
    RESOLUTIONS,
    Customer,
    FilterError,
    matches,
    metric_series,
)
from customerio_sink.emulator.auth import authenticate_bearer
from customerio_sink.emulator.pipelines import Reply, error_reply, json_reply
from customerio_sink.emulator.ratelimit import SlidingWindowBudget, retry_after_seconds
from customerio_sink.emulator.state import Recorder

__all__ = ["AppApi"]

Query = Mapping[str, Sequence[str]]
_LISTS: dict[str, tuple[str, tuple[dict[str, Any], ...]]] = {
    "campaigns": ("campaign", CAMPAIGNS),
    "newsletters": ("newsletter", NEWSLETTERS),
    "broadcasts": ("broadcast", BROADCASTS),
}
_DEFAULT_LIMIT = 50
_MAX_LIMIT = 1000


class _BadRequest(ValueError):
    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def _param(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _int_param(query: Query, name: str) -> int | None:
    value = _param(query, name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise _BadRequest(f"'{name}' must be an integer") from None


def _paginate(items: Sequence[Any], query: Query) -> tuple[list[Any], str]:
    limit = _int_param(query, "limit")
    limit = _DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= _MAX_LIMIT:
        raise _BadRequest(f"'limit' must be between 1 and {_MAX_LIMIT}")
    start = _param(query, "start") or ""
    offset = 0
    if start:
        try:
            offset = int(base64.urlsafe_b64decode(start + "=" * (-len(start) % 4)).decode()[2:])
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise _BadRequest("'start' is not a cursor this API returned") from None
    end = offset + limit
    token = base64.urlsafe_b64encode(f"o:{end}".encode()).decode().rstrip("=")
    return list(items[offset:end]), (token if end < len(items) else "")


class AppApi:
    """Answers App API requests; thread-safe."""

    def __init__(
        self,
        keys: Sequence[str],
        recorder: Recorder,
        base_url: Callable[[], str],
        rate_limit: int = 10,
        rate_window_s: float = 1.0,
    ) -> None:
        self.keys = tuple(keys)
        self.recorder = recorder
        self.base_url = base_url
        self.budget = SlidingWindowBudget(rate_limit, rate_window_s)
        self._lock = threading.Lock()
        self._exports: dict[int, dict[str, Any]] = {}
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Reply]]] = [
            ("GET", re.compile(r"/v1/(campaigns|newsletters|broadcasts)"), self._list),
            ("GET", re.compile(r"/v1/(campaigns|newsletters|broadcasts)/(\d+)"), self._one),
            (
                "GET",
                re.compile(r"/v1/(campaigns|newsletters|broadcasts)/(\d+)/metrics"),
                self._metrics,
            ),
            ("GET", re.compile(r"/v1/customers"), self._by_email),
            ("POST", re.compile(r"/v1/customers"), self._search),
            ("GET", re.compile(r"/v1/customers/([^/]+)/attributes"), self._attributes),
            ("POST", re.compile(r"/v1/exports/customers"), self._create_export),
            ("GET", re.compile(r"/v1/exports"), self._list_exports),
            ("GET", re.compile(r"/v1/exports/(\d+)"), self._export),
            ("GET", re.compile(r"/v1/exports/(\d+)/download"), self._download),
        ]

    def reset(self) -> None:
        with self._lock:
            self._exports.clear()
        self.budget.reset()

    def handle(
        self,
        method: str,
        path: str,
        query: Query,
        headers: Mapping[str, str],
        body: bytes,
        now: float,
    ) -> Reply:
        """Answer one App API request (header names lower-case, ``now`` monotonic)."""
        reply = self._answer(method, path, query, headers, body, now)
        self.recorder.note_status(reply.status, app=True)
        return reply

    def _answer(
        self,
        method: str,
        path: str,
        query: Query,
        headers: Mapping[str, str],
        body: bytes,
        now: float,
    ) -> Reply:
        outcome = authenticate_bearer(headers.get("authorization"), self.keys)
        if outcome.key is None:
            return error_reply(401, "unauthorized", [outcome.reason])
        wait = self.budget.admit(outcome.key, now)
        if wait > 0:
            retry = retry_after_seconds(wait)
            reason = f"over the App API limit of {self.budget.limit} requests per second"
            return error_reply(429, "rate_limited", [reason], {"Retry-After": str(retry)})
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path.rstrip("/"))
            if match and route_method == method:
                try:
                    return handler(*(unquote(g) for g in match.groups()), query=query, body=body)
                except _BadRequest as exc:
                    return error_reply(exc.status, "invalid_request", [str(exc)])
                except FilterError as exc:
                    return error_reply(400, "invalid_request", [str(exc)])
        return error_reply(404, "not_found", [f"no App API endpoint {method} {path}"])

    # -- campaigns, newsletters, broadcasts ----------------------------------------------

    def _find(self, kind: str, item_id: str) -> dict[str, Any]:
        for item in _LISTS[kind][1]:
            if str(item["id"]) == item_id:
                return item
        raise _BadRequest(f"{_LISTS[kind][0]} {item_id} not found", 404)

    def _list(self, kind: str, *, query: Query, body: bytes) -> Reply:
        page, token = _paginate(_LISTS[kind][1], query)
        return json_reply(200, {kind: page, "next": token})

    def _one(self, kind: str, item_id: str, *, query: Query, body: bytes) -> Reply:
        return json_reply(200, {_LISTS[kind][0]: self._find(kind, item_id)})

    def _metrics(self, kind: str, item_id: str, *, query: Query, body: bytes) -> Reply:
        item = self._find(kind, item_id)
        steps: int | None = None
        if _param(query, "version") == "2":
            resolution = _param(query, "res") or "days"
        else:
            resolution = _param(query, "period") or "days"
            requested = _int_param(query, "steps")
            # v1: fewer than 2 steps cannot be asked for ("steps=1 means two"); 0 means maximum.
            if requested is not None:
                steps = max(requested, 2) if requested else 10**6
        if resolution not in RESOLUTIONS:
            raise _BadRequest(f"resolution {resolution!r} must be one of {sorted(RESOLUTIONS)}")
        series = metric_series(
            item["id"],
            RESOLUTIONS[resolution],
            steps,
            _int_param(query, "start"),
            _int_param(query, "end"),
        )
        return json_reply(200, {"metric": {"series": series}})

    # -- customers -----------------------------------------------------------------------

    def customers(self) -> list[Customer]:
        """The fixtures, then (overriding ids they share) the people identified via Pipelines."""
        workspace = self.recorder.workspace
        devices = workspace.devices
        people = {
            user_id: Customer(
                id=user_id,
                email=p["traits"].get("email")
                if isinstance(p["traits"].get("email"), str)
                else None,
                attributes=p["traits"],
                devices=devices.get(user_id, {}),
            )
            for user_id, p in workspace.people.items()
            if not p["suppressed"]
        }
        fixtures = [c for c in FIXTURE_CUSTOMERS if c.id not in people]
        return [*fixtures, *people.values()]

    def _by_email(self, *, query: Query, body: bytes) -> Reply:
        email = _param(query, "email")
        if not email:
            raise _BadRequest("'email' is required")
        wanted = email.casefold()
        found = [c for c in self.customers() if c.email and c.email.casefold() == wanted]
        return json_reply(200, {"results": [c.identifiers() for c in found]})

    def _search(self, *, query: Query, body: bytes) -> Reply:
        request = _json_object(body)
        found = [c for c in self.customers() if matches(request.get("filter"), c)]
        page, token = _paginate(found, query)
        return json_reply(
            200,
            {
                "identifiers": [c.identifiers() for c in page],
                "ids": [c.id for c in page],
                "next": token,
            },
        )

    def _attributes(self, customer_id: str, *, query: Query, body: bytes) -> Reply:
        id_type = _param(query, "id_type") or "id"
        if id_type not in ("id", "email", "cio_id"):
            raise _BadRequest(f"id_type {id_type!r} is not enabled (use id, email or cio_id)")
        for c in self.customers():
            value = c.identifiers()[id_type]
            if value is not None and (
                value.casefold() == customer_id.casefold()
                if id_type == "email"
                else value == customer_id
            ):
                customer = {
                    "id": c.id,
                    "identifiers": c.identifiers(),
                    "attributes": {**c.attributes, "id": c.id, "cio_id": c.cio_id},
                    "devices": [{"id": token, **attrs} for token, attrs in c.devices.items()],
                }
                return json_reply(200, {"customer": customer})
        raise _BadRequest(f"customer {id_type}={customer_id} not found", 404)

    # -- exports -------------------------------------------------------------------------

    def _create_export(self, *, query: Query, body: bytes) -> Reply:
        request = _json_object(body)
        if "filters" not in request:
            raise _BadRequest("'filters' is required")
        rows = [c for c in self.customers() if matches(request["filters"], c)]
        attributes = request.get("attributes") or sorted(
            {name for c in rows for name in c.attributes}
        )
        with self._lock:
            export_id = len(self._exports) + 1
            now = int(time.time())
            self._exports[export_id] = {
                "meta": {
                    "id": export_id,
                    "type": "customers",
                    "status": "pending",
                    "total": len(rows),
                    "created_at": now,
                    "updated_at": now,
                    "downloads": 0,
                    "failed": False,
                },
                "polls": 0,
                "rows": rows,
                "attributes": [str(a) for a in attributes],
            }
            return json_reply(200, {"export": dict(self._exports[export_id]["meta"])})

    def _list_exports(self, *, query: Query, body: bytes) -> Reply:
        with self._lock:
            return json_reply(200, {"exports": [dict(e["meta"]) for e in self._exports.values()]})

    def _get_export(self, export_id: str) -> dict[str, Any]:
        export = self._exports.get(int(export_id))
        if export is None:
            raise _BadRequest(f"export {export_id} not found", 404)
        return export

    def _export(self, export_id: str, *, query: Query, body: bytes) -> Reply:
        with self._lock:
            export = self._get_export(export_id)
            export["polls"] += 1
            if export["polls"] >= 2:
                export["meta"]["status"] = "done"
            return json_reply(200, {"export": dict(export["meta"])})

    def _download(self, export_id: str, *, query: Query, body: bytes) -> Reply:
        with self._lock:
            export = self._get_export(export_id)
            if export["meta"]["status"] != "done":
                raise _BadRequest(f"export {export_id} is not done yet")
            export["meta"]["downloads"] += 1
        return json_reply(200, {"url": f"{self.base_url()}/_emulator/exports/{export_id}.csv"})

    def export_csv(self, export_id: str) -> Reply:
        """The CSV behind a download URL (no auth: it stands for a pre-signed link)."""
        with self._lock:
            export = self._exports.get(int(export_id)) if export_id.isdigit() else None
            if export is None or export["meta"]["status"] != "done":
                return error_reply(404, "not_found", [f"no finished export {export_id}"])
            rows, attributes = export["rows"], export["attributes"]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "email", "cio_id", *attributes])
        for c in rows:
            writer.writerow(
                [c.id, c.email or "", c.cio_id, *(c.attributes.get(a, "") for a in attributes)]
            )
        return Reply(200, out.getvalue().encode(), {"Content-Type": "text/csv; charset=utf-8"})


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise _BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _BadRequest("body must be a JSON object")
    return document
