"""The local Redis and MQTT brokers `make test` and `dynaprice up` fall back on really work."""

from __future__ import annotations

import queue
import shutil
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
import redis

from cluster import local_services
from cluster.local_services import (
    DEFAULT_MQTT_URL,
    DEFAULT_REDIS_URL,
    EmbeddedService,
    ensure_mqtt,
    ensure_redis,
    mqtt_answers,
    port_open,
    redis_answers,
    start_amqtt,
    start_embedded_redis,
    start_mosquitto,
    start_mqtt_broker,
)

BROKER_STARTERS = [
    pytest.param(start_amqtt, id="amqtt"),
    pytest.param(
        start_mosquitto,
        id="mosquitto",
        marks=pytest.mark.skipif(not shutil.which("mosquitto"), reason="mosquitto not on PATH"),
    ),
]


def test_embedded_redis_answers_and_stops() -> None:
    with start_embedded_redis() as service:
        client = redis.Redis.from_url(service.url)
        assert client.ping()
        assert client.set("greeting", b"hello")
        assert client.get("greeting") == b"hello"
        assert client.config_get("save")["save"] == ""
        client.close()
    assert service.process.poll() is not None
    assert not service.workdir.exists()
    assert not port_open("127.0.0.1", urlsplit(service.url).port)


def publish_and_receive(url: str) -> bytes:
    """Publish one QoS 1 message with paho and return what a paho subscriber got."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    topic = f"dynaprice-test/{uuid.uuid4().hex}"
    received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    granted_qos: queue.Queue[int] = queue.Queue()

    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    subscriber.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
    subscriber.on_subscribe = lambda _c, _u, _mid, codes, _props: granted_qos.put(codes[0].value)
    subscriber.on_message = lambda _client, _userdata, message: received.put(message)
    subscriber.connect(host, port)
    subscriber.loop_start()
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    try:
        assert granted_qos.get(timeout=10) == 1
        publisher.connect(host, port)
        publisher.loop_start()
        info = publisher.publish(topic, b"price 9.99", qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published()
        message = received.get(timeout=10)
        assert message.qos == 1
        assert message.topic == topic
        return message.payload
    finally:
        for client in (publisher, subscriber):
            client.disconnect()
            client.loop_stop()


@pytest.mark.parametrize("start_broker", BROKER_STARTERS)
def test_started_broker_delivers_qos1_and_stops(
    start_broker: Callable[[], EmbeddedService],
) -> None:
    with start_broker() as service:
        assert publish_and_receive(service.url) == b"price 9.99"
    assert service.process.poll() is not None
    assert not service.workdir.exists()
    assert not mqtt_answers(service.url, timeout=0.5)


def test_session_broker_delivers_qos1(mqtt_url: str) -> None:
    assert publish_and_receive(mqtt_url) == b"price 9.99"


def test_ensure_keeps_a_given_url() -> None:
    assert ensure_redis("redis://example.invalid:1/0") == ("redis://example.invalid:1/0", None)
    assert ensure_mqtt("mqtt://example.invalid:1") == ("mqtt://example.invalid:1", None)


def test_ensure_reuses_servers_that_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    with start_embedded_redis() as redis_service, start_mqtt_broker() as mqtt_service:
        monkeypatch.setattr(local_services, "DEFAULT_REDIS_URL", redis_service.url)
        monkeypatch.setattr(local_services, "DEFAULT_MQTT_URL", mqtt_service.url)
        assert ensure_redis(None) == (redis_service.url, None)
        assert ensure_mqtt(None) == (mqtt_service.url, None)


@pytest.mark.skipif(
    not (redis_answers(DEFAULT_REDIS_URL) and mqtt_answers(DEFAULT_MQTT_URL)),
    reason="no Redis on 127.0.0.1:6379 or no broker on 127.0.0.1:1883",
)
def test_ensure_reuses_the_machines_servers() -> None:
    assert ensure_redis(None) == (DEFAULT_REDIS_URL, None)
    assert ensure_mqtt(None) == (DEFAULT_MQTT_URL, None)


def test_ensure_starts_its_own_when_nothing_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    dead_redis = f"redis://127.0.0.1:{local_services.free_port()}/0"
    dead_mqtt = f"mqtt://127.0.0.1:{local_services.free_port()}"
    monkeypatch.setattr(local_services, "DEFAULT_REDIS_URL", dead_redis)
    monkeypatch.setattr(local_services, "DEFAULT_MQTT_URL", dead_mqtt)
    redis_url, redis_service = ensure_redis(None)
    mqtt_url, mqtt_service = ensure_mqtt(None)
    assert redis_service is not None and mqtt_service is not None
    with redis_service, mqtt_service:
        assert redis_url != dead_redis and redis_answers(redis_url)
        assert mqtt_url != dead_mqtt and mqtt_answers(mqtt_url)
