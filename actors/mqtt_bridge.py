"""The MQTT bridge: store price feeds on `stores/{region}/{store}/prices` into the region ingestors.

Delivery is at-least-once. The bridge keeps a persistent broker session (fixed client id,
clean_session=False) and acknowledges each QoS 1 message with a manual PUBACK only after the
ingestors acknowledged its records as durable, so the broker redelivers whatever a crash or a
disconnect left unacknowledged; the ingestors' record-id dedupe drops the repeats.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import ray

from actors.routing import IngestRouter
from core.settings import Settings
from core.stream_sources import MQTT_TOPIC_FILTER, BrokerAddress, StoreTopic, records_from_payload

log = logging.getLogger(__name__)

SOURCE = "mqtt"
RETRY_DELAYS_S = (0.5, 1, 2, 5, 10, 30)


@dataclass(frozen=True)
class _Message:
    mid: int
    qos: int
    records: list[Any]


def client_id(settings: Settings) -> str:
    """The bridge's fixed MQTT client id: its persistent session survives restarts."""
    return f"{settings.namespace}-mqtt-bridge"


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class MqttBridge:
    """Subscribe at QoS 1, batch messages by size or time, route them, then PUBACK them."""

    def __init__(self, settings: Settings, batch_records: int = 5000, batch_ms: int = 200,
                 autostart: bool = True) -> None:
        if not settings.mqtt_url:
            raise ValueError("MqttBridge needs MQTT_URL (e.g. mqtt://127.0.0.1:1883)")
        self.settings = settings
        self.address = BrokerAddress.parse(settings.mqtt_url)
        self.batch_records = batch_records
        self.batch_s = batch_ms / 1000
        self.counts = {"messages": 0, "acked_messages": 0, "records": 0, "accepted": 0,
                       "rejected": 0, "batches": 0, "failed_batches": 0}
        self.connected = False
        self.last_error: str | None = None
        self._client: mqtt.Client | None = None
        self._inbox: asyncio.Queue[_Message] | None = None
        self._pump: asyncio.Task | None = None
        self._subscribed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        if autostart:  # also after a restart: nobody else would call start() again
            ray.get_runtime_context().current_actor.start.remote()

    async def start(self, timeout_s: float = 10.0) -> dict[str, Any]:
        """Connect and subscribe; returns once subscribed (or after `timeout_s`, still trying)."""
        if self._pump is None or self._pump.done():
            self._stopping = False
            self._loop = asyncio.get_running_loop()
            self._inbox = asyncio.Queue()
            self._subscribed = asyncio.Event()
            self._pump = asyncio.create_task(self._forward())  # set before any await: idempotent
            self._pump.add_done_callback(self._pump_ended)
        assert self._subscribed is not None
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout_s)
        except TimeoutError:
            log.warning("MQTT bridge not subscribed after %.0f s; still trying", timeout_s)
        return self.stats()

    def _pump_ended(self, pump: asyncio.Task) -> None:
        if not pump.cancelled() and pump.exception() is not None:
            self.last_error = f"bridge stopped: {pump.exception()!r}"
            log.error("MQTT bridge stopped: %r", pump.exception())

    def _connect(self) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id(self.settings),
                             clean_session=False, protocol=mqtt.MQTTv311, manual_ack=True)
        if self.address.username:
            client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 30)
        client.connect_async(self.address.host, self.address.port, keepalive=30)
        client.loop_start()
        return client

    # paho callbacks: they run on paho's network thread and only hand work to the event loop

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_error = f"connect refused: {reason_code}"
            return
        self.connected = True
        client.subscribe(MQTT_TOPIC_FILTER, qos=1)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected = False
        if reason_code.is_failure:
            self.last_error = f"disconnected: {reason_code}"

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(code.is_failure for code in reason_codes):
            self.last_error = f"subscription to {MQTT_TOPIC_FILTER} refused: {reason_codes}"
            return
        assert self._loop is not None and self._subscribed is not None
        self._loop.call_soon_threadsafe(self._subscribed.set)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        if self._stopping:  # left unacknowledged: the broker redelivers it to the next session
            return
        topic = StoreTopic.parse(message.topic)
        records = records_from_payload(message.payload, topic.region if topic else None)
        assert self._loop is not None and self._inbox is not None
        self._loop.call_soon_threadsafe(self._inbox.put_nowait,
                                        _Message(message.mid, message.qos, records))

    # the event loop side

    async def _forward(self) -> None:
        router = await asyncio.to_thread(IngestRouter, self.settings)
        self._client = self._connect()
        while True:
            batch = await self._next_batch()
            await self._deliver(router, batch)
            self._acknowledge(batch)

    async def _next_batch(self) -> list[_Message]:
        """Messages until `batch_records` records or `batch_ms` after the first one."""
        assert self._inbox is not None
        batch = [await self._inbox.get()]
        records = len(batch[0].records)
        deadline = time.monotonic() + self.batch_s
        while records < self.batch_records and (left := deadline - time.monotonic()) > 0:
            try:
                batch.append(await asyncio.wait_for(self._inbox.get(), left))
            except TimeoutError:
                break
            records += len(batch[-1].records)
        return batch

    async def _deliver(self, router: IngestRouter, batch: list[_Message]) -> None:
        """Route until the ingestors acknowledge; nothing is acked to the broker before."""
        records = [record for message in batch for record in message.records]
        self.counts["messages"] += len(batch)
        if not records:
            return
        attempt = 0
        while True:
            try:
                ack = await router.route(records, SOURCE)
                break
            except Exception as exc:  # ingestor write failed: retry, the broker is still waiting
                self.counts["failed_batches"] += 1
                self.last_error = f"routing failed: {exc!r}"
                log.warning("MQTT bridge batch failed (attempt %d): %r", attempt + 1, exc)
                await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
                attempt += 1
        self.counts["batches"] += 1
        self.counts["records"] += len(records)
        self.counts["accepted"] += ack["accepted"]
        self.counts["rejected"] += ack["rejected"]

    def _acknowledge(self, batch: list[_Message]) -> None:
        assert self._client is not None and self._inbox is not None
        for message in batch:
            self._client.ack(message.mid, message.qos)
            self._inbox.task_done()
        self.counts["acked_messages"] += len(batch)

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "connected": self.connected,
                "subscribed": bool(self._subscribed and self._subscribed.is_set()),
                "queued_messages": self._inbox.qsize() if self._inbox else 0,
                "client_id": client_id(self.settings), "last_error": self.last_error}

    async def stop(self, drain_timeout_s: float = 10.0) -> dict[str, Any]:
        """Finish and acknowledge what is queued, then disconnect (the session stays)."""
        self._stopping = True
        if self._inbox is not None:
            try:
                await asyncio.wait_for(self._inbox.join(), drain_timeout_s)
            except TimeoutError:
                log.warning("MQTT bridge stopped with unacknowledged messages; they will return")
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        self.connected = False
        return self.stats()
