"""Review items from recommendations, the override rule check, the audit log and outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from pricing_market import market_context, true_demand

from core.ingest.records import LAKE_SCHEMA, PARTITION_COLUMNS
from core.lake import PRICE_POINTS, RETAIL_AUDIT, Lake
from core.market.simulator import Market, MarketSpec
from core.retail.audit import AuditLog, AuditQuery, audit_entry
from core.retail.outcomes import measure_outcome
from core.retail.pricing import Versions, plan_prices, recommend
from core.retail.review import (
    Decision,
    Measures,
    ReviewItem,
    item_from_recommendation,
    price_problems,
    worth_reviewing,
)
from core.retail.rules import RuleSet

NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def documents() -> list[dict]:
    market = Market(MarketSpec(seed=4, products=5, stores_per_city=1))
    context, _ = market_context(market, "2025-03-10")
    rules = [RuleSet()] * context.num_rows
    plan = plan_prices(context, rules, np.full(context.num_rows, np.datetime64("2025-03-10")),
                       ["revenue"] * context.num_rows, 14, True)
    return recommend(plan, true_demand(market), Versions("m1", "f1"))


def test_items_from_recommendations_are_replay_safe(documents):
    items = [item_from_recommendation(d, "west", NOW) for d in documents]
    again = [item_from_recommendation(d, "west", NOW + timedelta(hours=1)) for d in documents]
    assert [i.id for i in items] == [i.id for i in again]
    assert len({i.id for i in items}) == len(items)
    first = items[0]
    assert first.recommended_price == documents[0]["price"]
    assert first.expected.revenue == documents[0]["expected"]["revenue"]["p50"]
    moved = [d for d in documents if worth_reviewing(d, 1.0)]
    assert 0 < len(moved) <= len(documents)
    assert all(abs(d["price"] / d["current_price"] - 1) >= 0.0099 for d in moved)


def test_price_problems_name_the_broken_rule():
    rules = RuleSet(min_margin=0.2, max_discount=0.3, max_premium=0.3, competitor_band=None,
                    price_endings=(0.99,))
    cost, reference = 8.0, 12.0  # floor 10.00, discount floor 8.40, ceiling 15.60
    assert price_problems(11.99, rules, cost, reference, np.nan) == []
    low = price_problems(9.99, rules, cost, reference, np.nan)
    assert len(low) == 1 and "below the lowest allowed price 10.00" in low[0]
    assert "min_margin" in low[0]
    assert "above the highest allowed price 15.60" in price_problems(
        15.99, rules, cost, reference, np.nan)[0]
    assert "price endings 0.99" in price_problems(11.50, rules, cost, reference, np.nan)[0]
    assert "whole number of cents" in price_problems(11.991, rules, cost, reference,
                                                     np.nan)[0]


def _item() -> ReviewItem:
    return ReviewItem(id="a" * 32, source="batch", product_id="P1", location_id="st-1",
                      region="west", category="grocery", current_price=2.0,
                      recommended_price=2.49, target_date=NOW.date(), method="model",
                      model_version="m1",
                      created_at=NOW - timedelta(days=1))


def _decision(action: str, at: datetime, price: float | None) -> Decision:
    return Decision(action=action, by="ann", role="pricing-manager", at=at, price_before=2.0,
                    price=price, reason="test", expected=None)


def test_audit_log_appends_and_reads_newest_first(tmp_path):
    log = AuditLog(Lake.open(str(tmp_path)))
    item = _item()
    log.append([audit_entry(item, _decision("approve", NOW, 2.49))])
    log.append([audit_entry(item.model_copy(update={"product_id": "P2"}),
                            _decision("reject", NOW + timedelta(days=1), None))])
    entries = log.read(AuditQuery())
    assert [e.action for e in entries] == ["reject", "approve"]
    assert entries[1].price_before == 2.0 and entries[1].price_after == 2.49
    assert entries[0].price_after is None and entries[1].model_version == "m1"
    assert [e.product_id for e in log.read(AuditQuery(action="approve"))] == ["P1"]
    assert log.read(AuditQuery(date_from=(NOW + timedelta(days=1)).date()))[0].action == \
        "reject"
    assert len(log.lake.partitions(RETAIL_AUDIT)) == 2  # one per day, files only added


def test_outcome_compares_sales_after_the_change_with_the_prediction(tmp_path):
    lake = Lake.open(str(tmp_path))
    days = [NOW + timedelta(days=d) for d in range(-9, 5)]
    prices = [2.0 if d < NOW else 2.49 for d in days]
    units = [10 if d < NOW else 8 for d in days]
    n = len(days)
    columns = {"product_id": ["P1"] * n, "store_id": ["st-1"] * n, "ts": days,
               "price": prices, "cost": [1.0] * n, "units_sold": units,
               "region": ["west"] * n, "date": [d.date().isoformat() for d in days]}
    table = pa.table({f.name: pa.array(columns[f.name], f.type) if f.name in columns
                      else pa.nulls(n, f.type) for f in LAKE_SCHEMA}, schema=LAKE_SCHEMA)
    lake.write_partitioned(table, PRICE_POINTS, PARTITION_COLUMNS)
    item = _item().model_copy(update={"status": "approved"})
    item.decision = _decision("approve", NOW - timedelta(minutes=1), 2.49)
    outcome = measure_outcome(lake, item, NOW + timedelta(days=4, hours=1))
    assert outcome.after.days == 5 and outcome.after.total.units == 40
    assert outcome.after.total.revenue == pytest.approx(40 * 2.49)
    assert outcome.before.per_day.units == 10 and outcome.adoption == 1.0
    assert outcome.predicted_total is None

    item.decision.expected = Measures(units=10, revenue=24.9, margin=14.9)
    compared = measure_outcome(lake, item, NOW + timedelta(days=4, hours=1))
    assert compared.predicted_total.units == 50
    assert compared.actual_vs_predicted_pct["units"] == pytest.approx(-20.0)
