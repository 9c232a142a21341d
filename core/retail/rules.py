"""Business rules bounding a retail price (configs/pricing_rules.yaml), with per-category and
per-request overrides, and the vectorised price bounds they imply.

Precedence when rules conflict: the minimum margin wins, then the upper bounds (max premium,
top of the competitor band), then the lower bounds (max discount, bottom of the band).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.config_files import load_config

EPS = 1e-9
# In cents: float noise only (2.3 * 100 is 229.99999999999997); a bound more than this past
# a whole cent rounds to the next one, so the margin floor is never undercut by more than 1e-11.
CENT_TOLERANCE = 1e-9


class ClearanceRules(BaseModel):
    """When stock is high, and how far a clearance price may go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days_of_supply: float = Field(45.0, gt=0, description="high stock: more days of sales")
    target_days: float = Field(21.0, gt=0, description="sell the stock within these days")
    max_discount: float = Field(0.5, ge=0, lt=1)
    min_margin: float = Field(0.0, ge=0, lt=1)
    priority: Literal["alternative", "recommend"] = "alternative"


class RuleSet(BaseModel):
    """The rules applying to one product-location (after every override)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_margin: float = Field(0.10, ge=0, lt=1)
    max_discount: float = Field(0.30, ge=0, lt=1)
    max_premium: float = Field(0.30, ge=0, le=5)
    competitor_band: float | None = Field(0.20, ge=0, lt=1)
    price_endings: tuple[float, ...] = ()
    clearance: ClearanceRules = ClearanceRules()

    @field_validator("price_endings")
    @classmethod
    def _cents(cls, endings: tuple[float, ...]) -> tuple[float, ...]:
        for ending in endings:
            if not 0 <= ending < 1 or abs(round(ending * 100) - ending * 100) > 1e-6:
                raise ValueError(f"a price ending is whole cents in [0, 0.99], not {ending}")
        return tuple(sorted({round(e, 2) for e in endings}))

    def merged(self, override: dict[str, Any]) -> RuleSet:
        """These rules with `override` (a partial RuleSet, clearance may be partial) on top."""
        data = self.model_dump()
        for key, value in override.items():
            if key == "clearance":
                data["clearance"] = {**data["clearance"], **value}
            else:
                data[key] = value
        return RuleSet.model_validate(data)


class PricingRulesConfig(BaseModel):
    """configs/pricing_rules.yaml."""

    model_config = ConfigDict(extra="forbid")

    min_history_days: int = Field(14, ge=0)
    defaults: RuleSet = RuleSet()
    categories: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def for_category(self, category: str, override: dict[str, Any] | None = None) -> RuleSet:
        rules = self.defaults.merged(self.categories.get(category, {}))
        return rules.merged(override) if override else rules

    @classmethod
    def load(cls, configs_dir: Path | None = None) -> PricingRulesConfig:
        config = load_config("pricing_rules", cls, configs_dir)
        for category in config.categories:  # fail at load, not on the first request
            config.for_category(category)
        return config


@dataclass(frozen=True)
class Bounds:
    """Per item: the allowed [low, high] and the names of the rules setting each end."""

    low: np.ndarray
    high: np.ndarray
    low_set_by: list[list[str]]
    high_set_by: list[list[str]]


def _column(rules: list[RuleSet], get: Any) -> np.ndarray:
    return np.array([get(r) for r in rules], dtype=float)


def margin_floor(cost: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """The lowest price earning `margin` on `cost`: (price - cost) / price >= margin."""
    return cost / (1.0 - margin)


def price_bounds(rules: list[RuleSet], cost: np.ndarray, reference: np.ndarray,
                 competitor: np.ndarray, clearance: bool = False) -> Bounds:
    """Whole-cent bounds per item (competitor NaN: the band does not apply); `clearance`
    allows the clearance discount and margin where they go further than the regular ones."""
    margin = _column(rules, lambda r: r.min_margin)
    discount = _column(rules, lambda r: r.max_discount)
    if clearance:  # never tighter than the regular rules
        margin = np.minimum(margin, _column(rules, lambda r: r.clearance.min_margin))
        discount = np.maximum(discount, _column(rules, lambda r: r.clearance.max_discount))
    premium = _column(rules, lambda r: r.max_premium)
    band = _column(rules, lambda r: np.nan if r.competitor_band is None else r.competitor_band)
    band = np.where(np.isfinite(competitor) & (competitor > 0), band, np.nan)
    with np.errstate(invalid="ignore"):
        lows = {"min_margin": margin_floor(cost, margin),
                "max_discount": reference * (1 - discount),
                "competitor_band": np.where(np.isfinite(band), competitor * (1 - band), -np.inf)}
        highs = {"max_premium": reference * (1 + premium),
                 "competitor_band": np.where(np.isfinite(band), competitor * (1 + band),
                                             np.inf)}
    floor = lows["min_margin"]
    high = np.maximum(np.min(np.stack(list(highs.values())), axis=0), floor)
    low = np.minimum(np.max(np.stack(list(lows.values())), axis=0), high)
    low, high = whole_cents(low, high, floor)
    high_by = _set_by(highs, high, [["min_margin"]] * len(high))
    return Bounds(low, high, _set_by(lows, low, high_by), high_by)


def whole_cents(low: np.ndarray, high: np.ndarray,
                floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds rounded inwards to whole cents; where no cent lies between them, the cent just
    below `high` (a lower-bound rule gives way by less than a cent) unless that is under the
    margin `floor` (then the cent just above it)."""
    low_c, high_c = np.ceil(low * 100 - CENT_TOLERANCE), np.floor(high * 100 + CENT_TOLERANCE)
    floor_c = np.ceil(floor * 100 - CENT_TOLERANCE)
    empty = low_c > high_c
    high_c = np.where(empty, np.maximum(high_c, floor_c), high_c)
    low_c = np.where(empty, high_c, low_c)
    return low_c / 100, high_c / 100


def _set_by(candidates: dict[str, np.ndarray], bound: np.ndarray,
            otherwise: list[list[str]]) -> list[list[str]]:
    """The rules whose value is the bound, per item (`otherwise[i]` when a rule of the other
    end overrode them all)."""
    return [[name for name, values in candidates.items()
             if abs(values[i] - bound[i]) < 0.01] or otherwise[i]
            for i in range(len(bound))]
