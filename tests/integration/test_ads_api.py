"""The ads app over HTTP on the session's Ray: prices, plans, bookings under concurrency,
idempotent retries, object-level authorisation and notifications (real Redis)."""

import asyncio
from collections.abc import Iterator

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error

from core.lake import Lake
from core.settings import Settings
from tests.integration.ads_app import FORECAST_START, running_ads_app, stand_in_forecast

ADVERTISER_1 = {"X-API-Key": "demo-advertiser-1"}
ADVERTISER_2 = {"X-API-Key": "demo-advertiser-2"}
SALES = {"X-API-Key": "demo-sales"}
ADMIN = {"X-API-Key": "demo-admin"}
LOCATION = "sim-station-000"
SLOT = f"{FORECAST_START.isoformat()}T08"


@pytest.fixture(scope="module")
def ads_url(serve_port: int, tmp_path_factory: pytest.TempPathFactory,
            redis_url: str) -> Iterator[str]:
    lake_dir = tmp_path_factory.mktemp("ads-lake")
    settings = Settings(lake_uri=str(lake_dir), redis_url=redis_url)
    stand_in_forecast(Lake.open(settings.lake_uri))
    with running_ads_app(settings, serve_port) as url:
        yield url


def test_slot_price_shows_audience_factors_and_quantiles(ads_url: str) -> None:
    response = httpx.get(f"{ads_url}/pricing/slot/{LOCATION}/{SLOT}", headers=ADVERTISER_1)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["slot_id"] == f"{LOCATION}@{SLOT}" and body["available"]
    assert body["factors"]["hour_band"] == "morning_rush"
    assert body["factors"]["peak_hour"] == 1.4 and body["factors"]["location"] == 1.3
    assert body["factors"]["seasonal"] == 1.3  # November
    assert body["price"]["p10"] < body["price"]["p50"] < body["price"]["p90"]
    audience = body["expected_audience"]
    assert audience["attentive"]["p50"] > 0
    assert sum(audience["demographic_mix"]["age"].values()) == pytest.approx(1.0, abs=1e-3)
    assert "RateLimit-Remaining" in response.headers
    again = httpx.get(f"{ads_url}/pricing/slot/{LOCATION}/{SLOT}", headers=ADVERTISER_1)
    assert again.json()["price"] == body["price"]


def test_bad_requests_get_json_errors(ads_url: str) -> None:
    assert httpx.get(f"{ads_url}/pricing/slot/{LOCATION}/{SLOT}").status_code == 401
    missing = httpx.get(f"{ads_url}/pricing/slot/nowhere/{SLOT}", headers=ADVERTISER_1)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    bad = httpx.get(f"{ads_url}/pricing/slot/{LOCATION}/2026-11-30T08:30", headers=ADVERTISER_1)
    assert bad.status_code == 422
    poor = httpx.post(f"{ads_url}/pricing/optimize", headers=ADVERTISER_1, json={
        "budget": 0.01, "start_date": FORECAST_START.isoformat(),
        "end_date": FORECAST_START.isoformat()})
    assert poor.status_code == 422 and poor.json()["error"] == "over_budget"


def test_forecast_lists_a_week_of_hours(ads_url: str) -> None:
    response = httpx.get(f"{ads_url}/pricing/forecast/{LOCATION}", headers=SALES,
                         params={"target": "professionals_25_45"})
    assert response.status_code == 200
    hours = response.json()["hours"]
    assert len(hours) == 168
    assert all(h["factors"]["demographic"] == 1.3 for h in hours)


async def _book_all(url: str, count: int) -> list[int]:
    async with httpx.AsyncClient(timeout=30) as client:
        requests = [client.post(f"{url}/bookings", json={"slots": [
            {"location_id": LOCATION, "time_slot": f"{FORECAST_START.isoformat()}T18"}]},
            headers=ADVERTISER_1 if i % 2 else ADVERTISER_2) for i in range(count)]
        return [r.status_code for r in await asyncio.gather(*requests)]


def test_fifty_concurrent_bookings_of_one_slot(ads_url: str) -> None:
    statuses = asyncio.run(_book_all(ads_url, 50))
    assert statuses.count(201) == 1 and statuses.count(409) == 49, statuses


