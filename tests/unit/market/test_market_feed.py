"""The feed's records pass the real ingestion checks; its bad ones fail for the stated reason."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from itertools import islice
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from core.ingest.pipeline import IngestConfig, IngestPipeline
from core.ingest.records import PricePoint, Reason
from core.ingest.reference import Reference
from core.market.feed import TABLE_SCHEMA, FeedBatch, PriceFeed
from core.market.simulator import Market, MarketSpec

SPEC = MarketSpec(seed=5, stores_per_city=1, products=30)
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(SPEC)


@pytest.fixture(scope="module")
def batches(market: Market) -> list[FeedBatch]:
    return list(PriceFeed(market, run_id="t").history(days=10, batch_size=1000))


def _good(batch: FeedBatch) -> list[dict]:
    return [r for i, r in enumerate(batch.records) if i not in batch.expected_reasons]


def test_good_records_pass_and_each_bad_record_gets_its_reason(batches: list[FeedBatch]) -> None:
    pipeline = IngestPipeline(Reference.load(), IngestConfig())
    for batch in batches:
        result = pipeline.process(batch.records, RECEIVED)
        assert {r.index: r.reason for r in result.rejections} == batch.expected_reasons
        assert result.valid.num_rows == len(batch.records) - len(batch.expected_reasons)


def test_every_reason_is_injected_at_about_the_bad_fraction(batches: list[FeedBatch]) -> None:
    kinds = Counter(reason for b in batches for reason in b.expected_reasons.values())
    assert set(kinds) == set(Reason)
    total = sum(len(b.records) for b in batches)
    assert sum(kinds.values()) == pytest.approx(0.03 * total, rel=0.05)


def test_outliers_wait_until_the_category_has_history(market: Market) -> None:
    feed = PriceFeed(market, bad_fraction=0.3, outlier_min_count=10**9)
    kinds = {k for b in feed.history(days=2, batch_size=500) for k in b.expected_reasons.values()}
    assert Reason.OUTLIER_PRICE not in kinds and Reason.DUPLICATE_RECORD_ID in kinds


def test_good_records_are_price_points_as_a_client_sends_them(
    market: Market, batches: list[FeedBatch]
) -> None:
    good = [r for b in batches for r in _good(b)]
    for record in good[:500]:
        PricePoint.model_validate(record)
    assert len({r["record_id"] for r in good}) == len(good)
    currencies = Counter(r["currency"] for r in good)
    assert set(currencies) == {"USD", "CAD", "EUR"} and currencies["USD"] > len(good) / 2
    zones = {city: cfg.timezone for cfg in Reference.load().locations.regions.values()
             for city in cfg.cities}
    for record in good[::97]:
        stamp = datetime.fromisoformat(record["timestamp"])
        local = stamp.replace(tzinfo=None).replace(tzinfo=ZoneInfo(zones[record["city"]]))
        assert stamp.utcoffset() == local.utcoffset()
        assert record["margin"] == pytest.approx(
            (record["price"] - record["cost"]) / record["price"], abs=1e-4)
        assert len(record["competitor_prices"]) == SPEC.competitors_per_store


def test_records_report_the_simulated_days(market: Market) -> None:
    history = market.simulate(days=3)
    records = [r for b in PriceFeed(market, bad_fraction=0.0).history(days=3) for r in b.records]
    assert len(records) == history.units.size
    assert sum(r["units_sold"] for r in records) == history.units.sum()
    fx = Reference.load().fx_rates
    usd = sorted(round(r["price"] * fx[r["currency"]], 1) for r in records)
    np.testing.assert_allclose(usd, np.sort(np.round(history.price.ravel(), 1)), atol=0.15)


def test_live_feed_spreads_each_day_over_store_hours(market: Market) -> None:
    feed = PriceFeed(market, bad_fraction=0.0)
    day = [b.records for b in islice(feed.live(start=date(2025, 3, 3)), 15)]
    history = market.simulate(days=1, start=date(2025, 3, 3))
    assert sum(r["units_sold"] for hour in day for r in hour) == history.units.sum()
    hours = [{r["timestamp"][11:13] for r in hour} for hour in day]
    assert hours == [{f"{h:02d}"} for h in range(7, 22)]
    assert len(day[0]) == market.n_product_locations  # everyone reports at opening
    assert len(day[6]) > len(day[1])  # busier at lunch than early morning


def test_tables_hold_the_same_records(market: Market) -> None:
    tables = list(PriceFeed(market, bad_fraction=0.0, run_id="x").tables(days=2))
    records = [r for b in PriceFeed(market, bad_fraction=0.0, run_id="x").history(days=2)
               for r in b.records]
    assert all(t.schema == TABLE_SCHEMA for t in tables)
    rows = [row for t in tables for row in t.to_pylist()]
    assert len(rows) == len(records)
    for row, record in zip(rows[::50], records[::50], strict=True):
        assert dict(row["competitor_prices"]) == record["competitor_prices"]
        assert {k: v for k, v in row.items() if k != "competitor_prices"} == {
            k: v for k, v in record.items() if k != "competitor_prices"}


def test_same_seed_same_feed(market: Market, batches: list[FeedBatch]) -> None:
    again = list(PriceFeed(Market(SPEC), run_id="t").history(days=10, batch_size=1000))
    assert [b.records for b in again] == [b.records for b in batches]
    assert [b.expected_reasons for b in again] == [b.expected_reasons for b in batches]
