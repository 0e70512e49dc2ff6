"""AppAPIClient over HTTP against the emulator's App API fixtures."""

from __future__ import annotations

import random

import pytest
import requests

from customerio_sink.client.metrics import RequestMetrics
from customerio_sink.client.pipelines import CustomerIOClient
from customerio_sink.client.retry import RetryPolicy
from customerio_sink.emulator import Emulator
from customerio_sink.errors import RateLimitedError, RejectedError, TransientError
from customerio_sink.reporting.app_api import AppAPIClient

from .conftest import APP_KEY, PIPELINES_KEY, FakeTime


def app_requests(emu: Emulator) -> int:
    return int(emu.stats().as_dict()["app_requests"])


def test_lists_follow_every_page(emu: Emulator) -> None:
    seen: list[RequestMetrics] = []
    with AppAPIClient(APP_KEY, endpoint=emu.url, on_request=seen.append) as app:
        campaigns = list(app.campaigns(limit=1))
        assert [c["id"] for c in campaigns] == [1, 2, 3]
        assert [n["id"] for n in app.newsletters()] == [101, 102]
        assert [b["id"] for b in app.broadcasts(limit=1)] == [201, 202]
        assert len(list(app.search_customers(limit=10))) >= 25
        fixture = list(
            app.search_customers({"attribute": {"field": "plan", "operator": "eq", "value": "pro"}})
        )
    assert {c["id"] for c in fixture} >= {"fixture-01", "fixture-04"}
    assert [m.endpoint for m in seen[:3]] == ["/v1/campaigns"] * 3
    assert all(m.method == "GET" and m.status == 200 for m in seen[:3])


def test_items_and_metrics(emu: Emulator) -> None:
    with AppAPIClient(APP_KEY, endpoint=emu.url) as app:
        assert app.campaign(2)["name"] == "Abandoned cart"
        assert app.newsletter(101)["name"] == "November product update"
        assert app.broadcast(202)["name"] == "Flash sale"
        series = app.campaign_metrics(1, version=2, res="days", start=0, end=3 * 86400)["series"]
        assert len(series["sent"]) == 3
        assert len(app.newsletter_metrics(101, period="weeks", steps=4)["series"]["opened"]) == 4
        assert set(app.broadcast_metrics(201)["series"]) >= {
            "sent",
            "delivered",
            "opened",
            "clicked",
        }
        with pytest.raises(RejectedError) as info:
            app.campaign(999)
    assert info.value.status == 404 and info.value.attempts == 1


def test_customer_lookups_are_cached(emu: Emulator) -> None:
    with AppAPIClient(APP_KEY, endpoint=emu.url) as app:
        [person] = app.find_customers("FIXTURE01@example.com")
        assert person["id"] == "fixture-01"
        attributes = app.customer_attributes("fixture-01")
        assert attributes is not None and attributes["attributes"]["plan"] == "pro"
        by_email = app.customer_attributes("fixture02@example.com", id_type="email")
        assert by_email is not None and by_email["id"] == "fixture-02"
        assert app.customer_attributes("nobody") is None
        before = app_requests(emu)
        app.find_customers("fixture01@example.com")
        app.customer_attributes("fixture-01")
        assert app_requests(emu) == before  # both answered from the cache
        app.invalidate_customer("fixture-01")
        app.customer_attributes("fixture-01")
        app.find_customers("fixture01@example.com")
        assert app_requests(emu) == before + 2


def test_cache_ttl(emu: Emulator, fake_time: FakeTime) -> None:
    app = AppAPIClient(
        APP_KEY, endpoint=emu.url, cache_ttl=5.0, clock=fake_time.clock, sleep=fake_time.sleep
    )
    app.find_customers("fixture03@example.com")
    before = app_requests(emu)
    fake_time.advance(4.9)
    app.find_customers("fixture03@example.com")
    assert app_requests(emu) == before
    fake_time.advance(0.1)
    app.find_customers("fixture03@example.com")
    assert app_requests(emu) == before + 1


def test_writes_through_the_pipelines_client_evict_lookups(emu: Emulator) -> None:
    with (
        AppAPIClient(APP_KEY, endpoint=emu.url) as app,
        CustomerIOClient(
            PIPELINES_KEY, endpoint=emu.url, invalidate=app.invalidate_customer
        ) as pipelines,
    ):
        assert app.find_customers("new.person@example.com") == []
        assert app.customer_attributes("new-person") is None
        pipelines.identify("new-person", {"email": "New.Person@example.com", "plan": "pro"})
        [found] = app.find_customers("new.person@example.com")
        assert found["id"] == "new-person"
        profile = app.customer_attributes("new-person")
        assert profile is not None and profile["attributes"]["plan"] == "pro"
        pipelines.identify("new-person", {"plan": "enterprise"})
        profile = app.customer_attributes("new-person")
        assert profile is not None and profile["attributes"]["plan"] == "enterprise"
        pipelines.suppress_user("new-person")
        assert app.customer_attributes("new-person") is None


def test_export_start_poll_download(emu: Emulator, fake_time: FakeTime) -> None:
    app = AppAPIClient(APP_KEY, endpoint=emu.url, clock=fake_time.clock, sleep=fake_time.sleep)
    export = app.start_customer_export(
        {"attribute": {"field": "plan", "operator": "eq", "value": "enterprise"}},
        attributes=["plan"],
    )
    assert export["status"] == "pending"
    done = app.wait_for_export(export["id"], poll_interval=2.0)
    assert done["status"] == "done" and fake_time.sleeps == [2.0]
    url = app.export_download_url(export["id"])
    csv = requests.get(url, timeout=5).text.splitlines()  # a pre-signed link: no auth
    assert csv[0] == "id,email,cio_id,plan" and all(
        line.endswith(",enterprise") for line in csv[1:]
    )
    assert len(csv) - 1 == done["total"] > 0


def test_export_timeout(emu: Emulator, fake_time: FakeTime) -> None:
    app = AppAPIClient(APP_KEY, endpoint=emu.url, clock=fake_time.clock, sleep=fake_time.sleep)
    export = app.start_customer_export({"attribute": {"field": "plan", "operator": "exists"}})
    with pytest.raises(TransientError, match="export_timeout"):
        app.wait_for_export(export["id"], poll_interval=5.0, timeout=1.0)


def test_app_api_429_carries_retry_after(fake_time: FakeTime) -> None:
    with Emulator(
        keys=(PIPELINES_KEY,), app_api_keys=(APP_KEY,), app_rate_limit=1, app_rate_window_s=30.0
    ) as emu:
        app = AppAPIClient(
            APP_KEY,
            endpoint=emu.url,
            clock=fake_time.clock,
            sleep=fake_time.sleep,
            retry=RetryPolicy(max_attempts=3, rng=random.Random(0)),
        )
        app.campaign(1)
        with pytest.raises(RateLimitedError) as info:
            app.campaign(1)
    assert info.value.attempts == 3 and info.value.retry_after is not None
    assert 0 < info.value.retry_after <= 30
    assert fake_time.sleeps == [pytest.approx(info.value.retry_after, abs=1.0)] * 2
