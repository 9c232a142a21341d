"""A simulated market as the optimiser sees it: its true demand as the model, and the
pricing context (cost, reference, competitor, stock) of every product-location."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from scipy import stats

from core.market.simulator import Market
from core.retail.pricing import CONTEXT_SCHEMA


def market_context(market: Market, day: str, history_days: int = 90,
                   inventory: np.ndarray | None = None) -> tuple[pa.Table, np.ndarray]:
    """CONTEXT_SCHEMA rows of every product-location on `day`, and their competitor prices."""
    pl = np.arange(market.n_product_locations)
    history = market.simulate(1, start=np.datetime64(day).item())
    competitor = history.competitor_min_price[0]
    store, product = market.store[pl], market.product[pl]
    ref = market.ref_price[pl]
    table = pa.table({
        "product_id": market.products.product_id[product].tolist(),
        "location_id": market.stores.store_id[store].tolist(),
        "region": market.stores.region[store].tolist(),
        "city": market.stores.city[store].tolist(),
        "category": market.products.category[product].tolist(),
        "urban": market.stores.urban[store],
        "cost": market.cost[pl], "current_price": ref, "reference_price": ref,
        "competitor_price": competitor,
        "inventory": history.inventory_start[0].astype(float) if inventory is None
        else inventory,
        "history_min": ref * 0.8, "history_max": ref * 1.2,
        "history_days": np.full(len(pl), history_days),
    }, schema=CONTEXT_SCHEMA)
    return table, competitor


def true_demand(market: Market):
    """The market's true demand as a ScoreUnits model (negative-binomial quantiles)."""

    def score(rows: pa.Table, prices: np.ndarray):
        pl = market.product_location(rows["product_id"].to_numpy(zero_copy_only=False),
                                     rows["store_id"].to_numpy(zero_copy_only=False))
        day = rows["day"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
        comp = rows["competitor_min_price"].to_numpy(zero_copy_only=False)
        mean = market.expected_units(pl[:, None], np.nan_to_num(prices, nan=1.0),
                                     day[:, None], comp[:, None])
        size = market.spec.dispersion
        p = size / (size + mean)
        return stats.nbinom.ppf(0.1, size, p), mean, stats.nbinom.ppf(0.9, size, p)

    return score
