"""The simulator's truth is consistent, identifiable from its own data, and seeded."""

from __future__ import annotations

import numpy as np
import pytest

from core.market.simulator import Market, MarketHistory, MarketSpec, PriceRules, noise_floor_mape

SPEC = MarketSpec(seed=11, stores_per_city=1, products=15)


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(SPEC)


@pytest.fixture(scope="module")
def history(market: Market) -> MarketHistory:
    return market.simulate(days=120)


def test_expected_units_fall_with_own_price_and_rise_with_competitor_price(market: Market) -> None:
    pl = np.arange(market.n_product_locations)[:, None]
    ref = market.ref_price[pl]
    ladder = ref * np.linspace(0.6, 1.6, 11)
    own = market.expected_units(pl, ladder, "2025-03-04", ref)
    rival = market.expected_units(pl, ref, "2025-03-04", ladder)
    assert (np.diff(own, axis=1) < 0).all()
    assert (np.diff(rival, axis=1) > 0).all()


def test_expected_units_follow_the_elasticity(market: Market) -> None:
    pl = np.arange(market.n_product_locations)
    ref = market.ref_price
    ratio = (market.expected_units(pl, ref * 1.1, "2025-05-01", ref)
             / market.expected_units(pl, ref, "2025-05-01", ref))
    np.testing.assert_allclose(np.log(ratio) / np.log(1.1), market.elasticity)
    assert market.elasticity.min() >= -4.0 and market.elasticity.max() <= -0.5


def test_holidays_lift_demand(market: Market) -> None:
    pl = np.arange(market.n_product_locations)
    ref = market.ref_price
    christmas = market.seasonality(pl, "2025-12-25") / market.seasonality(pl, "2025-12-18")
    np.testing.assert_allclose(christmas, market.holiday_uplift[market.category], rtol=0.05)
    assert (christmas > 1.1).all()
    assert (market.expected_units(pl, ref, "2025-12-24", ref)
            > market.expected_units(pl, ref, "2025-12-17", ref)).all()


@pytest.mark.parametrize("rules", [
    PriceRules(),
    PriceRules(min_margin=0.3, max_discount=0.1, max_premium=0.5, competitor_band=None),
    PriceRules(min_margin=0.05, max_discount=0.5, max_premium=0.1, competitor_band=0.05),
])
def test_optimal_price_obeys_rules_and_beats_every_other_allowed_price(
    market: Market, history: MarketHistory, rules: PriceRules
) -> None:
    pl = np.arange(market.n_product_locations)
    day, competitor = history.day[40], history.competitor_min_price[40]
    best = market.optimal_price(pl, day, competitor, rules)
    low, high = market.price_bounds(pl, competitor, rules)
    assert (best >= low - 1e-9).all() and (best <= high + 1e-9).all()
    assert (best >= market.cost[pl] / (1 - rules.min_margin) - 1e-9).all()

    def revenue(price: np.ndarray) -> np.ndarray:
        return price * market.expected_units(pl[:, None], price, day, competitor[:, None])

    others = low[:, None] + (high - low)[:, None] * np.linspace(0, 1, 997)
    assert (revenue(best[:, None])[:, 0] >= revenue(others).max(axis=1) * (1 - 1e-9)).all()


def test_minimum_margin_wins_when_rules_conflict(market: Market) -> None:
    pl = np.arange(market.n_product_locations)
    cheap_rival = market.cost * 0.5
    rules = PriceRules(min_margin=0.2, competitor_band=0.1)
    best = market.optimal_price(pl, "2025-02-02", cheap_rival, rules)
    np.testing.assert_allclose(best, market.cost / 0.8)


def test_optimum_earns_clearly_more_than_the_baseline_prices(
    market: Market, history: MarketHistory
) -> None:
    pl = np.arange(market.n_product_locations)
    day, competitor = history.day[60], history.competitor_min_price[60]
    best = market.optimal_price(pl, day, competitor)
    gain = (best * market.expected_units(pl, best, day, competitor)
            / (market.ref_price * market.expected_units(pl, market.ref_price, day, competitor)))
    assert gain.mean() > 1.10