def test_retry_with_the_same_idempotency_key_books_once(ads_url: str) -> None:
    body = {"slots": [{"location_id": LOCATION, "time_slot": f"{FORECAST_START}T10"},
                      {"location_id": LOCATION, "time_slot": f"{FORECAST_START}T11"}]}
    headers = {**ADVERTISER_1, "Idempotency-Key": "retry-1"}
    first = httpx.post(f"{ads_url}/bookings", json=body, headers=headers)
    second = httpx.post(f"{ads_url}/bookings", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["Idempotent-Replay"] == "true"
    conflict = httpx.post(f"{ads_url}/bookings", json=body, headers=ADVERTISER_2)
    assert conflict.status_code == 409
    assert sorted(conflict.json()["detail"]["slot_ids"]) == [
        f"{LOCATION}@{FORECAST_START}T10", f"{LOCATION}@{FORECAST_START}T11"]


def test_advertisers_see_and_cancel_only_their_own(ads_url: str) -> None:
    booked = httpx.post(f"{ads_url}/bookings", headers=ADVERTISER_1, json={
        "slots": [{"location_id": LOCATION, "time_slot": f"{FORECAST_START}T13"}]})
    booking_id = booked.json()["id"]
    own = httpx.get(f"{ads_url}/bookings", headers=ADVERTISER_1).json()
    theirs = httpx.get(f"{ads_url}/bookings", headers=ADVERTISER_2).json()
    assert booking_id in [b["id"] for b in own]
    assert booking_id not in [b["id"] for b in theirs]
    assert all(b["advertiser_id"] == "adv-2" for b in theirs)
    assert httpx.get(f"{ads_url}/bookings/{booking_id}", headers=ADVERTISER_2).status_code == 404
    assert httpx.delete(f"{ads_url}/bookings/{booking_id}",
                        headers=ADVERTISER_2).status_code == 404
    peek = httpx.get(f"{ads_url}/bookings", headers=ADVERTISER_2,
                     params={"advertiser_id": "adv-1"})
    assert peek.status_code == 403
    staff = httpx.get(f"{ads_url}/bookings", headers=SALES, params={"advertiser_id": "adv-1"})
    assert booking_id in [b["id"] for b in staff.json()]
    forged = httpx.post(f"{ads_url}/bookings", headers=ADVERTISER_2, json={
        "advertiser_id": "adv-1",
        "slots": [{"location_id": LOCATION, "time_slot": f"{FORECAST_START}T14"}]})
    assert forged.status_code == 403
    cancelled = httpx.delete(f"{ads_url}/bookings/{booking_id}", headers=ADVERTISER_1)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_booked_slots_leave_the_plan_and_freed_slots_notify(ads_url: str) -> None:
    plan_request = {"budget": 50.0, "start_date": FORECAST_START.isoformat(),
                    "end_date": FORECAST_START.isoformat(), "locations": [LOCATION],
                    "target": "professionals_25_45"}
    plan = httpx.post(f"{ads_url}/pricing/optimize", json=plan_request, headers=ADVERTISER_1)
    assert plan.status_code == 200, plan.text
    best = plan.json()["best"]
    assert best["total_cost"] <= 50.0 and best["slots"]
    assert plan.json()["runner_up"]["total_targeted_audience"] <= best["total_targeted_audience"]
    top = max(best["slots"], key=lambda s: s["targeted_audience"])
    hour = top["slot_id"].split("@")[1]
    preference = {"locations": [LOCATION], "target": "broad"}
    assert httpx.put(f"{ads_url}/preferences", json=preference,
                     headers=ADVERTISER_2).status_code == 200
    booked = httpx.post(f"{ads_url}/bookings", headers=ADVERTISER_1, json={
        "slots": [{"location_id": LOCATION, "time_slot": hour}]})
    assert booked.status_code == 201, booked.text
    replanned = httpx.post(f"{ads_url}/pricing/optimize", json=plan_request,
                           headers=ADVERTISER_1).json()
    assert top["slot_id"] not in [s["slot_id"] for s in replanned["best"]["slots"]]
    httpx.delete(f"{ads_url}/bookings/{booked.json()['id']}", headers=ADVERTISER_1)
    notes = httpx.get(f"{ads_url}/notifications", headers=ADVERTISER_2).json()
    assert [(n["kind"], n["slot_id"]) for n in notes] == [("slot_freed", top["slot_id"])]
    assert httpx.get(f"{ads_url}/notifications", headers=ADVERTISER_1).json() == []


def test_openapi_fuzzing_finds_no_server_error(ads_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{ads_url}/openapi.json")
    # server-sent event streams never end: test_ads_portal_api.py covers them
    operations = [result.ok() for result in schema.get_all_operations()
                  if not result.ok().path.endswith("/live")]
    assert len(operations) >= 10
    for operation in operations:

        @hypothesis.settings(max_examples=12, deadline=None, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))
        @hypothesis.given(case=operation.as_strategy())
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=ads_url, headers=ADMIN,
                                   checks=[not_a_server_error])

        no_server_error()
