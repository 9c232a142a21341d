"""Price monitor end to end on Ray: ingest -> PriceMonitor -> /api/retail/alerts, SSE and SNS;
killed mid-stream it neither re-alerts nor misses a move."""

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import ray

from actors.price_monitor import ensure_price_monitors, monitor_name
from core.alerts import Alert
from core.ingest.reference import Reference
from core.settings import Settings
from tests.integration.edited_configs import edited_configs
from tests.integration.ingest_app import running_ingest_app
from tests.integration.retail_app import running_retail_app

pytestmark = pytest.mark.slow
ANALYST = {"X-API-Key": "demo-analyst"}


@pytest.fixture
def monitored(settings: Settings, tmp_path: Path, moto_server: str,
              redis_client) -> Iterator[tuple[Settings, Any, str]]:
    """Settings whose alerts go to a stream of this test and to moto SNS (warning topic
    subscribed by an SQS queue); yields (settings, sqs client, queue url)."""
    stream = f"test:{settings.namespace}:alerts"
    topic = f"{settings.namespace}-warning"

    def route_alerts(alerts: dict[str, Any]) -> None:
        alerts["redis_stream"]["key"] = stream
        alerts["sns"] = {"region_name": "us-east-1", "endpoint_url": moto_server,
                         "topics": {"warning": topic}}

    configs = edited_configs(tmp_path / "configs", "alerts", route_alerts)
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=moto_server)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_server)
    topic_arn = sns.create_topic(Name=topic)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=topic)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    settings = dataclasses.replace(settings, configs_dir=configs)
    try:
        yield settings, sqs, queue_url
    finally:
        for region in Reference.load(settings.configs_dir).region_names:
            try:
                ray.kill(ray.get_actor(monitor_name(region), namespace=settings.namespace))
            except ValueError:
                pass
        sqs.delete_queue(QueueUrl=queue_url)
        sns.delete_topic(TopicArn=topic_arn)
        keys = [stream, *redis_client.scan_iter(match=f"{stream}:*"),
                *redis_client.scan_iter(match=f"dynaprice:{settings.namespace}:*")]
        redis_client.delete(*keys)


def point(product: str, minutes_ago: float, price: float, n: int) -> dict[str, Any]:
    ts = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "record_id": f"{product}-{n}", "product_id": product, "sku": f"SKU-{product}",
        "category_path": "grocery/canned", "price": price, "cost": 1.0, "currency": "USD",
        "store_id": "s1", "region": "northeast", "city": "Boston", "postal_code": "02108",
        "timestamp": ts.isoformat(), "units_sold": 3, "inventory_level": 10,
    }


def post(client: httpx.Client, base: str, records: list[dict[str, Any]]) -> None:
    answer = client.post(f"{base}/price-points", json=records).json()
    assert answer["accepted"] == len(records), answer


def sqs_alerts(sqs: Any, queue_url: str, settle_s: float = 2.0) -> list[Alert]:
    """Every alert the queue holds (read until it stays empty for `settle_s`)."""
    alerts: list[Alert] = []
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < settle_s:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=0).get("Messages", [])
        for message in messages:
            alerts.append(Alert.model_validate_json(json.loads(message["Body"])["Message"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if messages:
            quiet_since = time.monotonic()
        else:
            time.sleep(0.2)
    return alerts


def feed_until(client: httpx.Client, base: str, count: int, timeout_s: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        page = client.get(f"{base}/alerts", params={"kind": "price_move", "limit": 1000},
                          headers=ANALYST)
        assert page.status_code == 200, page.text
        alerts = page.json()["alerts"]
        if len(alerts) >= count or time.monotonic() > deadline:
            return alerts
        time.sleep(0.2)


def test_move_reaches_feed_live_stream_and_sns(monitored, serve_port):
    settings, sqs, queue_url = monitored
    ensure_price_monitors(settings)
    with (running_ingest_app(settings, serve_port) as ingest,
          running_retail_app(settings, serve_port) as retail,
          httpx.Client(timeout=30) as client,
          httpx.Client(timeout=30) as live_client):
        assert client.get(f"{retail}/alerts").status_code == 401
        assert client.get(f"{retail}/alerts", params={"cursor": "x"},
                          headers=ANALYST).status_code == 422
        post(client, ingest, [point("p-tuna", 20, 10.0, 0)])
        with live_client.stream("GET", f"{retail}/alerts/live",
                                params={"kind": "price_move", "region": "northeast"},
                                headers=ANALYST) as live:
            assert live.status_code == 200
            post(client, ingest, [point("p-tuna", 10, 12.0, 1)])  # +20% within the hour
            lines = live.iter_lines()
            event = next(line for line in lines if line.startswith("data: "))
        streamed = Alert.model_validate_json(event.removeprefix("data: "))
        assert (streamed.kind, streamed.product_id, streamed.severity) == (
            "price_move", "p-tuna", "warning")
        listed = feed_until(client, retail, 1)
        assert [a["id"] for a in listed] == [streamed.id]
        assert listed[0]["evidence"]["change_pct"] == pytest.approx(20.0)
        assert client.get(f"{retail}/alerts", params={"severity": "critical"},
                          headers=ANALYST).json()["alerts"] == []
    sent = sqs_alerts(sqs, queue_url)
    assert [a.id for a in sent] == [streamed.id]


def test_killed_mid_stream_neither_re_alerts_nor_misses(monitored, serve_port):
    settings, sqs, queue_url = monitored
    monitor = ensure_price_monitors(settings)["northeast"]  # every point below is northeast's
    products = [f"p-{i}" for i in range(30)]
    with (running_ingest_app(settings, serve_port) as ingest,
          running_retail_app(settings, serve_port) as retail,
          httpx.Client(timeout=60) as client):
        post(client, ingest, [point(p, 30, 10.0, 0) for p in products])
        post(client, ingest, [point(p, 25, 12.0, 1) for p in products[:10]])
        deadline = time.monotonic() + 30  # every row judged: the kill lands between batches
        while ray.get(monitor.stats.remote())["rows"] < 40 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ray.get(monitor.flush_alerts.remote())
        ray.kill(monitor, no_restart=False)
        post(client, ingest, [point(p, 20, 12.0, 1) for p in products[10:20]])
        ray.kill(monitor, no_restart=False)  # this time with the batch maybe still in flight
        post(client, ingest, [point(p, 15, 12.0, 1) for p in products[20:]])
        post(client, ingest, [point(p, 14, 12.0, 2) for p in products[:10]])  # no new move
        listed = feed_until(client, retail, len(products))
        stats = ray.get(monitor.stats.remote())
        assert ray.get(monitor.flush_alerts.remote())
    assert stats["replayed_batches"] >= 1  # the restart resumed from the journal
    assert sorted(a["product_id"] for a in listed) == sorted(products)
    sent = [a for a in sqs_alerts(sqs, queue_url) if a.kind == "price_move"]
    assert sorted(a.product_id for a in sent) == sorted(products)  # each once: no re-alert
