"""Start the long-lived readers of the configured streams (MQTT bridge, Kinesis reader)."""

from __future__ import annotations

from actors.kinesis_reader import KinesisReader
from actors.mqtt_bridge import MqttBridge
from core.settings import Settings


def ensure_stream_sources(settings: Settings, kinesis_stream: str | None = None) -> list[str]:
    """A detached MQTT bridge when MQTT_URL is set, a Kinesis reader when a stream is named."""
    started = []
    common = {"namespace": settings.namespace, "lifetime": "detached", "get_if_exists": True}
    if settings.mqtt_url:
        MqttBridge.options(name="mqtt-bridge", **common).remote(settings)
        started.append(f"MQTT stores/+/+/prices via {settings.mqtt_url}")
    if kinesis_stream:
        KinesisReader.options(name=f"kinesis:{kinesis_stream}", **common).remote(
            settings, kinesis_stream)
        started.append(f"Kinesis stream {kinesis_stream}")
    return started
