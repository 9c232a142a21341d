"""What-if scenarios: a price change (absolute, % or a new price) and an optional competitor
move, valued with the demand model against the status quo at every location of a product.

Status-quo and scenario rows go to the model together (one call, one candidate each).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field, model_validator

from core.retail.pricing import model_rows
from core.retail.rules import RuleSet, price_bounds


class Scenario(BaseModel):
    """Exactly one way to change the price; the competitor move is optional."""

    price_change_pct: float | None = Field(None, gt=-90, le=500,
                                           description="e.g. -10 for a 10% cut")
    price_change: float | None = Field(None, ge=-1e6, le=1e6,
                                       description="absolute change in USD, e.g. -0.50")
    new_price: float | None = Field(None, gt=0, le=1e6, description="the new price in USD")
    competitor_change_pct: float = Field(0.0, gt=-90, le=500,
                                         description="move of the lowest competitor price")

    @model_validator(mode="after")
    def _one_change(self) -> Scenario:
        given = [n for n in ("price_change_pct", "price_change", "new_price")
                 if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of price_change_pct, price_change, new_price")
        return self

    def prices(self, current: np.ndarray) -> np.ndarray:
        if self.new_price is not None:
            return np.full(len(current), self.new_price)
        if self.price_change is not None:
            return current + self.price_change
        return current * (1 + self.price_change_pct / 100)


def scenario_inputs(contexts: pa.Table, scenario: Scenario, day: np.datetime64
                    ) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Model rows (status quo first, then the scenario), their prices [2n, 1], and the
    scenario prices (ValueError if one is not positive)."""
    current = contexts["current_price"].to_numpy(zero_copy_only=False).astype(float)
    new = np.round(scenario.prices(current), 2)
    if (new <= 0).any():
        raise ValueError("the scenario makes a price zero or negative")
    return (*priced_inputs(contexts, new, day, scenario.competitor_change_pct), new)


def priced_inputs(contexts: pa.Table, new: np.ndarray, day: np.datetime64,
                  competitor_change_pct: float = 0.0) -> tuple[pa.Table, np.ndarray]:
    """Model rows (status quo first, then at the `new` prices, one per row) and their
    prices [2n, 1]."""
    current = contexts["current_price"].to_numpy(zero_copy_only=False).astype(float)
    competitor = contexts["competitor_price"].to_numpy(zero_copy_only=False).astype(float)
    moved = contexts.set_column(contexts.schema.get_field_index("competitor_price"),
                                "competitor_price",
                                pa.array(competitor * (1 + competitor_change_pct / 100)))
    days = np.full(contexts.num_rows, day, dtype="datetime64[D]")
    rows = pa.concat_tables([model_rows(contexts, days), model_rows(moved, days)])
    return rows, np.concatenate([current, new])[:, None]


def _measures(price: np.ndarray, cost: np.ndarray, units: np.ndarray) -> list[dict]:
    return [{"price": round(float(p), 2), "units": round(float(u), 4),
             "revenue": round(float(p * u), 4), "margin": round(float((p - c) * u), 4)}
            for p, c, u in zip(price, cost, units, strict=True)]


def scenario_results(contexts: pa.Table, new: np.ndarray, units: np.ndarray,
                     rules: list[RuleSet]) -> list[dict]:
    """Per location: status quo, scenario, their differences, and the rules it would break;
    `units` are the model's P50 for the rows of `scenario_inputs`."""
    n = contexts.num_rows
    units = np.asarray(units, dtype=float).reshape(-1)
    cost = contexts["cost"].to_numpy(zero_copy_only=False).astype(float)
    current = contexts["current_price"].to_numpy(zero_copy_only=False).astype(float)
    base = _measures(current, cost, units[:n])
    what_if = _measures(new, cost, units[n:])
    bounds = price_bounds(rules, cost,
                          contexts["reference_price"].to_numpy(zero_copy_only=False),
                          contexts["competitor_price"].to_numpy(zero_copy_only=False)
                          .astype(float))
    out = []
    for i, location in enumerate(contexts["location_id"].to_pylist()):
        delta = {k: round(what_if[i][k] - base[i][k], 4) for k in ("units", "revenue",
                                                                    "margin")}
        pct = {k: round(100 * delta[k] / base[i][k], 2) if base[i][k] else None
               for k in delta}
        broken = (bounds.low_set_by[i] if new[i] < bounds.low[i] - 1e-9 else []) + \
            (bounds.high_set_by[i] if new[i] > bounds.high[i] + 1e-9 else [])
        out.append({"location_id": location, "status_quo": base[i], "scenario": what_if[i],
                    "change": delta, "change_pct": pct, "breaks_rules": broken})
    return out
