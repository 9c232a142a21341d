"""A pricing experiment run on the simulated market, with its true effect.

Before `start` every product-location charges the status quo (the store's baseline
`ref_price`); from `start` the treated ones charge the simulator's true revenue-optimal price
under the rules, the others keep the status quo. Competitor prices follow the market's own
path; demand is drawn around the true mean (stock never runs out here, so the truth is
exact). The result is lake price points (one record per product-location and day) and the
true lift: expected revenue of the treated at their treatment prices over their expected
revenue at the status quo, over the experiment days.

    run = simulate_experiment(market, treated_mask, start, pre_days=28, days=28)
    lake.write_partitioned(run.price_points, PRICE_POINTS, PARTITION_COLUMNS)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from core.ingest.records import LAKE_SCHEMA
from core.market.simulator import Market, PriceRules


@dataclass(frozen=True)
class ExperimentRun:
    price_points: pa.Table  # LAKE_SCHEMA
    true_lift: float  # expected revenue of the treated: treatment prices / status quo - 1


def simulate_experiment(market: Market, treated: np.ndarray, start: date, pre_days: int,
                        days: int, rules: PriceRules | None = None,
                        seed: int = 0) -> ExperimentRun:
    """`pre_days` at status quo, then `days` with the `treated` product-locations ([n_pl]
    bool) at their optimal prices."""
    total = pre_days + days
    history = market.simulate(total, start=start - timedelta(days=pre_days))
    n_pl = market.n_product_locations
    pl = np.broadcast_to(np.arange(n_pl), (total, n_pl))
    day = np.broadcast_to(history.day[:, None], (total, n_pl))
    competitor = history.competitor_min_price
    status_quo = np.broadcast_to(market.ref_price, (total, n_pl))
    optimal = np.round(market.optimal_price(pl, day, competitor, rules or PriceRules()), 2)
    in_experiment = np.arange(total)[:, None] >= pre_days
    price = np.where(in_experiment & treated[None, :], optimal, status_quo)
    mean = market.expected_units(pl, price, day, competitor)
    rng = np.random.default_rng([market.spec.seed, 40, seed])
    size = market.spec.dispersion
    units = rng.poisson(mean) if size is None else rng.negative_binomial(size,
                                                                         size / (size + mean))
    late = in_experiment & treated[None, :]
    treated_revenue = float((price * mean)[late].sum())
    baseline_mean = market.expected_units(pl, status_quo, day, competitor)
    baseline_revenue = float((status_quo * baseline_mean)[late].sum())
    return ExperimentRun(_price_points(market, history.day, price, units, competitor),
                         treated_revenue / baseline_revenue - 1)


def _price_points(market: Market, days: np.ndarray, price: np.ndarray, units: np.ndarray,
                  competitor: np.ndarray) -> pa.Table:
    """One lake record per (day, product-location), stamped at 17:00 UTC; columns the
    experiment does not need are null."""
    n_days, n_pl = price.shape
    pl = np.tile(np.arange(n_pl), n_days)
    store, product = market.store[pl], market.product[pl]
    day = np.repeat(days, n_pl)
    flat_price, flat_units = price.reshape(-1), units.reshape(-1).astype(np.int64)
    cost = market.cost[pl]
    columns = {
        "record_id": [f"experiment-{i}" for i in range(len(pl))],
        "product_id": market.products.product_id[product],
        "category": market.products.category[product],
        "price": flat_price, "cost": cost,
        "margin": np.round((flat_price - cost) / flat_price, 4),
        "store_id": market.stores.store_id[store], "city": market.stores.city[store],
        "urban": market.stores.urban[store],
        "ts": day.astype("datetime64[us]") + np.timedelta64(17, "h"),
        "units_sold": flat_units, "revenue": np.round(flat_price * flat_units, 2),
        "competitor_min_price": competitor.reshape(-1),
        "region": market.stores.region[store], "date": day.astype(str),
    }
    n = len(pl)
    return pa.table({field.name: pa.array(columns[field.name], field.type)
                     if field.name in columns else pa.nulls(n, field.type)
                     for field in LAKE_SCHEMA}, schema=LAKE_SCHEMA)
