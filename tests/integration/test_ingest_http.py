"""The ingest app over real HTTP: counts add up, DLQ keeps reasons, errors are JSON 4xx."""

import dataclasses
from datetime import date
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pytest

from core.ingest.records import DLQ_SCHEMA, LAKE_SCHEMA
from core.lake import DEAD_LETTERS, PRICE_POINTS, Lake
from core.market.feed import PriceFeed
from core.market.simulator import Market, MarketSpec
from tests.integration.edited_configs import edited_configs
from tests.integration.ingest_app import running_ingest_app

pytestmark = pytest.mark.slow


@pytest.fixture
def small_configs(tmp_path: Path) -> Path:
    """The repo's configs with a 64 KiB body limit."""
    return edited_configs(tmp_path / "configs", "ingest",
                          lambda ingest: ingest.update(max_body_bytes=64 * 1024))


def test_feed_lands_in_lake_or_dlq(settings, serve_port):
    market = Market(MarketSpec(seed=7, stores_per_city=1, products=20))
    feed = PriceFeed(market, bad_fraction=0.05, run_id="http")
    batches = list(feed.history(days=6, start=date(2026, 11, 1), batch_size=2000))
    sent = expected_bad = 0
    with running_ingest_app(settings, serve_port) as base, httpx.Client(timeout=60) as client:
        for batch in batches:
            keep = [i for i, r in enumerate(batch.records) if isinstance(r, dict)]
            body = [batch.records[i] for i in keep]
            response = client.post(f"{base}/price-points", json=body)
            assert response.status_code == 200, response.text
            answer = response.json()
            assert answer["accepted"] + answer["rejected"] == len(body)
            wanted = {keep.index(i): str(reason) for i, reason in batch.expected_reasons.items()
                      if i in keep}
            assert {r["index"]: r["reason"] for r in answer["rejects"]} == wanted
            sent += len(body)
            expected_bad += len(wanted)
        listed = client.get(f"{base}/dead-letters", params={"limit": 5}).json()
        assert listed["total"] == expected_bad and len(listed["items"]) == 5
        reason = listed["items"][0]["reason"]
        only = client.get(f"{base}/dead-letters", params={"reason": reason}).json()
        assert only["items"] and {i["reason"] for i in only["items"]} == {reason}
    lake = Lake.open(settings.lake_uri)
    landed = lake.read(PRICE_POINTS, ["record_id"], schema=LAKE_SCHEMA)
    dead = lake.read(DEAD_LETTERS, ["record_id"], schema=DLQ_SCHEMA)
    assert landed.num_rows + dead.num_rows == sent
    assert dead.num_rows == expected_bad
    assert pc.count_distinct(landed["record_id"]).as_py() == landed.num_rows


def test_errors_are_json_4xx(settings, serve_port, small_configs):
    settings = dataclasses.replace(settings, configs_dir=small_configs)
    with running_ingest_app(settings, serve_port) as base, httpx.Client(timeout=30) as client:
        cases = [
            (client.post(f"{base}/price-points", content=b"{not json",
                         headers={"content-type": "application/json"}), 400, "malformed_json"),
            (client.post(f"{base}/price-points", json=[{"a": 1}, 5]), 422, "invalid_body"),
            (client.post(f"{base}/price-points", json={"records": "x"}), 422, "invalid_body"),
            (client.post(f"{base}/price-points", content=b"[" + b" " * 70_000 + b"]",
                         headers={"content-type": "application/json"}), 413, "payload_too_large"),
            (client.get(f"{base}/dead-letters", params={"reason": "bogus"}), 422,
             "invalid_parameters"),
            (client.get(f"{base}/dead-letters", params={"limit": 0}), 422, "invalid_parameters"),
            (client.get(f"{base}/no-such-thing"), 404, "not_found"),
            (client.delete(f"{base}/price-points"), 405, "method_not_allowed"),
        ]
        for response, status, code in cases:
            assert response.status_code == status, response.text
            assert response.json()["error"] == code
        invalid = client.get(f"{base}/dead-letters", params={"limit": "many"}).json()
        assert invalid["detail"][0]["field"] == "limit"
        shape = client.post(f"{base}/price-points", json=[{"a": 1}, 5]).json()
        assert shape["detail"][0]["field"] == "records[1]"
        assert client.get(f"{base}/docs").status_code == 200
