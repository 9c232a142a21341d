"""The optimiser against a simulated market's true demand: near-optimal revenue under the
rules, objectives, clearance, fallback, risk notes, elasticity, one model call."""

from __future__ import annotations

import numpy as np
import pytest
from pricing_market import market_context, true_demand

from core.market.simulator import Market, MarketSpec, PriceRules
from core.retail.price_endings import ending_candidates
from core.retail.pricing import Recommendation, Versions, plan_prices, recommend
from core.retail.rules import RuleSet

DAY = "2025-03-10"
VERSIONS = Versions("m1", "f1")
SAME_AS_SIMULATOR = RuleSet(min_margin=0.10, max_discount=0.30, max_premium=0.30,
                            competitor_band=0.20, price_endings=())


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(MarketSpec(seed=3, products=20, stores_per_city=1))


def _recommend(market, rules, objective="revenue", history_days=90, inventory=None,
               score="truth"):
    context, competitor = market_context(market, DAY, history_days, inventory)
    n = context.num_rows
    plan = plan_prices(context, [rules] * n, np.full(n, np.datetime64(DAY)),
                       [objective] * n, min_history_days=14, have_model=score is not None)
    model = true_demand(market) if score == "truth" else score
    return recommend(plan, model, VERSIONS), competitor


def _true_revenue(market, prices, competitor):
    pl = np.arange(market.n_product_locations)
    return prices * market.expected_units(pl, prices, np.datetime64(DAY), competitor)


def _true_optimum_with_endings(market, competitor, endings):
    """The truly best price ending in `endings` within the simulator's bounds (brute force);
    the simulator's optimum where no such price fits."""
    pl = np.arange(market.n_product_locations)
    low, high = market.price_bounds(pl, competitor, PriceRules(0.10, 0.30, 0.30, 0.20))
    optimum = market.optimal_price(pl, DAY, competitor, PriceRules(0.10, 0.30, 0.30, 0.20))
    if not endings:
        return optimum
    ladder = ending_candidates(low, high, endings, 10_000)
    units = market.expected_units(pl[:, None], np.nan_to_num(ladder, nan=1.0),
                                  np.datetime64(DAY), competitor[:, None])
    revenue = np.where(np.isfinite(ladder), ladder * units, -np.inf)
    best = ladder[pl, np.argmax(revenue, axis=1)]
    return np.where(np.isfinite(ladder).any(axis=1), best, optimum)


@pytest.mark.parametrize("endings", [(), (0.99,), (0.49, 0.99)])
def test_revenue_reaches_97_percent_of_the_true_optimum(market, endings):
    rules = SAME_AS_SIMULATOR.merged({"price_endings": endings})
    answers, competitor = _recommend(market, rules)
    chosen = np.array([a["price"] for a in answers])
    optimum = _true_optimum_with_endings(market, competitor, endings)
    ratio = _true_revenue(market, chosen, competitor) / _true_revenue(market, optimum,
                                                                       competitor)
    assert ratio.mean() >= 0.97 and ratio.min() >= 0.95  # whole cents cost a cent at most
    assert all(a["method"] == "model" and a["model_version"] == "m1" for a in answers)
    assert Recommendation.model_validate(answers[0]).price == answers[0]["price"]


def test_objectives_order_prices_and_each_maximises_its_own_measure(market):
    by = {o: _recommend(market, SAME_AS_SIMULATOR, o)[0] for o in ("volume", "revenue",
                                                                    "margin")}
    for volume, revenue, margin in zip(by["volume"], by["revenue"], by["margin"], strict=True):
        assert volume["price"] <= revenue["price"] + 1e-9 <= margin["price"] + 2e-9
        assert volume["price"] == pytest.approx(volume["rules"]["low"], abs=0.01)
        alts = {a["kind"]: a for a in revenue["alternatives"]}
        assert alts["revenue-max"]["price"] == revenue["price"]
        assert alts["margin-max"]["price"] == margin["price"]
        assert alts["volume-max"]["price"] == volume["price"]
        rev, mar = revenue["expected"], margin["expected"]
        assert rev["revenue"]["p50"] >= mar["revenue"]["p50"] - 1e-3
        assert mar["margin"]["p50"] >= rev["margin"]["p50"] - 1e-3


