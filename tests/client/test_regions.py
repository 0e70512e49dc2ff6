"""Hosts per region and the Authorization header, as the official client 1.1.0 does it."""

from __future__ import annotations

import base64
import logging

import pytest

from customerio_sink.errors import ConfigError
from customerio_sink.regions import (
    app_api_base_url,
    key_region,
    pipelines_auth_header,
    pipelines_base_url,
)
from customerio_sink.secrets import SecretKey


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
        ("pk_eu_x", "us", None, "https://cdp.customer.io"),
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


def test_cross_region_warning_names_regions_not_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pipelines_base_url(SecretKey("pk_eu_secretpart"), "us")
    assert "EU API key is being sent to the US host https://cdp.customer.io" in caplog.text
    assert "secretpart" not in caplog.text
    caplog.clear()
    pipelines_base_url(SecretKey("pk_eu_secretpart"), None, "http://127.0.0.1:1")
    pipelines_base_url(SecretKey("pk_eu_secretpart"), "eu")
    assert caplog.text == ""


def test_bad_region_and_endpoint() -> None:
    with pytest.raises(ConfigError, match="unknown region"):
        pipelines_base_url(SecretKey("k"), "ap")
    with pytest.raises(ConfigError):
        pipelines_base_url(SecretKey("k"), None, "ftp://x")


def test_app_api_hosts() -> None:
    assert app_api_base_url() == "https://api.customer.io"
    assert app_api_base_url("eu") == "https://api-eu.customer.io"
    assert app_api_base_url("eu", "http://localhost:1/") == "http://localhost:1"
