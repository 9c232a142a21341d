"""The ads app's portal endpoints on the session's Ray: campaign results measured from the
camera rows in the lake (and streamed again when more arrive), the operations view for
staff only, and the merged alert stream resuming from Last-Event-ID."""

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import redis

from core.ads.audience_history import (
    HOUR_KEYS,
    build_marts,
    combine_hourly,
    hourly_partial,
    rates,
)
from core.ads.audience_sim import fleet_locations, replayed_forecast, simulate_camera
from core.ads.ratecard import load_rate_card
from core.lake import AUDIENCE, AUDIENCE_FORECASTS, Lake
from core.settings import Settings
from serve_apps.ads import FORECAST_FILE
from tests.integration.ads_app import camera_alert_stream, running_ads_app

ADVERTISER = {"X-API-Key": "demo-advertiser-1"}
SALES = {"X-API-Key": "demo-sales"}
TODAY = datetime.now(UTC).date()
PAST_DAY = TODAY - timedelta(days=2)
STATION = fleet_locations(1)[0]  # sim-station-000, UTC


def forecast_around_today(lake: Lake) -> None:
    """A replayed forecast from 3 days ago to 3 days ahead (so booked slots can be past)."""
    raw = simulate_camera(STATION, TODAY - timedelta(days=17), 14)
    metrics = build_marts(combine_hourly([hourly_partial(raw, {})]), load_rate_card())[
        "advertising_metrics"]
    lake.write_file(replayed_forecast(metrics, version="around-today"), AUDIENCE_FORECASTS,
                    FORECAST_FILE)


def camera_rows(day: date, hour: int) -> pa.Table:
    rows = simulate_camera(STATION, day, 1, seed=5)
    return rows.filter(pc.equal(pc.hour(rows["ts"]), hour))


@pytest.fixture(scope="module")
def app(serve_port: int, tmp_path_factory: pytest.TempPathFactory,
        redis_url: str) -> Iterator[tuple[str, Lake]]:
    lake_uri = str(tmp_path_factory.mktemp("ads-portal-api"))
    lake = Lake.open(lake_uri)
    forecast_around_today(lake)
    with running_ads_app(Settings(lake_uri=lake_uri, redis_url=redis_url), serve_port) as url:
        yield url, lake


def book(url: str, *starts: str) -> dict:
    slots = [{"location_id": STATION.camera.location, "time_slot": start} for start in starts]
    response = httpx.post(f"{url}/bookings", json={"slots": slots}, headers=ADVERTISER)
    assert response.status_code == 201, response.text
    return response.json()


def results_events(response: httpx.Response) -> Iterator[dict]:
    kind = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind == "results":
            yield json.loads(line[6:])


def test_results_measure_delivery_from_the_lake_and_update_live(
        app: tuple[str, Lake]) -> None:
    url, lake = app
    later = (TODAY + timedelta(days=2)).isoformat()
    booking = book(url, f"{PAST_DAY.isoformat()}T08", f"{PAST_DAY.isoformat()}T09",
                   f"{later}T08")
    assert booking["slots"][0]["attentive_p50"] > 0  # the forecast is kept with the booking
    lake.write_partitioned(camera_rows(PAST_DAY, 8), AUDIENCE, ["location", "date"])
    expected = rates(combine_hourly([hourly_partial(camera_rows(PAST_DAY, 8), {})]), HOUR_KEYS)

    results = httpx.get(f"{url}/bookings/{booking['id']}/results", headers=ADVERTISER).json()
    assert [s["state"] for s in results["slots"]] == ["done", "done", "upcoming"]
    assert results["slots"][0]["delivered"] == round(expected["attentive"][0].as_py(), 1)
    assert results["slots"][1]["delivered"] is None and results["slots"][2]["delivered"] is None
    forecast_to_date = sum(s["forecast"]["p50"] for s in results["slots"][:2])
    assert results["totals"]["forecast_to_date"] == pytest.approx(forecast_to_date, abs=0.2)
    other = httpx.get(f"{url}/bookings/{booking['id']}/results",
                      headers={"X-API-Key": "demo-advertiser-2"})
    assert other.status_code == 404

    with httpx.stream("GET", f"{url}/bookings/{booking['id']}/results/live",
                      params={"every_s": 1}, headers=ADVERTISER, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = results_events(response)
        assert next(events)["slots"][1]["delivered"] is None
        lake.write_partitioned(camera_rows(PAST_DAY, 9), AUDIENCE, ["location", "date"])
        assert next(events)["slots"][1]["delivered"] > 0  # pushed without asking again


def test_operations_are_for_staff_and_merge_both_alert_streams(
        app: tuple[str, Lake], redis_url: str) -> None:
    url, _ = app
    namespace = url.rsplit("/", 1)[1]
    assert httpx.get(f"{url}/operations/alerts", headers=ADVERTISER).status_code == 403
    assert httpx.get(f"{url}/operations/cameras", headers=ADVERTISER).status_code == 403
    client = redis.Redis.from_url(redis_url)
    positions = ",".join(entries[0][0].decode() if entries else "0-0" for entries in (
        client.xrevrange(f"dynaprice:alerts:{namespace}", count=1),
        client.xrevrange(camera_alert_stream(namespace), count=1)))  # sources by name
    client.xadd(camera_alert_stream(namespace), {"alert": json.dumps(
        {"kind": "crowd_surge", "severity": "warning", "region": "loc", "message": "surge"})})
    time.sleep(0.01)  # entries of one millisecond cannot be told apart across streams
    client.xadd(f"dynaprice:alerts:{namespace}", {"notification": json.dumps(
        {"kind": "slot_freed", "advertiser_id": "adv-2", "slot_id": "loc@x", "price": 3.0})})

    newest = httpx.get(f"{url}/operations/alerts", headers=SALES).json()
    assert [row["source"] for row in newest[:2]] == ["ads", "cameras"]
    bad = httpx.get(f"{url}/operations/alerts/live", headers={**SALES, "Last-Event-ID": "x"})
    assert bad.status_code == 422
    with httpx.stream("GET", f"{url}/operations/alerts/live", timeout=30,
                      headers={**SALES, "Last-Event-ID": positions}) as response:
        data = []
        for line in response.iter_lines():
            if line.startswith("data: "):
                data.append(json.loads(line[6:]))
            if len(data) == 2:
                break
    assert {row["kind"] for row in data} == {"crowd_surge", "slot_freed"}