def test_quantiles_are_ordered_and_elasticity_is_the_true_one(market):
    answers, _ = _recommend(market, SAME_AS_SIMULATOR)
    for answer, truth in zip(answers, market.elasticity, strict=True):
        expected, status_quo = answer["expected"], answer["status_quo"]
        for q in (expected["units"], expected["revenue"], status_quo["units"]):
            assert q["p10"] <= q["p50"] <= q["p90"]
        assert answer["elasticity"] == pytest.approx(truth, abs=0.02)


def test_high_stock_gets_a_clearance_price(market):
    flood = np.full(market.n_product_locations, 1e4)
    recommend_rules = SAME_AS_SIMULATOR.merged({"clearance": {"priority": "recommend"}})
    cleared, _ = _recommend(market, recommend_rules, inventory=flood)
    offered, _ = _recommend(market, SAME_AS_SIMULATOR, inventory=flood)
    for c, o in zip(cleared, offered, strict=True):
        assert c["method"] == "clearance" and c["inventory"]["high"]
        assert c["inventory"]["days_of_supply"] > SAME_AS_SIMULATOR.clearance.days_of_supply
        assert c["price"] <= o["price"] and c["price"] >= c["rules"]["clearance_low"] - 1e-9
        assert o["method"] == "model"
        assert {a["kind"] for a in o["alternatives"]} >= {"clearance"}
    normal, _ = _recommend(market, recommend_rules, inventory=np.ones(market.n_product_locations))
    assert all(a["method"] == "model" and not a["inventory"]["high"] for a in normal)
    assert all(a["kind"] != "clearance" for n in normal for a in n["alternatives"])


def test_clearance_price_is_the_highest_that_sells_the_stock_in_time(market):
    rules = SAME_AS_SIMULATOR.merged({"clearance": {"priority": "recommend",
                                                    "days_of_supply": 1, "target_days": 30,
                                                    "max_discount": 0.6, "min_margin": 0}})
    context, competitor = market_context(market, DAY)
    pl = np.arange(market.n_product_locations)
    at_ref = market.expected_units(pl, market.ref_price, np.datetime64(DAY), competitor)
    stock = np.round(at_ref * 30 * 1.1)  # needs a lower price than the reference to clear
    answers, _ = _recommend(market, rules, inventory=stock)
    sold = np.array([a["expected"]["units"]["p50"] for a in answers]) * 30
    cleared = sold >= stock - 1e-6
    assert cleared.mean() > 0.8
    at_floor = np.array([a["price"] <= a["rules"]["clearance_low"] + 0.01 for a in answers])
    assert (cleared | at_floor).all()


def test_short_history_and_no_model_fall_back_to_rules(market):
    short, _ = _recommend(market, SAME_AS_SIMULATOR, history_days=5)
    none, _ = _recommend(market, SAME_AS_SIMULATOR, score=None)
    for answer in short + none:
        assert answer["method"] == "rule-based-fallback" and answer["fallback_reason"]
        assert answer["expected"] is None and answer["alternatives"] == []
        bounds = answer["rules"]
        assert bounds["low"] - 1e-9 <= answer["price"] <= bounds["high"] + 1e-9
    assert "5 days" in short[0]["fallback_reason"]
    assert "no production demand model" in none[0]["fallback_reason"]


def test_risk_note_outside_the_historical_range(market):
    wide = SAME_AS_SIMULATOR.merged({"max_premium": 1.0, "max_discount": 0.6,
                                     "competitor_band": None})
    answers, _ = _recommend(market, wide, "margin")
    outside = [a for a in answers if not a["historical_range"][0] * 0.995 <= a["price"]
               <= a["historical_range"][1] * 1.005]
    assert outside and all(a["risk"] and "outside" in a["risk"] for a in outside)
    inside, _ = _recommend(market, SAME_AS_SIMULATOR.merged({"max_premium": 0.1,
                                                             "max_discount": 0.1}))
    assert all(a["risk"] is None for a in inside)


def test_one_model_call_scores_every_candidate_of_every_item(market):
    calls = []
    truth = true_demand(market)

    def counting(rows, prices):
        calls.append(prices.shape)
        return truth(rows, prices)

    answers, _ = _recommend(market, SAME_AS_SIMULATOR, score=counting)
    assert len(calls) == 1 and calls[0][0] == market.n_product_locations == len(answers)
    assert calls[0][1] > 40
