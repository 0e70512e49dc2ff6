"""Hosts per region and the Authorization header, as the official client 1.1.0 does it."""

from __future__ import annotations

import base64
import logging
import os

import pytest

from customerio_sink.client.regions import (
    ALLOW_CROSS_REGION_ENV,
    EU,
    REGIONS,
    US,
    app_api_base_url,
    key_region,
    pipelines_auth_header,
    pipelines_base_url,
    rate_budget,
)
from customerio_sink.client.secrets import SecretKey
from customerio_sink.errors import ConfigError


def test_plain_keys_use_basic_with_blank_password() -> None:
    header = pipelines_auth_header(SecretKey("plain-key")).reveal()
    assert header == "Basic " + base64.b64encode(b"plain-key:").decode()


@pytest.mark.parametrize("key", ["pk_us_abc", "sk_eu_abc"])
def test_prefixed_keys_use_bearer(key: str) -> None:
    assert pipelines_auth_header(SecretKey(key)).reveal() == f"Bearer {key}"


def test_header_is_held_as_a_secret() -> None:
    assert "plain-key" not in repr(pipelines_auth_header(SecretKey("plain-key")))


@pytest.mark.parametrize(
    ("key", "region", "endpoint", "expected"),
    [
        ("plain", None, None, "https://cdp.customer.io"),
        ("plain", "eu", None, "https://cdp-eu.customer.io"),
        ("plain", "US", None, "https://cdp.customer.io"),
        ("pk_eu_x", None, None, "https://cdp-eu.customer.io"),
        ("sk_us_x", None, None, "https://cdp.customer.io"),
        ("plain", "eu", "http://127.0.0.1:9/", "http://127.0.0.1:9"),
        ("plain", None, "http://127.0.0.1:9/v1/", "http://127.0.0.1:9"),
    ],
)
def test_base_url_precedence(
    key: str, region: str | None, endpoint: str | None, expected: str
) -> None:
    assert pipelines_base_url(SecretKey(key), region, endpoint) == expected


def test_key_region() -> None:
    assert key_region(SecretKey("pk_eu_1")) == "eu"
    assert key_region(SecretKey("sk_us_1")) == "us"
    assert key_region(SecretKey("pk_xx_1")) is None
    assert key_region(SecretKey("plain")) is None


@pytest.fixture(autouse=True)
def _no_cross_region_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_CROSS_REGION_ENV, raising=False)


@pytest.mark.parametrize(
    ("key", "region", "endpoint", "own", "other", "host"),
    [
        ("pk_eu_secretpart", "us", None, "EU", "US", "https://cdp.customer.io"),
        ("sk_us_secretpart", "eu", None, "US", "EU", "https://cdp-eu.customer.io"),
        # The other region's host given as an endpoint is the same mistake.
        ("pk_us_secretpart", None, "https://cdp-eu.customer.io/v1/", "US", "EU", EU.pipelines_url),
    ],
)
def test_cross_region_key_is_refused_in_one_line(
    key: str, region: str | None, endpoint: str | None, own: str, other: str, host: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        pipelines_base_url(SecretKey(key), region, endpoint)
    text = str(caught.value)
    assert f"refusing to send a {own} API key to the {other} host {host}" in text
    assert "allow_cross_region=True" in text and ALLOW_CROSS_REGION_ENV in text
    assert "\n" not in text and "secretpart" not in text and "secretpart" not in repr(caught.value)


def test_cross_region_when_told_to_warns_without_the_key(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    key = SecretKey("pk_eu_secretpart")
    assert pipelines_base_url(key, "us", allow_cross_region=True) == US.pipelines_url
    assert "EU API key is being sent to the US host https://cdp.customer.io" in caplog.text
    assert "secretpart" not in caplog.text
    monkeypatch.setenv(ALLOW_CROSS_REGION_ENV, "1")
    assert pipelines_base_url(key, "us") == US.pipelines_url
    with pytest.raises(ConfigError):  # an explicit False wins over the environment
        pipelines_base_url(key, "us", allow_cross_region=False)
    assert os.environ[ALLOW_CROSS_REGION_ENV] == "1"


def test_no_guard_for_own_region_custom_endpoints_and_plain_keys(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    pipelines_base_url(SecretKey("pk_eu_secretpart"), None, "http://127.0.0.1:1")
    pipelines_base_url(SecretKey("pk_eu_secretpart"), "eu")
    pipelines_base_url(SecretKey("plain-key"), "eu")
    pipelines_base_url(SecretKey("plain-key"), "us")
    assert caplog.text == ""


def test_rate_budgets_per_region() -> None:
    # Customer.io documents one Pipelines budget for both regions: 3000 requests per 3 s.
    assert rate_budget() == rate_budget("us") == (3000, 3.0)
    assert rate_budget("EU") == (3000, 3.0)
    assert {name: (r.rate_requests, r.rate_period_s) for name, r in REGIONS.items()} == {
        "us": (3000, 3.0),
        "eu": (3000, 3.0),
    }
    with pytest.raises(ConfigError, match="unknown region"):
        rate_budget("ap")


def test_bad_region_and_endpoint() -> None:
    with pytest.raises(ConfigError, match="unknown region"):
        pipelines_base_url(SecretKey("k"), "ap")
    with pytest.raises(ConfigError):
        pipelines_base_url(SecretKey("k"), None, "ftp://x")


def test_app_api_hosts() -> None:
    assert app_api_base_url() == "https://api.customer.io"
    assert app_api_base_url("eu") == "https://api-eu.customer.io"
    assert app_api_base_url("eu", "http://localhost:1/") == "http://localhost:1"
