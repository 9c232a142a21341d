"""The pricing-manager portal in headless Chromium against the real retail app (a trained
model, the nightly catalogue job's review queue): approve one recommendation and override
another (a rule-breaking price is refused on the page first), see both in the audit log;
watch an alert and a published price arrive without reload; create an experiment and read
its report; the charts; a screenshot of every page."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis

from core.alerts import Alert, AlertKind, RedisStreamSink, Severity, SuggestedAction
from core.retail.experiments import DEFAULT_KEY as EXPERIMENTS
from core.settings import Settings
from tests.browser.portal_browser import PageLog, log_in
from tests.integration.review_app import (
    MANAGER,
    ReviewKeys,
    priced_day,
    running_review_app,
)

pytestmark = [pytest.mark.browser, pytest.mark.ray, pytest.mark.slow]
MANAGER_KEY = MANAGER["X-API-Key"]



@pytest.fixture(scope="module")
def retail_url(review_env: Settings, serve_port: int) -> Iterator[str]:
    with running_review_app(review_env, serve_port) as (url, run):
        assert run.queued >= 4
        yield url


def assert_offline_and_clean(page_log: PageLog, url: str, console_errors: int = 0) -> None:
    """Nothing fetched from outside the server, no script error, only the expected failures
    (the browser logs each 4xx answer) in the console."""
    assert page_log.foreign_requests(url) == []
    assert page_log.page_errors == []
    assert len(page_log.console_errors) == console_errors, page_log.console_errors


def pending_ids(page) -> list[str]:
    page.wait_for_selector("#queue-table tbody tr[data-item]")
    return [row.get_attribute("data-item")
            for row in page.query_selector_all("#queue-table tbody tr[data-item]")]


def test_manager_approves_and_overrides_and_sees_both_in_the_audit_log(
        browser_page, page_log: PageLog, screenshot, retail_url: str) -> None:
    page = browser_page
    log_in(page, f"{retail_url}/portal/review.html", MANAGER_KEY)
    first, second, third = pending_ids(page)[:3]
    screenshot("review-queue")

    page.click(f"tr[data-item='{first}'] button[data-action=approve]")
    page.wait_for_selector("#decision-outcome:has-text('Approved')")
    page.wait_for_selector(f"#queue-table tr[data-item='{first}']", state="detached")

    page.click(f"tr[data-item='{second}'] button[data-action=override]")
    recommended = page.input_value("#decision-price")  # the form starts at the recommendation
    page.fill("#decision-price", "0.05")
    page.fill("#decision-reason", "match the flyer")
    page.click("#decision-submit")
    refused = page.wait_for_selector("#decision-error:not([hidden])")
    assert "below the lowest allowed price" in refused.inner_text()
    screenshot("review-override-refused")
    page.fill("#decision-price", recommended)
    page.fill("#decision-reason", "checked in store")
    page.click("#decision-submit")
    page.wait_for_selector("#decision-outcome:has-text('Overridden')")

    approved = page.wait_for_selector(f"#audit-table tr[data-item='{first}']")
    overridden = page.wait_for_selector(f"#audit-table tr[data-item='{second}']")
    assert "approve" in approved.inner_text() and "demo-pricing-manager" in approved.inner_text()
    assert "override" in overridden.inner_text() and "checked in store" in overridden.inner_text()

    # someone else rejects the third item meanwhile: approving it on this page is a 409
    assert httpx.post(f"{retail_url}/review/{third}/reject", headers=MANAGER,
                      json={"reason": "promotion next week"}).status_code == 200
    page.click(f"tr[data-item='{third}'] button[data-action=approve]")
    conflict = page.wait_for_selector("#decision-outcome.portal-error")
    assert "Already decided" in conflict.inner_text() and "reject" in conflict.inner_text()
    screenshot("review-audit")
    assert_offline_and_clean(page_log, retail_url, console_errors=2)  # the 422 and the 409


def test_live_view_shows_a_new_alert_and_a_published_price_without_reload(
        browser_page, page_log: PageLog, screenshot, retail_url: str, review_env: Settings,
        review_keys: ReviewKeys) -> None:
    page = browser_page
    log_in(page, f"{retail_url}/portal/", MANAGER_KEY)
    page.wait_for_selector("#alerts-live.open")
    page.wait_for_selector("#prices-live.open")
    page.evaluate("window.stillTheSamePage = true")
    item = httpx.get(f"{retail_url}/review/queue", headers=MANAGER).json()["items"][0]
    alert = Alert(id=uuid.uuid4().hex, kind=AlertKind.COMPETITOR_GAP, severity=Severity.CRITICAL,
                  product_id=item["product_id"], location=item["location_id"],
                  category=item["category"], region=item["region"], evidence={"gap_pct": 31.0},
                  suggested_action=SuggestedAction(text="browser-test: match the competitor",
                                                   price=item["recommended_price"]),
                  dedup_key=f"browser-{uuid.uuid4().hex}", created_at=datetime.now(UTC),
                  source_ts=datetime.now(UTC))
    RedisStreamSink(redis.Redis.from_url(review_env.redis_url), review_keys.alerts).send([alert])
    row = page.wait_for_selector(f"#alerts-table tr[data-alert='{alert.id}']")
    assert "sev-critical" in row.get_attribute("class")
    assert "browser-test: match the competitor" in row.inner_text()

    approved = httpx.post(f"{retail_url}/review/{item['id']}/approve", headers=MANAGER)
    assert approved.status_code == 200, approved.text
    pair = f"{item['product_id']}|{item['location_id']}"
    published = page.wait_for_selector(
        f"#prices-table tr[data-item='{pair}']:has-text('published by demo-pricing-manager')")
    assert f"{item['recommended_price']:.2f}" in published.inner_text()
    assert ("▲" if item["recommended_price"] > item["current_price"] else "▼") in \
        published.inner_text()
    assert page.evaluate("window.stillTheSamePage") is True
    screenshot("live")
    assert_offline_and_clean(page_log, retail_url)


def test_experiment_report_and_charts(browser_page, page_log: PageLog, screenshot,
                                      retail_url: str, review_env: Settings) -> None:
    page = browser_page
    name = f"portal-{uuid.uuid4().hex[:6]}"
    log_in(page, f"{retail_url}/portal/experiments.html", MANAGER_KEY)
    try:
        page.fill("#name", name)
        page.fill("#seed", "7")
        page.fill("#start", (priced_day() - timedelta(days=14)).isoformat())
        page.fill("#end", (priced_day() - timedelta(days=1)).isoformat())
        page.fill("#pre-days", "21")
        page.click("#create")
        page.wait_for_selector(f"#experiments-table tr:has-text('{name}')")
        lift = page.wait_for_selector("#revenue-lift")
        assert "Revenue lift" in lift.inner_text() and "95 % CI" in lift.inner_text()
        assert page.inner_text("#report-summary").startswith("14 days observed")
        page.wait_for_selector("#lift-chart .main-svg")
        assert page.locator("#arms-table tbody tr").count() == 2
        screenshot("experiments")
        page.click("#create")  # the same name again: 409, shown on the form
        page.wait_for_selector("#create-error:has-text('exists')")
    finally:
        redis.Redis.from_url(review_env.redis_url).hdel(EXPERIMENTS, name)

    item = httpx.get(f"{retail_url}/review/queue", headers=MANAGER,
                     params={"source": "batch"}).json()["items"][0]
    page.goto(f"{retail_url}/portal/charts.html?product={item['product_id']}"
              f"&location={item['location_id']}&date={item['target_date']}")
    for chart in ("demand-chart", "revenue-chart", "history-chart", "regional-chart"):
        page.wait_for_selector(f"#{chart} .main-svg")
    assert page.inner_text("#curve-title").startswith(
        f"{item['product_id']} at {item['location_id']}")
    assert "Recommended" in page.inner_text("#curve-summary")
    screenshot("charts")
    assert_offline_and_clean(page_log, retail_url, console_errors=1)  # the 409
