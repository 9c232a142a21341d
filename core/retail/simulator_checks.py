"""How a demand model and the features fare against a simulated market's known truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.market.simulator import Market, PriceRules
from core.retail.demand_model import DemandModel
from core.retail.features import ALL_SEASONS
from core.retail.pricing import best_prices


def product_locations_of(market: Market, table: pa.Table) -> np.ndarray:
    return market.product_location(table["product_id"].to_numpy(zero_copy_only=False),
                                   table["store_id"].to_numpy(zero_copy_only=False))


def elasticity_errors(market: Market, features: pa.Table) -> np.ndarray:
    """Estimated minus true own-price elasticity per product-location (season "all")."""
    rows = features.filter(pc.equal(features["season"], ALL_SEASONS))
    truth = market.elasticity[product_locations_of(market, rows)]
    return rows["elasticity"].to_numpy(zero_copy_only=False) - truth


@dataclass(frozen=True)
class RevenueCheck:
    """Mean over product-locations of true expected revenue at the model's prices, relative
    to the true optimum and to the simulator's baseline (reference) prices."""

    vs_optimum: float
    vs_baseline: float


def revenue_check(market: Market, model: DemandModel, rows: pa.Table,
                  rules: PriceRules | None = None, candidates: int = 41) -> RevenueCheck:
    """Price every row (a product-location and day) to maximise predicted revenue within the
    rules, and value the choice, the optimum and the baseline with the true demand."""
    rules = rules or PriceRules()
    pl = product_locations_of(market, rows)
    days = rows["day"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    comp = rows["competitor_min_price"].to_numpy(zero_copy_only=False).astype(float)
    low, high = market.price_bounds(pl, comp, rules)

    def predicted(grid: np.ndarray) -> np.ndarray:
        return model.predict_units(rows, grid)[1]

    chosen = best_prices(predicted, low, high, candidates)
    optimum = market.optimal_price(pl, days, comp, rules)

    def revenue(price: np.ndarray) -> np.ndarray:
        per_row = price * market.expected_units(pl, price, days, comp)
        return np.bincount(pl, weights=per_row, minlength=market.n_product_locations)

    seen = np.bincount(pl, minlength=market.n_product_locations) > 0
    model_rev, best_rev = revenue(chosen)[seen], revenue(optimum)[seen]
    base_rev = revenue(market.ref_price[pl])[seen]
    return RevenueCheck(float(np.mean(model_rev / best_rev)), float(np.mean(model_rev / base_rev)))
