"""The advertiser and operations portal in headless Chromium against the real ads app:
log in, explore prices, run the optimiser, book the plan in one click, see the booking and
its results, watch a camera alert arrive without reload; a screenshot of every page."""

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from core.lake import Lake
from core.settings import Settings
from core.vision.anomalies import CameraAlert, CameraAnomaly
from core.vision.cameras import camera_key
from tests.browser.portal_browser import PageLog, log_in
from tests.integration.ads_app import camera_alert_stream, running_ads_app, stand_in_forecast
from tests.integration.edited_configs import edited_configs

pytestmark = [pytest.mark.browser, pytest.mark.ray, pytest.mark.slow]
ADVERTISER = "demo-advertiser-1"
CAMERA = f"cam-portal-{uuid.uuid4().hex[:8]}"


def add_camera(cameras: dict) -> None:
    cameras["cameras"] = [{"id": CAMERA, "location": "sim-station-000",
                           "location_type": "station"}]


@pytest.fixture(scope="module")
def ads_url(serve_port: int, tmp_path_factory: pytest.TempPathFactory,
            redis_url: str) -> Iterator[str]:
    """The ads app on a stand-in forecast, with one configured camera reporting live."""
    configs = edited_configs(tmp_path_factory.mktemp("configs"), "cameras", add_camera)
    settings = Settings(lake_uri=str(tmp_path_factory.mktemp("ads-portal-lake")),
                        redis_url=redis_url, configs_dir=configs)
    stand_in_forecast(Lake.open(settings.lake_uri))
    client = redis.Redis.from_url(redis_url)
    window = {"kind": "900s", "avg_crowd": 12.5, "attention_rate": 0.25, "frames": 40}
    client.set(camera_key(CAMERA, "window"), json.dumps(
        {"camera_id": CAMERA, "updated_at": time.time(), "windows": [window]}))
    with running_ads_app(settings, serve_port) as url:
        yield url
    client.delete(camera_key(CAMERA, "window"))


def assert_offline_and_clean(page_log: PageLog, ads_url: str, console_errors: int = 0) -> None:
    """Nothing fetched from outside the server, no script error, only the expected failures
    (the browser logs each 4xx answer) in the console."""
    assert page_log.foreign_requests(ads_url) == []
    assert page_log.page_errors == []
    assert len(page_log.console_errors) == console_errors, page_log.console_errors


def test_advertiser_explores_plans_books_and_sees_the_booking(
        browser_page, page_log: PageLog, screenshot, ads_url: str) -> None:
    page = browser_page
    log_in(page, f"{ads_url}/portal/", ADVERTISER)
    page.wait_for_selector("#price-heatmap .main-svg")
    assert page.locator(".tile").count() == 3
    first = page.locator(".tile").first
    assert first.get_attribute("aria-pressed") == "true"
    assert page.inner_text("#week-title").startswith(first.get_attribute("data-location"))
    screenshot("explorer")

    page.click("nav >> text=Plan & book")
    page.wait_for_selector("#target option", state="attached")
    page.fill("#budget", "150")  # binds: the best 3 slots per location cost about 310
    page.fill("#max-per-location", "3")
    page.click("#optimize")
    page.wait_for_selector("#plan-table tbody tr")
    planned = page.locator("#plan-table tbody tr").count()
    assert 1 <= planned <= 9
    screenshot("plan")

    page.click("#book-plan")
    page.wait_for_selector("#booking-link")
    screenshot("booked")
    booking_id = page.get_attribute("#booking-link", "href").split("#")[1]
    booked = httpx.get(f"{ads_url}/bookings/{booking_id}",
                       headers={"X-API-Key": ADVERTISER}).json()
    assert booked["advertiser_id"] == "adv-1" and len(booked["slots"]) == planned
    assert 100 < sum(slot["price"] for slot in booked["slots"]) <= 150

    page.click("#booking-link")
    page.wait_for_selector(f"#bookings-table tr[data-booking='{booking_id}']")
    page.wait_for_selector("#results-live.open")
    page.wait_for_selector("#results-chart .main-svg")
    assert page.inner_text("#results-title").startswith(f"Booking {booking_id[:8]}")
    assert page.locator("#results-slots tbody tr").count() == planned
    screenshot("bookings")
    assert page.locator("nav a[href='operations.html']").is_hidden()
    assert page.locator("#advertiser-filter").is_hidden()
    assert_offline_and_clean(page_log, ads_url)


def test_operations_view_shows_cameras_attention_and_a_live_alert(
        browser_page, page_log: PageLog, screenshot, ads_url: str, redis_url: str) -> None:
    page = browser_page
    log_in(page, f"{ads_url}/portal/operations.html", "demo-sales")
    page.wait_for_selector("#alerts-live.open")
    camera = page.wait_for_selector(f"#cameras-table tr:has-text('{CAMERA}')")
    assert "live" in camera.inner_text() and "25.0 %" in camera.inner_text()
    page.wait_for_selector("#attention-heatmap .main-svg")
    alert = CameraAlert(id="browser-test-alert", kind=CameraAnomaly.CAMERA_OFFLINE,
                        severity="critical", camera_id="cam-browser", region="sim-station-000",
                        category="station", message="no frame for 180 s", source_ts=0.0)
    stream = camera_alert_stream(ads_url.rsplit("/", 1)[1])
    redis.Redis.from_url(redis_url).xadd(stream, {"alert": alert.model_dump_json()})
    row = page.wait_for_selector("#alerts-table tr:has-text('no frame for 180 s')")
    assert "critical" in row.inner_text()
    screenshot("operations")
    assert_offline_and_clean(page_log, ads_url)


def test_login_rejects_an_unknown_key_and_keeps_advertisers_out_of_operations(
        browser_page, page_log: PageLog, screenshot, ads_url: str) -> None:
    page = browser_page
    page.goto(f"{ads_url}/portal/plan.html")
    page.wait_for_url("**/login.html**")
    page.fill("#api-key", "not-a-key")
    page.click("#login-submit")
    page.wait_for_selector("#login-error:has-text('Unknown API key')")
    screenshot("login-rejected")
    page.fill("#api-key", "demo-pricing-manager")  # a retail role: no ads portal
    page.click("#login-submit")
    page.wait_for_selector("#login-error:has-text('no role for this portal')")

    log_in(page, f"{ads_url}/portal/operations.html", ADVERTISER)
    page.wait_for_selector("#staff-only:not([hidden])")
    assert page.locator("#operations").is_hidden()
    screenshot("operations-advertiser")
    page.click("#logout")
    page.wait_for_url("**/login.html**")
    assert_offline_and_clean(page_log, ads_url, console_errors=2)  # the 401 and the 403
