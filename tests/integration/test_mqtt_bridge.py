"""The MQTT bridge against the real broker: records reach the lake, bad payloads the DLQ."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import ray
from stream_records import kill_ingestors, price_point

from actors.mqtt_bridge import MqttBridge, client_id
from core.ingest.dead_letters import read_dead_letters
from core.ingest.records import LAKE_SCHEMA
from core.lake import PRICE_POINTS, Lake
from core.settings import Settings
from core.stream_sources import BrokerAddress

pytestmark = pytest.mark.slow
TOPIC = "stores/northeast/s1/prices"


def publish(mqtt_url: str, payloads: list[bytes]) -> None:
    """Publish each payload at QoS 1 and wait for the broker's PUBACKs."""
    address = BrokerAddress.parse(mqtt_url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex}")
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        for info in [client.publish(TOPIC, payload, qos=1) for payload in payloads]:
            info.wait_for_publish(timeout=10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def forget_session(mqtt_url: str, settings: Settings) -> None:
    """Drop the bridge's persistent session from the shared broker."""
    address = BrokerAddress.parse(mqtt_url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id(settings),
                         clean_session=True, protocol=mqtt.MQTTv311)
    client.connect(address.host, address.port)
    client.disconnect()


def wait_for_acks(bridge, messages: int, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while (stats := ray.get(bridge.stats.remote()))["acked_messages"] < messages:
        assert time.monotonic() < deadline, f"bridge acknowledged too little: {stats}"
        time.sleep(0.2)
    return stats


@pytest.fixture
def settings(ray_session, mqtt_url: str, redis_url: str, lake_dir: Path) -> Iterator[Settings]:
    settings = Settings(lake_uri=str(lake_dir), redis_url=redis_url, mqtt_url=mqtt_url,
                        namespace=f"test-mqtt-{uuid.uuid4().hex[:12]}")
    yield settings
    kill_ingestors(settings)
    forget_session(mqtt_url, settings)


def test_price_points_reach_the_lake_and_bad_payloads_the_dlq(settings: Settings) -> None:
    tag = uuid.uuid4().hex
    ids = [f"{tag}-{i}" for i in range(5)]
    no_region = {k: v for k, v in price_point(ids[0]).items() if k != "region"}
    payloads = [
        json.dumps(no_region).encode(),  # one object; the topic supplies its region
        json.dumps([price_point(ids[1]), price_point(ids[2])]).encode(),  # an array
        "\n".join(json.dumps(price_point(i)) for i in ids[3:]).encode(),  # NDJSON
        f"{{not json {tag}".encode(),
        json.dumps(price_point(f"{tag}-cheap", price=1.0)).encode(),  # price below cost
    ]
    bridge = MqttBridge.remote(settings, batch_ms=100)
    try:
        assert ray.get(bridge.start.remote())["subscribed"]
        publish(settings.mqtt_url, payloads)
        stats = wait_for_acks(bridge, len(payloads))
    finally:
        ray.kill(bridge)

    assert stats["accepted"] >= len(ids) and stats["rejected"] >= 2
    lake = Lake.open(settings.lake_uri)
    landed = lake.read(PRICE_POINTS, ["record_id", "region"], schema=LAKE_SCHEMA).to_pylist()
    mine = [row for row in landed if row["record_id"].startswith(tag)]
    assert sorted(row["record_id"] for row in mine) == sorted(ids)
    assert {row["region"] for row in mine} == {"northeast"}
    _, dead = read_dead_letters(lake, limit=1000)
    reasons = {row["record_id"] or row["payload"]: row["reason"] for row in dead
               if tag in row["payload"]}
    assert reasons == {json.dumps(f"{{not json {tag}"): "not_an_object",
                       f"{tag}-cheap": "price_not_above_cost"}


def test_messages_sent_while_the_bridge_is_down_arrive_after_a_restart(
    settings: Settings,
) -> None:
    tag = uuid.uuid4().hex
    first = MqttBridge.remote(settings, batch_ms=100)
    try:
        assert ray.get(first.start.remote())["subscribed"]
        ray.get(first.stop.remote())
    finally:
        ray.kill(first)
    publish(settings.mqtt_url, [json.dumps(price_point(f"{tag}-{i}")).encode()
                                for i in range(3)])

    second = MqttBridge.remote(settings, batch_ms=100)
    try:
        ray.get(second.start.remote())
        wait_for_acks(second, 3)
    finally:
        ray.kill(second)
    landed = Lake.open(settings.lake_uri).read(PRICE_POINTS, ["record_id"], schema=LAKE_SCHEMA)
    assert sorted(landed["record_id"].to_pylist()) == [f"{tag}-{i}" for i in range(3)]


def test_a_crashed_bridge_restarts_by_itself_and_loses_nothing(settings: Settings) -> None:
    tag = uuid.uuid4().hex
    bridge = MqttBridge.remote(settings, batch_ms=100)
    try:
        assert ray.get(bridge.start.remote())["subscribed"]
        ray.kill(bridge, no_restart=False)
        publish(settings.mqtt_url, [json.dumps(price_point(f"{tag}-{i}")).encode()
                                    for i in range(3)])
        wait_for_acks(bridge, 3)  # the restarted actor subscribed again without being asked
    finally:
        ray.kill(bridge)
    landed = Lake.open(settings.lake_uri).read(PRICE_POINTS, ["record_id"], schema=LAKE_SCHEMA)
    assert sorted(landed["record_id"].to_pylist()) == [f"{tag}-{i}" for i in range(3)]
