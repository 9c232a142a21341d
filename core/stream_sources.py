"""What the MQTT bridge and the Kinesis reader share: payload parsing, topics, checkpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis

from core.redis_text import as_text

MQTT_TOPIC_FILTER = "stores/+/+/prices"


def records_from_payload(payload: bytes, region: str | None = None) -> list[Any]:
    """The records in one message: a JSON object, a JSON array, or NDJSON.

    Nothing is dropped: text that is not JSON is returned as a string, which the ingestor
    dead-letters as `not_an_object` with the text kept as its payload. `region` fills each
    object's missing region (the MQTT topic's region, the Kinesis partition key).
    """
    text = payload.decode("utf-8", errors="backslashreplace")
    if not text.strip():
        return []
    try:
        records = _as_list(json.loads(text))
    except (json.JSONDecodeError, RecursionError):
        records = [item for line in text.splitlines() if line.strip()
                   for item in _line_records(line)]
    if region:
        for record in records:
            if isinstance(record, dict) and not record.get("region"):
                record["region"] = region
    return records


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _line_records(line: str) -> list[Any]:
    try:
        return _as_list(json.loads(line))
    except (json.JSONDecodeError, RecursionError):
        return [line]


@dataclass(frozen=True)
class StoreTopic:
    """The parts of `stores/{region}/{store}/prices`."""

    region: str
    store: str

    @classmethod
    def parse(cls, topic: str) -> StoreTopic | None:
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != "stores" or parts[3] != "prices":
            return None
        return cls(region=parts[1], store=parts[2])


@dataclass(frozen=True)
class BrokerAddress:
    """An MQTT_URL such as mqtt://host:1883 or mqtts://user:secret@host:8883."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"MQTT_URL must start with mqtt:// or mqtts://, got {url!r}")
        tls = parts.scheme in ("mqtts", "ssl")
        return cls(host=parts.hostname or "127.0.0.1", port=parts.port or (8883 if tls else 1883),
                   tls=tls, username=parts.username, password=parts.password)


@dataclass
class ShardCheckpoints:
    """The last acknowledged sequence number of each Kinesis shard, kept in Redis."""

    client: redis.Redis
    namespace: str
    stream: str

    def key(self, shard_id: str) -> str:
        return f"{self.namespace}:kinesis:checkpoint:{self.stream}:{shard_id}"

    def get(self, shard_id: str) -> str | None:
        return as_text(self.client.get(self.key(shard_id)))

    def save(self, shard_id: str, sequence_number: str) -> None:
        self.client.set(self.key(shard_id), sequence_number)

    def iterator_request(self, shard_id: str) -> dict[str, str]:
        """Arguments of `get_shard_iterator`: after the checkpoint, else from the start."""
        request = {"StreamName": self.stream, "ShardId": shard_id}
        sequence = self.get(shard_id)
        if sequence is None:
            return request | {"ShardIteratorType": "TRIM_HORIZON"}
        return request | {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                          "StartingSequenceNumber": sequence}
