"""Small synthetic observations with a known demand curve (shared by the retail tests)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.retail.observations import OBSERVATION_SCHEMA

TRUE_ELASTICITY = {"P1": -2.5, "P2": -0.8}


def make_observations(days: int = 200, seed: int = 0) -> pa.Table:
    """Two products in two stores; log-linear Poisson demand with a promotion lift."""
    rng = np.random.default_rng(seed)
    rows = []
    start = np.datetime64("2025-01-06")
    for product, elasticity in TRUE_ELASTICITY.items():
        for store, region, urban in (("S1", "west", True), ("S2", "south", False)):
            day = start + np.arange(days)
            price = 10 * rng.choice([0.8, 0.9, 1.0, 1.1, 1.2], days)
            comp = 10 * np.exp(rng.normal(0, 0.05, days))
            promo = rng.random(days) < 0.05
            price = np.where(promo, 8.0, price)
            mean = 30 * (price / 10) ** elasticity * (comp / 10) ** 0.4 * np.where(promo, 1.2, 1)
            rows.append(pa.table({
                "product_id": [product] * days, "store_id": [store] * days,
                "region": [region] * days, "city": ["C"] * days,
                "category": ["grocery" if product == "P1" else "household"] * days,
                "urban": [urban] * days, "day": day, "price": np.round(price, 2),
                "units": rng.poisson(mean).astype(float), "competitor_min_price": comp,
                "competitor_count": np.full(days, 2), "discount_pct": np.where(promo, 20.0, 0.0),
            }, schema=OBSERVATION_SCHEMA))
    return pa.concat_tables(rows)
