"""The Kinesis reader against moto: every shard is read, routed, checkpointed and resumed."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import ray
import redis
from stream_records import kill_ingestors, price_point

from actors.kinesis_reader import KinesisReader
from core.ingest.dead_letters import read_dead_letters
from core.ingest.records import LAKE_SCHEMA
from core.lake import PRICE_POINTS, Lake
from core.settings import Settings
from core.stream_sources import ShardCheckpoints

pytestmark = pytest.mark.slow
REGIONS = ("northeast", "midwest", "south", "west")
CITIES = {"northeast": ("Boston", "02108"), "midwest": ("Chicago", "60601"),
          "south": ("Atlanta", "30301"), "west": ("Seattle", "98101")}


def regional_point(record_id: str, region: str) -> dict:
    city, postal_code = CITIES[region]
    return price_point(record_id, region=region, city=city, postal_code=postal_code)


@pytest.fixture
def stream(aws_endpoint: str) -> Iterator[tuple[str, boto3.client]]:
    kinesis = boto3.client("kinesis", endpoint_url=aws_endpoint)
    name = f"prices-{uuid.uuid4().hex[:12]}"
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=name)
    yield name, kinesis
    kinesis.delete_stream(StreamName=name)


@pytest.fixture
def settings(ray_session, aws_endpoint: str, redis_client: redis.Redis, lake_dir: Path,
             redis_url: str) -> Iterator[Settings]:
    settings = Settings(lake_uri=str(lake_dir), redis_url=redis_url,
                        aws_endpoint_url=aws_endpoint,
                        namespace=f"test-kinesis-{uuid.uuid4().hex[:12]}")
    yield settings
    kill_ingestors(settings)
    keys = list(redis_client.scan_iter(match=f"{settings.namespace}:*"))
    if keys:
        redis_client.delete(*keys)


def put(kinesis, stream: str, records: list[tuple[str, bytes]]) -> None:
    for region, data in records:
        kinesis.put_record(StreamName=stream, Data=data, PartitionKey=region)


def read_until(reader, price_points: int, polls: int = 10) -> int:
    """Poll until `price_points` were read; returns how many were."""
    read = 0
    for _ in range(polls):
        read += ray.get(reader.run_once.remote()).get("price_points", 0)
        if read >= price_points:
            break
    return read


def test_records_of_every_shard_land_and_a_new_reader_resumes_from_the_checkpoint(
    settings: Settings, stream: tuple[str, boto3.client], redis_client: redis.Redis,
) -> None:
    name, kinesis = stream
    tag = uuid.uuid4().hex
    first_ids = [f"{tag}-a{i}" for i in range(8)]
    no_region = {k: v for k, v in price_point(f"{tag}-a-ne").items() if k != "region"}
    put(kinesis, name, [(REGIONS[i % 4], json.dumps(regional_point(rid, REGIONS[i % 4])).encode())
                        for i, rid in enumerate(first_ids)]
        + [("northeast", json.dumps(no_region).encode()),  # partition key supplies the region
           ("west", f"garbage {tag}".encode())])

    reader = KinesisReader.remote(settings, name, autostart=False)
    try:
        assert read_until(reader, len(first_ids) + 2) == len(first_ids) + 2
        shards = ray.get(reader.stats.remote())["open_shards"]
    finally:
        ray.kill(reader)
    assert len(shards) == 2
    checkpoints = ShardCheckpoints(redis_client, settings.namespace, name)
    assert all(checkpoints.get(shard) for shard in shards)

    second_ids = [f"{tag}-b{i}" for i in range(4)]
    put(kinesis, name, [(region, json.dumps(regional_point(rid, region)).encode())
                        for rid, region in zip(second_ids, REGIONS, strict=True)])
    resumed = KinesisReader.remote(settings, name, autostart=False)
    try:
        assert read_until(resumed, len(second_ids)) == len(second_ids)  # nothing read twice
        stats = ray.get(resumed.stats.remote())
    finally:
        ray.kill(resumed)
    assert stats["accepted"] == len(second_ids) and stats.get("rejected", 0) == 0

    lake = Lake.open(settings.lake_uri)
    landed = lake.read(PRICE_POINTS, ["record_id", "region"], schema=LAKE_SCHEMA).to_pylist()
    assert sorted(row["record_id"] for row in landed) == sorted(
        [*first_ids, f"{tag}-a-ne", *second_ids])
    assert {row["region"] for row in landed if row["record_id"] == f"{tag}-a-ne"} == {
        "northeast"}
    total, dead = read_dead_letters(lake)
    assert total == 1 and dead[0]["reason"] == "not_an_object" and tag in dead[0]["payload"]


def test_a_crashed_reader_restarts_polling_from_its_checkpoints(
    settings: Settings, stream: tuple[str, boto3.client],
) -> None:
    name, kinesis = stream
    tag = uuid.uuid4().hex
    lake = Lake.open(settings.lake_uri)

    def landed_ids(expected: int, timeout_s: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while len(ids := lake.read(PRICE_POINTS, ["record_id"], schema=LAKE_SCHEMA)[
                "record_id"].to_pylist()) < expected and time.monotonic() < deadline:
            time.sleep(0.3)
        return sorted(ids)

    batches = [[f"{tag}-{n}{i}" for i in range(4)] for n in ("a", "b")]
    reader = KinesisReader.remote(settings, name, interval_s=0.2)
    try:
        put(kinesis, name, [(region, json.dumps(regional_point(rid, region)).encode())
                            for rid, region in zip(batches[0], REGIONS, strict=True)])
        assert landed_ids(4) == batches[0]
        ray.kill(reader, no_restart=False)
        put(kinesis, name, [(region, json.dumps(regional_point(rid, region)).encode())
                            for rid, region in zip(batches[1], REGIONS, strict=True)])
        assert landed_ids(8) == sorted(batches[0] + batches[1])
    finally:
        ray.kill(reader)
    assert read_dead_letters(lake)[0] == 0  # nothing was read twice
