"""Historical price performance of one product from the feature store: per location, its
prices, volume, competitor comparison, rolling trends, seasonality and elasticity (with
standard error)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.retail.features import ALL_SEASONS

PERFORMANCE = ("n_obs", "price_mean", "price_std", "price_min", "price_median", "price_max",
               "units_mean", "price_units_corr", "first_day", "last_day")
COMPETITION = ("competitor_gap_mean", "competitor_gap_std", "share_above_competitor",
               "competitors_mean")
TRENDS = ("price_avg_7d", "price_avg_30d", "price_avg_90d", "units_avg_7d", "units_avg_30d",
          "units_avg_90d", "price_velocity_wow")
ELASTICITY = ("elasticity", "elasticity_se", "cross_elasticity", "promo_lift")


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4) if np.isfinite(value) else None
    return value if value is None or isinstance(value, (int, str, bool)) else str(value)


def product_analysis(product_id: str, product_locations: pa.Table,
                     stores: pa.Table | None) -> list[dict[str, Any]]:
    """One entry per location of `product_id` in the features (empty when it has none)."""
    rows = product_locations.filter(pc.equal(product_locations["product_id"], product_id))
    store_rows = {} if stores is None else {r["store_id"]: r for r in stores.to_pylist()}
    by_location: dict[str, dict[str, Any]] = {}
    for row in rows.to_pylist():
        entry = by_location.setdefault(row["store_id"], {"location_id": row["store_id"],
                                                         "seasons": {}})
        if row["season"] != ALL_SEASONS:
            entry["seasons"][row["season"]] = {
                "units_mean": _clean(row["units_mean"]), "price_mean": _clean(row["price_mean"]),
                "elasticity": _clean(row["elasticity"]), "n_obs": row["n_obs"]}
            continue
        entry |= {"region": row["region"], "city": row["city"], "category": row["category"],
                  "performance": {k: _clean(row[k]) for k in PERFORMANCE},
                  "competition": {k: _clean(row[k]) for k in COMPETITION},
                  "trends": {k: _clean(row[k]) for k in TRENDS},
                  "elasticity": {k: _clean(row[k]) for k in ELASTICITY},
                  "holiday_factor": _clean(row["holiday_factor"])}
    for location, entry in by_location.items():
        overall = entry.get("performance", {}).get("units_mean")
        for season in entry["seasons"].values():  # seasonal component: season / all
            mean = season["units_mean"]
            season["units_index"] = round(mean / overall, 4) if overall and mean else None
        store = store_rows.get(location)
        if store is not None:
            entry["weekday_index"] = [_clean(store[f"weekday_factor_{d}"]) for d in range(7)]
            entry["month_index"] = [_clean(store[f"month_factor_{m}"]) for m in range(1, 13)]
    return [by_location[k] for k in sorted(by_location)]
