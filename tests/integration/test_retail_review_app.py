"""The review workflow through the real `retail` Serve app: the nightly catalogue job (Ray
Data) fills the queue; approve, override and reject show up in the audit log and the
approved prices on the published-prices stream; an alert with a suggested price joins the
queue; experiments, live prices and the price curve answer."""

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis

from core.alerts import Alert, AlertKind, RedisStreamSink, Severity, SuggestedAction
from core.events import PRICE_UPDATED_CHANNEL, encode_price_updated
from core.market.simulator import Market
from core.retail.publication import read_published
from data_jobs.recommend_catalog import recommend_catalog
from tests.integration.review_app import (
    ANALYST,
    DAYS,
    MANAGER,
    SPEC,
    priced_day,
    running_review_app,
)

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def service(review_env, ray_session, serve_port) -> Iterator[tuple[str, int]]:
    with running_review_app(review_env, serve_port) as (url, run):
        assert run.model_version and run.recommended == SPEC.products * 16 and run.queued > 3
        yield url, run.queued
    again = recommend_catalog(review_env, priced_day())
    assert again.queued == 0  # the same day and model again: nothing new


def test_approve_override_reject_audit_and_publish(service, review_env, review_keys):
    url, queued = service
    client_redis = redis.Redis.from_url(review_env.redis_url)
    with httpx.Client(timeout=60) as client:
        page = client.get(f"{url}/review/queue", headers=ANALYST, params={"limit": 100})
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        assert page.json()["count"] == queued and all(i["status"] == "pending" for i in items)
        first, second, third = items[:3]
        assert first["expected"]["revenue"] > 0 and first["model_version"]
        assert client.post(f"{url}/review/{first['id']}/approve",
                           headers=ANALYST).status_code == 403

        approved = client.post(f"{url}/review/{first['id']}/approve", headers=MANAGER)
        assert approved.status_code == 200, approved.text
        assert approved.json()["audit"]["price_after"] == first["recommended_price"]
        again = client.post(f"{url}/review/{first['id']}/approve", headers=MANAGER)
        assert again.status_code == 409 and again.json()["detail"]["decision"]["by"] == \
            "demo-pricing-manager"

        cheap = client.post(f"{url}/review/{second['id']}/override", headers=MANAGER,
                            json={"price": 0.05, "reason": "match the flyer"})
        assert cheap.status_code == 422
        assert "below the lowest allowed price" in cheap.json()["detail"][0]["message"]
        manual = client.get(f"{url}/pricing/curve/{second['product_id']}/"
                            f"{second['location_id']}", headers=ANALYST).json()
        assert manual["low"] <= manual["recommended_price"] <= manual["high"]
        overridden = client.post(f"{url}/review/{second['id']}/override", headers=MANAGER,
                                 json={"price": manual["recommended_price"],
                                       "reason": "checked in store"})
        assert overridden.status_code == 200, overridden.text
        assert overridden.json()["item"]["decision"]["expected"]["units"] > 0

        assert client.post(f"{url}/review/{third['id']}/reject", headers=MANAGER,
                           json={}).status_code == 422
        assert client.post(f"{url}/review/{third['id']}/reject", headers=MANAGER,
                           json={"reason": "promotion next week"}).status_code == 200

        audit = client.get(f"{url}/review/audit", headers=ANALYST).json()["entries"]
        assert sorted((e["action"], e["recommendation_id"]) for e in audit) == sorted([
            ("approve", first["id"]), ("override", second["id"]), ("reject", third["id"])])
        assert {e["who"] for e in audit} == {"demo-pricing-manager"}
        events = read_published(client_redis, review_keys.published)
        assert sorted((e.id, e.price) for e in events) == sorted([
            (first["id"], first["recommended_price"]),
            (second["id"], manual["recommended_price"])])

        outcome = client.get(f"{url}/review/{first['id']}/outcome", headers=ANALYST)
        assert outcome.status_code == 200 and outcome.json()["after"]["days"] == 0
        assert outcome.json()["predicted_per_day"] == first["expected"]
        assert client.get(f"{url}/review/{third['id']}/outcome",
                          headers=ANALYST).status_code == 409
        assert client.get(f"{url}/review/{'0' * 32}", headers=ANALYST).status_code == 404


