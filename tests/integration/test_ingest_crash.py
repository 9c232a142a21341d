"""Kill a RegionIngestor mid-stream: every acknowledged record is in the lake exactly once."""

import asyncio
from datetime import date

import pyarrow.compute as pc
import pytest
import ray

from actors.routing import IngestRouter, ingestor_name
from core.ingest.records import LAKE_SCHEMA
from core.lake import PRICE_POINTS, Lake
from core.market.feed import PriceFeed
from core.market.simulator import Market, MarketSpec
from tests.integration.ingest_app import kill_ingestors

pytestmark = pytest.mark.slow


def test_kill_mid_stream_loses_and_duplicates_nothing(settings, ray_session):
    market = Market(MarketSpec(seed=11, stores_per_city=1, products=30))
    feed = PriceFeed(market, bad_fraction=0.0, run_id="crash")
    records = [r for b in feed.history(days=8, start=date(2026, 10, 1), batch_size=1000)
               for r in b.records if r["region"] == "northeast"]
    chunks = [records[i:i + 150] for i in range(0, len(records), 150)]
    router = IngestRouter(settings)
    victim = ray.get_actor(ingestor_name("northeast"), namespace=settings.namespace)

    async def send_all() -> list[str]:
        acknowledged: list[str] = []
        for n, chunk in enumerate(chunks):
            if n == len(chunks) // 2:
                ray.kill(victim, no_restart=False)
            for _attempt in range(5):  # the sender retries what was not acknowledged
                try:
                    answer = await router.route(chunk, "test")
                    break
                except ray.exceptions.RayActorError:
                    await asyncio.sleep(0.5)
            else:
                raise AssertionError("batch never acknowledged")
            assert answer["rejected"] == 0
            acknowledged += [r["record_id"] for r in chunk]
        return acknowledged

    try:
        acknowledged = asyncio.run(send_all())
        stats = ray.get(victim.stats.remote())
    finally:
        kill_ingestors(settings)
    landed = Lake.open(settings.lake_uri).read(PRICE_POINTS, ["record_id"], schema=LAKE_SCHEMA)
    ids = landed["record_id"]
    assert pc.count_distinct(ids).as_py() == landed.num_rows  # exactly once
    assert set(ids.to_pylist()) == set(acknowledged)
    assert stats["known_record_ids"] > 0  # the restarted actor recovered its ids from the lake
