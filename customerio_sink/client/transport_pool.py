"""The real transport: one pooled ``requests.Session`` (see :class:`RequestsTransport`).

Its connection pool is sized for parallel senders; the proxy and CA-bundle settings of the
environment are read once per origin; no redirects are followed and no urllib3 retries made (the
one retry loop is :class:`customerio_sink.client.transport.Sender`). A failure to get an answer
becomes
:class:`~customerio_sink.errors.TransientError` (``status=None``) naming no host or body.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import requests
from requests.adapters import HTTPAdapter

from customerio_sink.client.transport_wire import HttpResponse, Timeout
from customerio_sink.errors import TransientError

__all__ = ["RequestsTransport"]


class _NoNetrc(requests.auth.AuthBase):
    # Passing any auth object stops requests from replacing our Authorization header with
    # credentials from a ~/.netrc entry for the same host.
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class RequestsTransport:
    """The real transport: one pooled ``requests.Session`` (no urllib3 retries of its own)."""

    def __init__(self, pool_size: int = 8) -> None:
        self.pool_size = pool_size
        self.session = requests.Session()
        # requests would re-read the proxy and CA-bundle environment variables on every request
        # (a scan of os.environ each time); they are read once per origin instead.
        self.session.trust_env = False
        self._environment: dict[str, tuple[dict[str, str], bool | str]] = {}
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _settings(self, url: str) -> tuple[dict[str, str], bool | str]:
        """(proxies, verify) for ``url`` from the environment, as requests itself would set them
        (``HTTPS_PROXY``/``NO_PROXY``…, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``)."""
        origin = "/".join(url.split("/", 3)[:3])
        found = self._environment.get(origin)
        if found is None:
            proxies = requests.utils.get_environ_proxies(url)
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            found = self._environment[origin] = (proxies, bundle or True)
        return found

    def __repr__(self) -> str:
        return f"RequestsTransport(pool_size={self.pool_size})"

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: Timeout,
    ) -> HttpResponse:
        try:
            # No redirects: requests would turn a redirected POST into a GET without its body
            # (and drop the Authorization header across hosts). A 3xx is reported instead.
            proxies, verify = self._settings(url)
            res = self.session.request(
                method,
                url,
                data=body,
                headers=dict(headers),
                timeout=timeout,
                auth=_NoNetrc(),
                allow_redirects=False,
                proxies=proxies,
                verify=verify,
            )
        except requests.Timeout:
            raise TransientError("no answer before the timeout", code="timeout") from None
        except requests.ConnectionError as exc:
            # The exception text names host and port only, but keep even that out of the chain.
            raise TransientError(
                f"connection failed ({type(exc).__name__})", code="connection_error"
            ) from None
        except requests.RequestException as exc:
            raise TransientError(
                f"transport failed ({type(exc).__name__})", code="transport_error"
            ) from None
        return HttpResponse(
            res.status_code, {k.lower(): v for k, v in res.headers.items()}, res.content
        )

    def close(self) -> None:
        self.session.close()