def test_an_alert_with_a_suggested_price_joins_the_queue(service, review_env, review_keys):
    url, _ = service
    with httpx.Client(timeout=60) as client:
        some = client.get(f"{url}/review/queue", headers=ANALYST).json()["items"][-1]
        alert = Alert(id=uuid.uuid4().hex, kind=AlertKind.COMPETITOR_GAP,
                      severity=Severity.WARNING, product_id=some["product_id"],
                      location=some["location_id"], category=some["category"],
                      region=some["region"], evidence={"gap_pct": 25.0},
                      suggested_action=SuggestedAction(text="match the competitor",
                                                       price=some["current_price"]),
                      dedup_key="gap", created_at=datetime.now(UTC),
                      source_ts=f"{some['target_date']}T12:00:00+00:00")
        RedisStreamSink(redis.Redis.from_url(review_env.redis_url),
                        review_keys.alerts).send([alert])
        found = client.get(f"{url}/review/queue", headers=ANALYST,
                           params={"source": "alert"}).json()["items"]
        assert [i["alert_id"] for i in found] == [alert.id]
        assert found[0]["expected"]["units"] > 0 and found[0]["severity"] == "warning"
        before = client.get(f"{url}/review/{some['id']}", headers=ANALYST).json()
        assert before["status"] == "superseded"  # the newer alert item replaces it


def test_experiment_without_treatment_shows_no_lift(service, review_env):
    url, _ = service
    start = (Market(SPEC).spec.start + timedelta(days=DAYS - 14)).isoformat()
    spec = {"name": f"aa-{uuid.uuid4().hex[:6]}", "start": start, "pre_days": 21}
    with httpx.Client(timeout=60) as client:
        assert client.post(f"{url}/experiments", headers=ANALYST, json=spec).status_code == 403
        created = client.post(f"{url}/experiments", headers=MANAGER, json=spec)
        assert created.status_code == 201, created.text
        experiment = created.json()
        assert client.post(f"{url}/experiments", headers=MANAGER, json=spec).status_code == 409
        assert all(abs(a["control"] - a["treatment"]) <= 1
                   for a in experiment["balance"].values())
        report = client.get(f"{url}/experiments/{experiment['id']}/report", headers=ANALYST)
        assert report.status_code == 200, report.text
        lift = report.json()["lift"]["revenue"]
        assert lift["ci_low"] <= 0 <= lift["ci_high"]  # an A/A test: nothing changed
    redis.Redis.from_url(review_env.redis_url).hdel("dynaprice:experiments", spec["name"])


def test_live_prices_stream_price_updated_events(service, review_env):
    url, _ = service
    update = {"product_id": "P00001", "location_id": "st-x", "region": "west", "city": "x",
              "category": "grocery", "price": 1.99, "ts": "2030-01-01T00:00:00+0000"}
    received: list[str] = []

    def publish_until_received() -> None:
        client = redis.Redis.from_url(review_env.redis_url)
        for _ in range(50):
            if received:
                return
            client.publish(PRICE_UPDATED_CHANNEL, encode_price_updated("west", [
                update, update | {"region": "south"}]))
            time.sleep(0.2)

    threading.Thread(target=publish_until_received, daemon=True).start()
    with httpx.Client(timeout=30) as client, client.stream(
            "GET", f"{url}/prices/live", params={"region": "west"}, headers=ANALYST) as live:
        assert live.status_code == 200
        for line in live.iter_lines():
            if line.startswith("data: "):
                received.append(line)
                break
    event = json.loads(received[0].removeprefix("data: "))
    assert [u["region"] for u in event["updates"]] == ["west"]
