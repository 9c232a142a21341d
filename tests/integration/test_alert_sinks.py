"""The alert sinks against real services: Redis, a moto SNS/SQS server, a local HTTP server."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import redis

from core.alerts import (
    SIGNATURE_HEADER,
    Alert,
    AlertDispatcher,
    AlertKind,
    AlertQuery,
    LogSink,
    RedisStreamSink,
    Severity,
    SnsConfig,
    SuggestedAction,
    WebhookSink,
    follow_alerts,
    read_alerts,
    signature_matches,
    sns_sink_from_config,
)

SOURCE_TS = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_alert(
    key: str, kind: AlertKind = AlertKind.PRICE_MOVE, severity: Severity = Severity.WARNING,
    region: str = "midwest", category: str = "grocery",
) -> Alert:
    return Alert(
        id=Alert.make_id(key, SOURCE_TS), kind=kind, severity=severity, product_id="P1",
        location="S1", category=category, region=region, evidence={"change_pct": 20.0},
        suggested_action=SuggestedAction(text="check", price=9.99), dedup_key=key,
        created_at=datetime.now(UTC), source_ts=SOURCE_TS,
    )


# ---- Redis stream -----------------------------------------------------------------------------


@pytest.fixture
def stream(redis_client: redis.Redis, key_prefix: str) -> tuple[redis.Redis, str]:
    return redis_client, f"{key_prefix}alerts"


def test_stream_pages_newest_first_with_filters(stream: tuple[redis.Redis, str]) -> None:
    client, key = stream
    alerts = [
        make_alert("a", AlertKind.PRICE_MOVE, Severity.WARNING, "midwest"),
        make_alert("b", AlertKind.GEO_ANOMALY, Severity.CRITICAL, "midwest"),
        make_alert("c", AlertKind.PRICE_MOVE, Severity.CRITICAL, "west", category="dairy"),
        make_alert("d", AlertKind.PRICE_MOVE, Severity.WARNING, "midwest"),
        make_alert("e", AlertKind.FLASH_SALE, Severity.INFO, "midwest"),
    ]
    RedisStreamSink(client, key).send(alerts)

    everything = read_alerts(client, AlertQuery(), stream_key=key)
    assert [a.dedup_key for a in everything.alerts] == ["e", "d", "c", "b", "a"]
    assert everything.alerts[2] == alerts[2]
    assert everything.next_cursor is None

    by_kind = read_alerts(client, AlertQuery(kind="price_move", limit=2), stream_key=key, chunk=1)
    assert [a.dedup_key for a in by_kind.alerts] == ["d", "c"]
    rest = read_alerts(client, AlertQuery(kind="price_move", limit=2, cursor=by_kind.next_cursor),
                       stream_key=key, chunk=1)
    assert [a.dedup_key for a in rest.alerts] == ["a"]

    def keys(**filters: str) -> list[str]:
        page = read_alerts(client, AlertQuery.model_validate(filters), stream_key=key)
        return [a.dedup_key for a in page.alerts]

    assert keys(severity="critical") == ["c", "b"]
    assert keys(region="west") == ["c"]
    assert keys(category="dairy", severity="warning") == []
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert keys(since=later) == []
    assert keys(until=later) == ["e", "d", "c", "b", "a"]


def test_stream_adds_each_alert_once_and_trims_approximately(
    stream: tuple[redis.Redis, str],
) -> None:
    client, key = stream
    sink = RedisStreamSink(client, key, maxlen=10)
    sink.send([make_alert("same")])
    sink.send([make_alert("same")])  # a replay after a restart: same id
    assert client.xlen(key) == 1
    sink.send([make_alert(f"k{i}") for i in range(400)])
    assert 10 <= client.xlen(key) < 400


def test_follow_returns_alerts_added_after_a_given_entry(stream: tuple[redis.Redis, str]) -> None:
    client, key = stream
    sink = RedisStreamSink(client, key)
    sink.send([make_alert("old")])
    [(last_id, _)] = follow_alerts(client, "0", stream_key=key, block_ms=100)
    sink.send([make_alert("new")])
    followed = follow_alerts(client, last_id, stream_key=key, block_ms=100)
    assert [a.dedup_key for _, a in followed] == ["new"]


# ---- SNS (moto) -------------------------------------------------------------------------------


def test_sns_publishes_per_severity_with_filterable_attributes(moto_server: str) -> None:
    name = f"dynaprice-test-{uuid.uuid4().hex[:8]}"
    sink = sns_sink_from_config(SnsConfig(
        endpoint_url=moto_server,
        topics={Severity.WARNING: f"{name}-warning", Severity.CRITICAL: f"{name}-critical"},
    ))
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=moto_server)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_server)
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=sink.topic_arns[Severity.WARNING], Protocol="sqs", Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps({"region": ["midwest"]})},
    )
    try:
        sink.send([
            make_alert("wanted", severity=Severity.WARNING, region="midwest"),
            make_alert("other-region", severity=Severity.WARNING, region="west"),
            make_alert("other-topic", severity=Severity.CRITICAL, region="midwest"),
            make_alert("no-topic", severity=Severity.INFO, region="midwest"),
        ])
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
        assert len(received) == 1
        envelope = json.loads(received[0]["Body"])
        assert Alert.model_validate_json(envelope["Message"]).dedup_key == "wanted"
        attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
        assert attributes["region"] == "midwest"
        assert attributes["category"] == "grocery"
        assert envelope["MessageAttributes"]["category"]["Type"] == "String"
    finally:
        sqs.delete_queue(QueueUrl=queue_url)
        for arn in sink.topic_arns.values():
            sns.delete_topic(TopicArn=arn)


# ---- webhook (local HTTP server) --------------------------------------------------------------


class FlakyReceiver(BaseHTTPRequestHandler):
    """Answers 503 to the first `failures` POSTs, then 204; keeps what it was sent."""

    failures = 2
    received: list[tuple[bytes, str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, self.headers.get(SIGNATURE_HEADER, "")))
        self.send_response(503 if len(self.received) <= self.failures else 204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[FlakyReceiver]]]:
    handler = type("Receiver", (FlakyReceiver,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


def test_webhook_retries_until_the_receiver_accepts_and_signs_the_body(
    receiver: tuple[str, type[FlakyReceiver]],
) -> None:
    url, handler = receiver
    alert = make_alert("hooked")
    WebhookSink(url, "s3cret", max_attempts=4, backoff_s=0.01).send([alert])
    assert len(handler.received) == 3
    body, signature = handler.received[-1]
    assert signature_matches("s3cret", body, signature)
    assert not signature_matches("wrong", body, signature)
    assert Alert.model_validate_json(body) == alert


def test_dispatcher_keeps_delivering_when_a_sink_fails(
    stream: tuple[redis.Redis, str],
) -> None:
    client, key = stream
    unreachable = WebhookSink("http://127.0.0.1:9/hook", "s3cret", max_attempts=2, backoff_s=0.01)
    dispatcher = AlertDispatcher([unreachable, RedisStreamSink(client, key), LogSink()])
    dispatcher.dispatch([make_alert("x"), make_alert("y")])
    assert dispatcher.flush(timeout_s=30)
    dispatcher.close()
    assert [a.dedup_key for a in read_alerts(client, AlertQuery(), stream_key=key).alerts] == [
        "y", "x"]
    counters = dispatcher.counters()
    assert counters["webhook"] == {"sent": 0, "failed": 2, "dropped": 0}
    assert counters["redis_stream"]["sent"] == counters["log"]["sent"] == 2
