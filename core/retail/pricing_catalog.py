"""What the pricing endpoints know about each product-location: its latest lake position
(cost, price, stock, competitor price) joined with the model's feature version (reference
price, historical price range, days of history, elasticity), as optimiser contexts.

    catalog = PricingCatalog(positions, features, rules, versions)
    plan, missing = catalog.plan([("P00001", "st-bos-001")], day, "revenue", overrides)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.retail.features import ALL_SEASONS
from core.retail.pricing import CONTEXT_SCHEMA, Objective, Plan, Versions, plan_prices
from core.retail.rules import PricingRulesConfig, RuleSet

MAX_RESOLVED_RULES = 4096
FEATURE_COLUMNS = ("price_median", "price_min", "price_max", "n_obs", "elasticity",
                   "elasticity_se", "units_avg_30d")


class UnknownItem(LookupError):
    """A product or location the catalog does not know."""

    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"unknown {field} {value!r}")
        self.field, self.value = field, value


def _key(product_id: str, location_id: str) -> str:
    return f"{product_id}\x1f{location_id}"


@dataclass(frozen=True)
class PricingCatalog:
    """Positions and features of every product-location, with the rules config."""

    contexts: pa.Table  # CONTEXT_SCHEMA, one row per product-location
    positions: pa.Table  # the lake's latest record per product-location
    features: pa.Table | None  # season "all" feature rows of the model's feature version
    rules: PricingRulesConfig
    versions: Versions
    index: dict[str, int]  # product-location key -> row
    product_ids: frozenset[str]
    location_ids: frozenset[str]
    # (category, override JSON) -> its rules: validating a RuleSet costs more than a request
    resolved_rules: dict[tuple[str, str], RuleSet] = field(default_factory=dict, compare=False)

    @classmethod
    def build(cls, positions: pa.Table, features: pa.Table | None,
              rules: PricingRulesConfig, versions: Versions) -> PricingCatalog:
        every = None
        if features is not None and features.num_rows:
            every = features.filter(pc.equal(features["season"], ALL_SEASONS))
        n = positions.num_rows
        looked = {name: np.full(n, np.nan) for name in FEATURE_COLUMNS}
        if every is not None and n:
            index = pc.index_in(
                pc.binary_join_element_wise(positions["product_id"], positions["store_id"],
                                            "\x1f"),
                value_set=pc.binary_join_element_wise(every["product_id"], every["store_id"],
                                                      "\x1f"))
            known = np.asarray(index.is_valid())
            at = index.fill_null(0).to_numpy(zero_copy_only=False)
            for name in FEATURE_COLUMNS:
                values = every[name].to_numpy(zero_copy_only=False).astype(float)
                looked[name] = np.where(known, values[at], np.nan)
        price = positions["price"].to_numpy(zero_copy_only=False).astype(float)
        reference = np.where(np.isfinite(looked["price_median"]), looked["price_median"],
                             price)
        contexts = pa.table({
            "product_id": positions["product_id"], "location_id": positions["store_id"],
            "region": positions["region"], "city": positions["city"],
            "category": positions["category"], "urban": positions["urban"],
            "cost": positions["cost"], "current_price": positions["price"],
            "reference_price": reference,
            "competitor_price": positions["competitor_min_price"],
            "inventory": pc.cast(positions["inventory_level"], pa.float64()),
            "history_min": pa.array(looked["price_min"], from_pandas=True),
            "history_max": pa.array(looked["price_max"], from_pandas=True),
            "history_days": np.nan_to_num(looked["n_obs"], nan=0).astype(np.int64),
        }, schema=CONTEXT_SCHEMA)
        products = positions["product_id"].to_pylist()
        locations = positions["store_id"].to_pylist()
        index = {_key(p, s): i for i, (p, s) in enumerate(zip(products, locations,
                                                               strict=True))}
        return cls(contexts, positions, every, rules, versions, index, frozenset(products),
                   frozenset(locations))

    def rows_of(self, pairs: list[tuple[str, str]]) -> tuple[np.ndarray, list[int]]:
        """Context rows of the known pairs, and the positions of the unknown ones."""
        rows, missing = [], []
        for i, (product, location) in enumerate(pairs):
            row = self.index.get(_key(product, location))
            if row is None:
                missing.append(i)
            else:
                rows.append(row)
        return np.asarray(rows, dtype=np.int64), missing

    def check(self, product_id: str, location_id: str | None = None) -> None:
        """UnknownItem naming the field when the product or location is not in the lake."""
        if product_id not in self.product_ids:
            raise UnknownItem("product_id", product_id)
        if location_id is not None and location_id not in self.location_ids:
            raise UnknownItem("location_id", location_id)
        if location_id is not None and _key(product_id, location_id) not in self.index:
            raise UnknownItem("location_id", f"{location_id} (for product {product_id})")

    def locations_of(self, product_id: str) -> list[str]:
        mask = pc.equal(self.contexts["product_id"], product_id)
        return self.contexts.filter(mask)["location_id"].to_pylist()

    def rule_sets(self, rows: np.ndarray, override: dict[str, Any] | None) -> list[RuleSet]:
        categories = self.contexts["category"].take(pa.array(rows)).to_pylist()
        wanted = json.dumps(override or {}, sort_keys=True)
        for category in {c for c in categories if (c, wanted) not in self.resolved_rules}:
            if len(self.resolved_rules) >= MAX_RESOLVED_RULES:
                self.resolved_rules.clear()
            self.resolved_rules[category, wanted] = self.rules.for_category(category, override)
        return [self.resolved_rules[c, wanted] for c in categories]

    def plan(self, pairs: list[tuple[str, str]], day: np.datetime64 | np.ndarray,
             objective: Objective | list[Objective], override: dict[str, Any] | None,
             have_model: bool) -> tuple[Plan, list[int]]:
        """The optimiser's plan for the known pairs, and the positions of unknown pairs;
        `day` and `objective` are one for every pair or one per pair. ValueError (naming
        the rule) for bad overrides."""
        rows, missing = self.rows_of(pairs)
        known = np.delete(np.arange(len(pairs)), missing)
        days = np.broadcast_to(np.asarray(day, dtype="datetime64[D]"), (len(pairs),))[known]
        objectives = [objective] * len(rows) if isinstance(objective, str) \
            else [objective[i] for i in known]
        rules = self.rule_sets(rows, override)
        plan = plan_prices(self.contexts.take(pa.array(rows)), rules, days, objectives,
                           self.rules.min_history_days, have_model)
        return plan, missing

    def with_prices(self, updates: list[dict[str, Any]]) -> PricingCatalog:
        """This catalog with current prices from `price-updated` updates."""
        price = self.contexts["current_price"].to_numpy(zero_copy_only=False).copy()
        changed = False
        for update in updates:
            row = self.index.get(_key(update["product_id"], update["location_id"]))
            if row is not None:
                price[row] = float(update["price"])
                changed = True
        if not changed:
            return self
        column = self.contexts.schema.get_field_index("current_price")
        return replace(self, contexts=self.contexts.set_column(column, "current_price",
                                                               pa.array(price)))
