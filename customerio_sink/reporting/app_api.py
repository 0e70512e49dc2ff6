"""``AppAPIClient``: Customer.io's App API for reporting, customer lookups and exports.

Bearer auth with an App API key (not the Pipelines key), US host ``api.customer.io`` or EU
``api-eu.customer.io`` (or a custom ``endpoint``), and its own budget of 10 requests per second
— separate from the Pipelines budget. Requests share the Pipelines client's machinery
(:class:`~customerio_sink.client.transport.Sender`): retries with backoff and ``Retry-After``,
circuit
breaker, ``on_request`` hook.

Lists use cursor pagination (``start``/``limit`` in, ``next`` out); :meth:`AppAPIClient.paginate`
turns that into one iterator over every item of every page.

Customer lookups are cached (:class:`~customerio_sink.reporting.cache.TTLCache`, size and TTL
settable).
Give :meth:`AppAPIClient.invalidate_customer` to ``CustomerIOClient(invalidate=...)`` and every
identify, delete or device change made through that client evicts the person's entries.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

from customerio_sink.client.breaker import CircuitBreaker
from customerio_sink.client.metrics import OnRequest
from customerio_sink.client.rate_limit import RateLimiter
from customerio_sink.client.regions import app_api_base_url
from customerio_sink.client.retry import RetryPolicy
from customerio_sink.client.secrets import SecretKey
from customerio_sink.client.transport import RequestsTransport, Sender, Timeout, Transport
from customerio_sink.errors import ConfigError, RejectedError, TransientError
from customerio_sink.messages.encoding import encode
from customerio_sink.reporting.cache import TTLCache

__all__ = ["AppAPIClient"]

_DONE = frozenset({"done", "completed", "complete", "finished", "succeeded", "success"})
_FAILED = frozenset({"failed", "error", "errored", "canceled", "cancelled"})


def _segment(value: str | int) -> str:
    return quote(str(value), safe="")


class AppAPIClient:
    """Read campaigns, newsletters, broadcasts and their metrics; look customers up; export.

    ``rate_limiter`` defaults to ``RateLimiter(10, 1.0)``; ``cache`` to a
    ``TTLCache(cache_size, cache_ttl)`` on the same clock. Raises the errors of
    :mod:`customerio_sink.errors` (404 answers are :class:`RejectedError` with ``status=404``,
    except in the lookups, which return ``None``).
    """

    def __init__(
        self,
        api_key: str | SecretKey,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        timeout: Timeout = 10.0,
        retry: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
        on_request: OnRequest | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        transport: Transport | None = None,
        pool_size: int = 4,
        user_agent: str | None = None,
        cache: TTLCache[Any] | None = None,
        cache_size: int = 1024,
        cache_ttl: float = 60.0,
    ) -> None:
        self.api_key = SecretKey(api_key)
        self.base_url = app_api_base_url(region, endpoint)
        self.cache: TTLCache[Any] = (
            cache if cache is not None else TTLCache(cache_size, cache_ttl, clock=clock)
        )
        self._clock = clock
        self._sleep = sleep
        self._owns_transport = transport is None
        self.sender = Sender(
            self.base_url,
            SecretKey("Bearer " + self.api_key.reveal()),
            transport=transport if transport is not None else RequestsTransport(pool_size),
            retry=retry if retry is not None else RetryPolicy(),
            rate_limiter=rate_limiter
            if rate_limiter is not None
            else RateLimiter(10, 1.0, clock=clock, sleep=sleep),
            breaker=breaker if breaker is not None else CircuitBreaker(clock=clock),
            on_request=on_request,
            clock=clock,
            sleep=sleep,
            timeout=timeout,
            user_agent=user_agent,
        )

    def __repr__(self) -> str:
        return f"AppAPIClient(base_url={self.base_url!r}, key={self.api_key!r})"

    def close(self) -> None:
        """Release the connection pool (only a transport this client created)."""
        if self._owns_transport:
            self.sender.transport.close()

    def __enter__(self) -> AppAPIClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """One App API call; returns the parsed JSON answer (``None`` for an empty body)."""
        body = encode(json) if json is not None else None
        response, _ = self.sender.request(method, path, params=params, body=body)
        if not response.body.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                "the App API answered with a body that is not JSON",
                status=response.status,
                code="bad_response",
            ) from None

    def get(self, path: str, **params: Any) -> Any:
        """``GET path`` with query ``params`` (``None`` values left out)."""
        return self.request("GET", path, params=params)

    def paginate(
        self,
        path: str,
        key: str,
        *,
        limit: int | None = None,
        method: str = "GET",
        json: Any = None,
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """Every item under ``key`` of every page of ``path``, following ``next`` cursors.

        ``limit`` is the page size asked for; ``json`` a body sent with every page (POST
        searches). Stops when ``next`` is missing or empty, and raises :class:`TransientError`
        (code ``pagination_loop``) if the API hands back a cursor it gave before.
        """
        seen: set[str] = set()
        start: str | None = None
        while True:
            query = {"start": start, "limit": limit, **params}
            page = self.request(method, path, params=query, json=json) or {}
            items = page.get(key) or []
            yield from items
            cursor = page.get("next")
            if not cursor or not items:
                return
            cursor = str(cursor)
            if cursor in seen:
                raise TransientError("the App API repeated a cursor", code="pagination_loop")
            seen.add(cursor)
            start = cursor

    def _one(self, path: str, key: str, **params: Any) -> dict[str, Any]:
        data = self.get(path, **params) or {}
        value = data.get(key, data) if isinstance(data, dict) else data
        return value if isinstance(value, dict) else {key: value}

    # -- campaigns, newsletters, broadcasts ----------------------------------------------------

    def campaigns(self, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every campaign (all pages)."""
        return self.paginate("/v1/campaigns", "campaigns", limit=limit)

    def campaign(self, campaign_id: int | str) -> dict[str, Any]:
        """One campaign."""
        return self._one(f"/v1/campaigns/{_segment(campaign_id)}", "campaign")

    def campaign_metrics(self, campaign_id: int | str, **params: Any) -> dict[str, Any]:
        """A campaign's metrics; ``params`` pass through (``version``, ``res``, ``period``,
        ``steps``, ``start``, ``end``, ``type``)."""
        return self._one(f"/v1/campaigns/{_segment(campaign_id)}/metrics", "metric", **params)

    def newsletters(self, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every newsletter (all pages)."""
        return self.paginate("/v1/newsletters", "newsletters", limit=limit)

    def newsletter(self, newsletter_id: int | str) -> dict[str, Any]:
        """One newsletter."""
        return self._one(f"/v1/newsletters/{_segment(newsletter_id)}", "newsletter")

    def newsletter_metrics(self, newsletter_id: int | str, **params: Any) -> dict[str, Any]:
        """A newsletter's metrics (``period``, ``steps``, ``type`` pass through)."""
        return self._one(f"/v1/newsletters/{_segment(newsletter_id)}/metrics", "metric", **params)

    def broadcasts(self, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every API-triggered broadcast (all pages)."""
        return self.paginate("/v1/broadcasts", "broadcasts", limit=limit)

    def broadcast(self, broadcast_id: int | str) -> dict[str, Any]:
        """One broadcast."""
        return self._one(f"/v1/broadcasts/{_segment(broadcast_id)}", "broadcast")

    def broadcast_metrics(self, broadcast_id: int | str, **params: Any) -> dict[str, Any]:
        """A broadcast's metrics (``period``, ``steps``, ``type`` pass through)."""
        return self._one(f"/v1/broadcasts/{_segment(broadcast_id)}/metrics", "metric", **params)

    # -- customers (cached) --------------------------------------------------------------------

    @staticmethod
    def _tags(*values: Any) -> list[str]:
        tags = []
        for value in values:
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                tags.append(str(value))
                tags.append(str(value).casefold())
        return tags

    def find_customers(self, email: str) -> list[dict[str, Any]]:
        """People whose email is ``email`` (case-insensitive), as ``{id, email, cio_id}`` dicts."""
        if not isinstance(email, str) or not email.strip():
            raise ConfigError("find_customers needs an email")
        key = ("email", email.strip().casefold())
        cached = self.cache.get(key)
        if cached is not None:
            return copy.deepcopy(list(cached))
        data = self.get("/v1/customers", email=email.strip()) or {}
        results = list(data.get("results") or data.get("customers") or [])
        tags = self._tags(email.strip())
        for person in results:
            if isinstance(person, dict):
                tags += self._tags(person.get("id"), person.get("email"), person.get("cio_id"))
        self.cache.set(key, tuple(copy.deepcopy(results)), tags=tags)
        return results

    def search_customers(
        self, filter: Mapping[str, Any] | None = None, *, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """People matching an App API ``filter`` (``and``/``or``/``not``/``attribute``), as
        ``{id, email, cio_id}`` dicts, over every page (``limit`` ≤ 1000 per page; not cached).
        """
        body = {"filter": dict(filter)} if filter else {}
        return self.paginate("/v1/customers", "identifiers", limit=limit, method="POST", json=body)

    def customer_attributes(
        self, customer_id: str | int, *, id_type: str = "id"
    ) -> dict[str, Any] | None:
        """A person's profile (``{"customer": ...}`` unwrapped), or ``None`` if unknown.

        ``id_type`` is ``id``, ``email``, ``phone`` or ``cio_id``.
        """
        key = ("attributes", id_type, str(customer_id))
        cached = self.cache.get(key)
        if cached is not None:
            return copy.deepcopy(dict(cached))
        try:
            data = self.get(f"/v1/customers/{_segment(customer_id)}/attributes", id_type=id_type)
        except RejectedError as exc:
            if exc.status == 404:
                return None
            raise
        customer = (data or {}).get("customer", data)
        if not isinstance(customer, dict):
            return None
        attributes = customer.get("attributes") or {}
        identifiers = customer.get("identifiers") or {}
        tags = self._tags(
            customer_id,
            customer.get("id"),
            attributes.get("id"),
            attributes.get("email"),
            identifiers.get("id"),
            identifiers.get("email"),
            identifiers.get("cio_id"),
        )
        self.cache.set(key, copy.deepcopy(customer), tags=tags)
        return customer

    def invalidate_customer(self, identifier: str) -> None:
        """Evict every cached lookup about the person with this id or email."""
        self.cache.invalidate_tag(identifier)
        self.cache.invalidate_tag(identifier.casefold())

    # -- exports -------------------------------------------------------------------------------

    def start_customer_export(
        self, filters: Mapping[str, Any], *, attributes: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Start an export of the people matching ``filters``; returns the export record."""
        body: dict[str, Any] = {"filters": dict(filters)}
        if attributes is not None:
            body["attributes"] = list(attributes)
        data = self.request("POST", "/v1/exports/customers", json=body) or {}
        export = data.get("export", data)
        return export if isinstance(export, dict) else {"export": export}

    def export(self, export_id: int | str) -> dict[str, Any]:
        """An export's current record (``status`` among its fields)."""
        return self._one(f"/v1/exports/{_segment(export_id)}", "export")

    def wait_for_export(
        self, export_id: int | str, *, poll_interval: float = 5.0, timeout: float = 600.0
    ) -> dict[str, Any]:
        """Poll until the export is done; returns its record.

        Raises :class:`RejectedError` (code ``export_failed``) if it fails and
        :class:`TransientError` (code ``export_timeout``) after ``timeout`` seconds.
        """
        deadline = self._clock() + timeout
        while True:
            record = self.export(export_id)
            status = str(record.get("status", "")).lower()
            if status in _DONE:
                return record
            if status in _FAILED:
                raise RejectedError(f"export ended as {status!r}", code="export_failed")
            if self._clock() + poll_interval > deadline:
                raise TransientError("the export did not finish in time", code="export_timeout")
            self._sleep(poll_interval)

    def export_download_url(self, export_id: int | str) -> str:
        """A signed download link for a finished export (valid for about 15 minutes)."""
        data = self.get(f"/v1/exports/{_segment(export_id)}/download") or {}
        url = data.get("url")
        if not isinstance(url, str) or not url:
            raise TransientError("the App API gave no download url", code="bad_response")
        return url
