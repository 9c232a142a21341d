"""Business rules: config loading and overrides, and (property test) every answer obeys
every rule of random rule sets, in the documented precedence."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.config_files import ConfigError
from core.retail.price_endings import ending_candidates, has_ending
from core.retail.pricing import CONTEXT_SCHEMA, Versions, plan_prices, recommend
from core.retail.rules import ClearanceRules, PricingRulesConfig, RuleSet

ENDINGS = st.lists(st.sampled_from([0.0, 0.49, 0.95, 0.99]), max_size=2).map(tuple)
RULES = st.builds(
    RuleSet,
    min_margin=st.floats(0.0, 0.6), max_discount=st.floats(0.0, 0.8),
    max_premium=st.floats(0.0, 1.0),
    competitor_band=st.one_of(st.none(), st.floats(0.0, 0.5)), price_endings=ENDINGS,
    clearance=st.builds(dict, max_discount=st.floats(0.0, 0.9), min_margin=st.floats(0, 0.5),
                        priority=st.sampled_from(["alternative", "recommend"]),
                        days_of_supply=st.floats(1, 60)))
CENTS = 1e-9  # float noise in cents; a bound further past a whole cent rounds beyond it
ITEM = st.tuples(st.floats(0.2, 80.0), st.floats(0.7, 3.0), st.one_of(
    st.just(math.nan), st.floats(0.5, 1.6)), st.floats(-4.0, -0.3), st.floats(0, 5000))


def _context(items) -> pa.Table:
    cost = np.array([i[0] for i in items])
    reference = cost * np.array([i[1] for i in items])
    n = len(items)
    return pa.table({
        "product_id": [f"P{k}" for k in range(n)], "location_id": ["S1"] * n,
        "region": ["west"] * n, "city": ["Seattle"] * n, "category": ["grocery"] * n,
        "urban": [True] * n, "cost": cost, "current_price": np.round(reference, 2),
        "reference_price": reference, "competitor_price": reference * [i[2] for i in items],
        "inventory": [i[4] for i in items], "history_min": reference * 0.8,
        "history_max": reference * 1.2, "history_days": [60] * n,
    }, schema=CONTEXT_SCHEMA)


def _model(items):
    elasticity = np.array([i[3] for i in items])

    def score(rows, prices):
        ref = rows["price"].to_numpy()[:, None]
        mean = 20 * (np.nan_to_num(prices, nan=1.0) / ref) ** elasticity[:, None]
        return mean * 0.7, mean, mean * 1.3

    return score


def _clearing(**rules) -> RuleSet:
    clearance = ClearanceRules(days_of_supply=1.0, max_discount=0.0, min_margin=0.0,
                               priority="recommend")
    return RuleSet(max_discount=0.0, max_premium=0.0, clearance=clearance, **rules)


@settings(max_examples=150, deadline=None)
@given(rules=RULES, items=st.lists(ITEM, min_size=1, max_size=6),
       objective=st.sampled_from(["revenue", "volume", "margin"]))
# clearance bounds (capped by the competitor band) below the regular margin floor, no
# candidate with the ending inside them
@example(rules=_clearing(min_margin=0.385, competitor_band=0.0, price_endings=(0.49,)),
         items=[(1.0, 1.0, math.nan, -1.0, 0.0), (3.37109375, 2.0, 0.5, -1.0, 21.0)],
         objective="revenue")
@example(rules=_clearing(min_margin=0.3639081368256925, competitor_band=None,
                         price_endings=(0.99,)),
         items=[(47.69558928655371, 0.7, 0.9775711636486424, -0.45594421639393357,
                 4166.404528894998)], objective="revenue")
# the margin floor 0.5000000067 is not float noise: 0.50 breaks it
@example(rules=RuleSet(min_margin=0.0, max_discount=0.0, max_premium=0.0,
                       competitor_band=None),
         items=[(0.5000000067, 1.0, math.nan, -1.0, 0.0)], objective="volume")
def test_answers_obey_every_rule(rules: RuleSet, items, objective) -> None:
    context = _context(items)
    n = len(items)
    plan = plan_prices(context, [rules] * n, np.full(n, np.datetime64("2025-06-02")),
                       [objective] * n, min_history_days=14, have_model=True)
    answers = recommend(plan, _model(items), Versions("m", "f"))
    for answer, row in zip(answers, context.to_pylist(), strict=True):
        price, cost, ref, comp = (answer["price"], row["cost"], row["reference_price"],
                                  row["competitor_price"])
        assert round(price * 100) == pytest.approx(price * 100, abs=1e-6), "whole cents"
        clearing = answer["method"] == "clearance"
        margin = min(rules.clearance.min_margin, rules.min_margin) if clearing \
            else rules.min_margin
        discount = max(rules.clearance.max_discount, rules.max_discount) if clearing \
            else rules.max_discount
        floor = cost / (1 - margin)
        assert price >= floor - 1e-9, "the minimum margin always holds"
        band = rules.competitor_band if rules.competitor_band is not None and \
            np.isfinite(comp) else None
        upper = min(ref * (1 + rules.max_premium), comp * (1 + band) if band is not None
                    else np.inf)
        lower = max(ref * (1 - discount), comp * (1 - band) if band is not None else 0)
        floor_cent = math.ceil(floor * 100 - CENTS) / 100
        if upper >= floor_cent:
            assert price <= upper + 1e-9, "upper bounds hold unless below the margin floor"
        else:
            assert price <= floor_cent + 1e-9
        if lower <= max(upper, floor):
            # lower bounds hold unless above an upper bound; with no whole cent between
            # them, they give way by less than a cent
            some_cent = math.ceil(max(lower, floor) * 100 - CENTS) <= math.floor(
                max(upper, floor_cent) * 100 + CENTS)
            assert price >= lower - (1e-9 if some_cent else 0.01)
        applied = answer["rules"]
        assert applied["bounds"] == ("clearance" if clearing else "regular")
        low, high = (applied["clearance_low"], applied["clearance_high"]) if clearing \
            else (applied["low"], applied["high"])
        assert low - 1e-9 <= price <= high + 1e-9, "inside the reported bounds"
        if rules.price_endings:
            fits = np.isfinite(ending_candidates(np.array([low]), np.array([high]),
                                                 rules.price_endings, 10)).any()
            if fits:
                assert has_ending(np.array([price]), rules.price_endings)[0]
                assert applied["relaxed"] == []
            else:
                assert applied["relaxed"] == ["price_endings"]
        assert applied["rules"] == rules.model_dump()


def test_repo_config_loads_with_category_overrides() -> None:
    config = PricingRulesConfig.load()
    grocery = config.for_category("grocery")
    assert grocery.price_endings == (0.49, 0.99) and grocery.max_discount == 0.25
    assert grocery.clearance.priority == "recommend"
    assert grocery.clearance.max_discount == config.defaults.clearance.max_discount
    assert config.for_category("unknown-category") == config.defaults
    requested = config.for_category("electronics", {"min_margin": 0.3, "competitor_band": None})
    assert requested.min_margin == 0.3 and requested.competitor_band is None
    assert requested.price_endings == config.defaults.price_endings


@pytest.mark.parametrize("override", [{"price_endings": [0.995]}, {"min_margin": 1.2},
                                      {"no_such_rule": 1}])
def test_bad_rules_are_rejected_naming_the_field(override) -> None:
    with pytest.raises(ValueError, match=next(iter(override))):
        RuleSet().merged(override)


def test_bad_category_override_fails_at_load(tmp_path) -> None:
    (tmp_path / "pricing_rules.yaml").write_text("categories:\n  grocery: {max_discount: 2}\n")
    with pytest.raises((ConfigError, ValueError), match="max_discount"):
        PricingRulesConfig.load(tmp_path)


def test_bounds_name_the_rules_that_set_them() -> None:
    items = [(5.0, 2.0, 1.0, -2.0, 0.0)]  # cost 5, reference 10, competitor 10
    rules = RuleSet(min_margin=0.1, max_discount=0.1, max_premium=0.5, competitor_band=0.05)
    plan = plan_prices(_context(items), [rules], np.array(["2025-06-02"], "datetime64[D]"),
                       ["volume"], 14, True)
    answer = recommend(plan, _model(items), Versions("m", "f"))[0]
    assert answer["rules"]["low_set_by"] == ["competitor_band"]  # 9.5 > 9.0
    assert answer["rules"]["high_set_by"] == ["competitor_band"]  # 10.5 < 15
    assert answer["price"] == 9.5 and answer["rules"]["binding"] == ["competitor_band"]
    ending = plan_prices(_context(items), [rules.merged({"price_endings": [0.99]})],
                         np.array(["2025-06-02"], "datetime64[D]"), ["volume"], 14, True)
    answer = recommend(ending, _model(items), Versions("m", "f"))[0]
    assert answer["price"] == 9.99 and answer["rules"]["binding"] == []


def test_an_empty_request_plans_and_decides_nothing() -> None:
    plan = plan_prices(_context([]), [], np.array([], "datetime64[D]"), [], 14, True)
    assert recommend(plan, _model([]), Versions("m", "f")) == []
