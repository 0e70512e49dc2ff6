"""The read-only App API fixtures over HTTP: auth, its own rate limit, pagination, reporting,
customer lookups (fixtures and people sent through Pipelines) and exports."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

import pytest
import requests

from customerio_sink.emulator import Emulator

if TYPE_CHECKING:
    from tests.emulator.conftest import Poster

APP = {"Authorization": "Bearer app-key"}


def get(emu: Emulator, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{emu.url}{path}", params=params, headers=APP, timeout=5)


def test_app_api_needs_a_bearer_app_key(emulator: Emulator) -> None:
    url = f"{emulator.url}/v1/campaigns"
    assert requests.get(url).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer test-key"}).status_code == 401
    response = requests.get(url, auth=("app-key", ""))  # Basic is not accepted
    assert response.status_code == 401
    assert "Bearer" in response.json()["message"] and "app-key" not in response.text
    assert get(emulator, "/v1/campaigns").status_code == 200
    stats = emulator.stats()
    assert (stats.app_requests, stats.app_status_counts) == (4, {401: 3, 200: 1})
    assert stats.requests == 0  # Pipelines stats stay apart


def test_app_api_limit_is_10_per_second_per_key() -> None:
    with Emulator(keys=("test-key",), app_api_keys=("app-key", "other")) as emu:
        codes = [get(emu, "/v1/campaigns").status_code for _ in range(11)]
        assert codes == [200] * 10 + [429]
        response = get(emu, "/v1/campaigns")
        assert response.headers["Retry-After"] == "1"
        assert "10 requests per second" in response.json()["message"]
        other = {"Authorization": "Bearer other"}
        assert requests.get(f"{emu.url}/v1/campaigns", headers=other).status_code == 200


def test_lists_and_items(emulator: Emulator) -> None:
    campaigns = get(emulator, "/v1/campaigns").json()
    assert [c["id"] for c in campaigns["campaigns"]] == [1, 2, 3]
    assert campaigns["next"] == ""
    assert get(emulator, "/v1/campaigns/2").json()["campaign"]["name"] == "Abandoned cart"
    assert [n["id"] for n in get(emulator, "/v1/newsletters").json()["newsletters"]] == [101, 102]
    assert get(emulator, "/v1/newsletters/102").json()["newsletter"]["type"] == "email"
    assert [b["id"] for b in get(emulator, "/v1/broadcasts").json()["broadcasts"]] == [201, 202]
    assert get(emulator, "/v1/broadcasts/201").json()["broadcast"]["active"] is True
    missing = get(emulator, "/v1/campaigns/99")
    assert missing.status_code == 404 and missing.json()["message"] == "campaign 99 not found"


def test_paginated_campaigns(emulator: Emulator) -> None:
    first = get(emulator, "/v1/campaigns", limit=2).json()
    assert [c["id"] for c in first["campaigns"]] == [1, 2] and first["next"]
    second = get(emulator, "/v1/campaigns", limit=2, start=first["next"]).json()
    assert [c["id"] for c in second["campaigns"]] == [3] and second["next"] == ""
    assert get(emulator, "/v1/campaigns", start="bogus!").status_code == 400
    assert get(emulator, "/v1/campaigns", limit=0).status_code == 400


@pytest.mark.parametrize("kind", ["campaigns", "newsletters", "broadcasts"])
def test_metrics_are_deterministic(emulator: Emulator, kind: str) -> None:
    item_id = {"campaigns": 1, "newsletters": 101, "broadcasts": 201}[kind]
    path = f"/v1/{kind}/{item_id}/metrics"
    body = get(emulator, path, version=2, res="days").json()
    series = body["metric"]["series"]
    assert set(series) == {
        "sent",
        "delivered",
        "opened",
        "clicked",
        "converted",
        "bounced",
        "unsubscribed",
    }
    assert len(series["sent"]) == 7
    assert get(emulator, path, version=2, res="days").json() == body  # same numbers again
    for i in range(7):
        assert series["sent"][i] >= series["delivered"][i] >= series["opened"][i]
        assert series["opened"][i] >= series["clicked"][i] >= series["converted"][i]
        assert series["bounced"][i] == series["sent"][i] - series["delivered"][i]
    hourly = get(emulator, path, version=2, res="hourly", start=0, end=6 * 3600).json()
    assert len(hourly["metric"]["series"]["sent"]) == 6
    v1 = get(emulator, path, period="weeks", steps=1).json()  # v1: at least 2 steps
    assert len(v1["metric"]["series"]["sent"]) == 2
    assert get(emulator, path, version=2, res="fortnights").status_code == 400


def test_customers_by_email_include_fixtures_and_pipelines_people(
    post: Poster, emulator: Emulator
) -> None:
    fixture = get(emulator, "/v1/customers", email="FIXTURE07@example.com").json()
    assert [r["id"] for r in fixture["results"]] == ["fixture-07"]
    assert fixture["results"][0]["email"] == "fixture07@example.com"
    post("/v1/identify", {"userId": "u1", "traits": {"email": "Ann@Example.com", "plan": "pro"}})
    found = get(emulator, "/v1/customers", email="ann@example.com").json()["results"]
    assert [(r["id"], r["email"]) for r in found] == [("u1", "Ann@Example.com")]
    assert found[0]["cio_id"] and found[0]["cio_id"] != "u1"
    assert get(emulator, "/v1/customers", email="nobody@example.com").json() == {"results": []}
    assert get(emulator, "/v1/customers").status_code == 400


def test_customer_attributes_by_id_email_and_cio_id(post: Poster, emulator: Emulator) -> None:
    post.batch(
        {"type": "identify", "userId": "u1", "traits": {"email": "a@example.com", "plan": "pro"}},
        {
            "type": "track",
            "userId": "u1",
            "event": "Device Created or Updated",
            "context": {"device": {"token": "tok", "type": "ios"}},
        },
    )
    by_id = get(emulator, "/v1/customers/u1/attributes").json()["customer"]
    assert by_id["attributes"]["plan"] == "pro"
    assert by_id["identifiers"]["email"] == "a@example.com"
    assert by_id["devices"] == [{"id": "tok", "type": "ios"}]
    by_email = get(emulator, "/v1/customers/a%40example.com/attributes", id_type="email").json()
    assert by_email == {"customer": by_id}
    cio_id = by_id["identifiers"]["cio_id"]
    assert get(emulator, f"/v1/customers/{cio_id}/attributes", id_type="cio_id").json() == {
        "customer": by_id
    }
    fixture = get(emulator, "/v1/customers/fixture-03/attributes").json()["customer"]
    assert fixture["attributes"]["plan"] == "free"
    assert get(emulator, "/v1/customers/ghost/attributes").status_code == 404
    assert get(emulator, "/v1/customers/u1/attributes", id_type="phone").status_code == 400
    post.batch({"type": "track", "userId": "u1", "event": "User Deleted"})
    assert get(emulator, "/v1/customers/u1/attributes").status_code == 404


def test_customer_search_paginates_25_fixtures_in_3_pages(emulator: Emulator) -> None:
    url = f"{emulator.url}/v1/customers"
    ids: list[str] = []
    start = ""
    pages = 0
    while True:
        page = requests.post(url, params={"limit": 10, "start": start}, json={}, headers=APP)
        body = page.json()
        ids += body["ids"]
        assert [i["id"] for i in body["identifiers"]] == body["ids"]
        pages += 1
        start = body["next"]
        if not start:
            break
    assert pages == 3 and len(ids) == 25 == len(set(ids))
    pro = requests.post(
        url,
        json={"filter": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}},
        headers=APP,
    ).json()
    assert pro["ids"] == [f"fixture-{n:02d}" for n in range(1, 26) if n % 3 == 1]
    combined = {
        "and": [
            {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
            {"not": {"attribute": {"field": "id", "operator": "eq", "value": "fixture-01"}}},
        ]
    }
    assert requests.post(url, json={"filter": combined}, headers=APP).json()["ids"][0] == (
        "fixture-04"
    )
    segment = requests.post(url, json={"filter": {"segment": {"id": 1}}}, headers=APP)
    assert segment.status_code == 400 and "not emulated" in segment.json()["message"]


def test_customer_export_flow(post: Poster, emulator: Emulator) -> None:
    post("/v1/identify", {"userId": "u1", "traits": {"email": "a@example.com", "plan": "pro"}})
    url = f"{emulator.url}/v1/exports/customers"
    created = requests.post(
        url,
        json={
            "filters": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
            "attributes": ["plan"],
        },
        headers=APP,
    )
    export = created.json()["export"]
    assert (export["status"], export["type"], export["total"]) == ("pending", "customers", 10)
    export_id = export["id"]
    assert get(emulator, f"/v1/exports/{export_id}/download").status_code == 400  # not yet
    assert get(emulator, f"/v1/exports/{export_id}").json()["export"]["status"] == "pending"
    assert get(emulator, f"/v1/exports/{export_id}").json()["export"]["status"] == "done"
    assert [e["id"] for e in get(emulator, "/v1/exports").json()["exports"]] == [export_id]
    link = get(emulator, f"/v1/exports/{export_id}/download").json()["url"]
    assert link == f"{emulator.url}/_emulator/exports/{export_id}.csv"
    download = requests.get(link)
    assert download.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) == 10
    assert rows[-1] == {
        "id": "u1",
        "email": "a@example.com",
        "cio_id": rows[-1]["cio_id"],
        "plan": "pro",
    }
    assert requests.post(url, json={}, headers=APP).status_code == 400  # filters required
    assert get(emulator, "/v1/exports/99").status_code == 404
    assert requests.get(f"{emulator.url}/_emulator/exports/99.csv").status_code == 404