def test_elasticity_is_recovered_by_plain_log_log_ols(
    market: Market, history: MarketHistory
) -> None:
    usable = ~history.promo & ~history.stockout & (history.units > 0)
    estimates = []
    for j in range(market.n_product_locations):
        days = usable[:, j]
        slope, _ = np.polyfit(np.log(history.price[days, j]), np.log(history.units[days, j]), 1)
        estimates.append(slope)
    error = np.abs(np.array(estimates) - market.elasticity)
    assert np.median(error) < 0.3
    spread = np.log(history.price[~history.promo] / np.tile(market.ref_price, (120, 1))[
        ~history.promo])
    assert spread.std() > 0.1  # the price experiments are what makes this possible


def test_history_is_plausible(market: Market, history: MarketHistory) -> None:
    assert history.price.shape == (120, market.n_product_locations)
    assert (history.price > market.cost).all()
    assert 0.02 < history.promo.mean() < 0.12
    assert 0 < history.stockout.mean() < 0.05
    assert (history.units <= history.inventory_start).all()
    np.testing.assert_array_equal(history.inventory_end,
                                  history.inventory_start - history.units)
    assert (history.expected_sales <= history.expected_demand + 1e-9).all()
    # E[min(demand, stock)] is what sells on average.
    assert history.units.mean() == pytest.approx(history.expected_sales.mean(), rel=0.02)
    np.testing.assert_allclose(history.discount_pct[history.promo] > 0, True)
    assert (history.discount_pct[~history.promo] == 0).all()


def test_noise_floor_shrinks_with_less_noise() -> None:
    noisy = Market(MarketSpec(seed=3, stores_per_city=1, products=10, dispersion=5.0))
    poisson = Market(MarketSpec(seed=3, stores_per_city=1, products=10, dispersion=None))
    floor_noisy = noise_floor_mape(noisy.simulate(56))
    floor_poisson = noise_floor_mape(poisson.simulate(56))
    assert 0.01 < floor_poisson < floor_noisy < 1.0


def test_noise_floor_window_selects_days(history: MarketHistory) -> None:
    whole = noise_floor_mape(history)
    first = noise_floor_mape(history, end=history.day[56])
    last = noise_floor_mape(history, start=history.day[56])
    assert first != last
    assert min(first, last) <= whole <= max(first, last)


def test_same_seed_same_market_other_seed_other_market(history: MarketHistory) -> None:
    again = Market(SPEC).simulate(days=120)
    for name in ("price", "units", "competitor_prices", "expected_demand", "inventory_end"):
        np.testing.assert_array_equal(getattr(again, name), getattr(history, name))
    other = Market(MarketSpec(seed=12, stores_per_city=1, products=15)).simulate(days=120)
    assert not np.array_equal(other.units, history.units)


def test_truth_table_has_one_row_per_day_and_product_location(
    market: Market, history: MarketHistory
) -> None:
    table = market.truth_table(history)
    assert table.num_rows == history.units.size
    assert table["units"].to_numpy().sum() == history.units.sum()
    row = table.slice(market.n_product_locations + 3, 1).to_pylist()[0]
    assert row["pl"] == 3 and row["elasticity"] == market.elasticity[3]
    assert row["price"] == history.price[1, 3]


def test_product_location_maps_record_ids_to_the_index(market: Market) -> None:
    pl = np.array([0, 17, market.n_product_locations - 1])
    ids = market.products.product_id[market.product[pl]], market.stores.store_id[market.store[pl]]
    np.testing.assert_array_equal(market.product_location(*ids), pl)
    with pytest.raises(KeyError):
        market.product_location(["P99999"], ids[1][:1])
