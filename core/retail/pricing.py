"""Price recommendations under business rules, vectorised: `plan` lays out every candidate
price of every item, one call of the demand model scores them all, `decide` picks.

    plan = plan_prices(context, rules, day, objective)      # context: CONTEXT_SCHEMA rows
    p10, p50, p90 = model.predict_units(plan.rows, plan.model_prices)
    answers = decide(plan, (p10, p50, p90), versions)

A product-location with fewer observed days than the configured minimum (or any item when
there is no model) gets a rule-based fallback price, marked as such: the allowed price
nearest its reference price.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel

from core.retail.observations import OBSERVATION_SCHEMA
from core.retail.price_endings import cent_grid, ending_candidates, has_ending
from core.retail.rules import EPS, Bounds, RuleSet, price_bounds

Objective = Literal["revenue", "volume", "margin"]
OBJECTIVES: tuple[Objective, ...] = ("revenue", "volume", "margin")
GRID = 48  # candidate prices per item within the regular bounds, and its current price
CLEARANCE_GRID = 8  # more below the regular bounds, down to the clearance floor
ScoreUnits = Callable[[pa.Table, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]

# What the optimiser needs to know about each product-location.
CONTEXT_SCHEMA = pa.schema([
    ("product_id", pa.string()), ("location_id", pa.string()), ("region", pa.string()),
    ("city", pa.string()), ("category", pa.string()), ("urban", pa.bool_()),
    ("cost", pa.float64()), ("current_price", pa.float64()),
    ("reference_price", pa.float64()), ("competitor_price", pa.float64()),
    ("inventory", pa.float64()), ("history_min", pa.float64()),
    ("history_max", pa.float64()), ("history_days", pa.int64()),
])


def candidate_grid(low: np.ndarray, high: np.ndarray, candidates: int = 41) -> np.ndarray:
    """[n, candidates] evenly spaced prices from `low` to `high` per row."""
    steps = np.linspace(0.0, 1.0, candidates)
    return low[:, None] + (high - low)[:, None] * steps[None, :]


def best_prices(units_at: Callable[[np.ndarray], np.ndarray], low: np.ndarray,
                high: np.ndarray, candidates: int = 41) -> np.ndarray:
    """The price in [low, high] maximising price x `units_at(prices)` ([n, k] -> [n, k])."""
    grid = candidate_grid(low, high, candidates)
    revenue = grid * units_at(grid)
    return grid[np.arange(len(grid)), np.argmax(revenue, axis=1)]


class Quantiles(BaseModel):
    p10: float
    p50: float
    p90: float


class Outcome(BaseModel):
    """Expected daily units, revenue and margin at one price (P10 / P50 / P90)."""

    price: float
    units: Quantiles
    revenue: Quantiles
    margin: Quantiles


class Alternative(Outcome):
    kind: Literal["revenue-max", "volume-max", "margin-max", "clearance"]


class Inventory(BaseModel):
    units: float | None
    days_of_supply: float | None
    high: bool


class AppliedRules(BaseModel):
    """The rule set that applied, the bounds it gave and which rules set them; `bounds` says
    which range the price obeys (`binding` and `relaxed` refer to it)."""

    category: str
    rules: RuleSet
    low: float
    high: float
    low_set_by: list[str]
    high_set_by: list[str]
    binding: list[str]  # rules the recommended price sits on
    relaxed: list[str]  # rules that could not hold (an ending that fits no allowed price)
    clearance_low: float
    clearance_high: float | None = None  # None in documents from before it was reported
    bounds: Literal["regular", "clearance"] = "regular"  # low-high or clearance_low-_high


class Recommendation(BaseModel):
    product_id: str
    location_id: str
    target_date: str
    objective: Objective
    method: Literal["model", "rule-based-fallback", "clearance"]
    fallback_reason: str | None = None
    price: float
    current_price: float
    expected: Outcome | None = None
    status_quo: Outcome | None = None
    elasticity: float | None = None
    alternatives: list[Alternative] = []
    inventory: Inventory
    rules: AppliedRules
    historical_range: tuple[float, float] | None = None
    risk: str | None = None
    model_version: str | None = None
    feature_version: str | None = None


@dataclass(frozen=True)
class Versions:
    model: str | None
    features: str | None


@dataclass(frozen=True)
class Plan:
    """Every candidate price of every item; `rows`/`model_prices` are what the model scores
    (only the modelled items)."""

    context: pa.Table
    rules: list[RuleSet]
    days: np.ndarray  # datetime64[D] per item
    objectives: list[Objective]
    prices: np.ndarray  # [n, k] ascending, NaN-padded
    current_col: np.ndarray  # [n] column of the current price
    regular: Bounds
    clearance: Bounds
    relaxed_ending: np.ndarray  # [n] no price with the ending fits the regular bounds
    clearance_relaxed_ending: np.ndarray  # [n] no price with the ending fits the clearance bounds
    modelled: np.ndarray  # [n] bool
    fallback_reason: list[str | None]

    @property
    def rows(self) -> pa.Table:
        return model_rows(self.context.filter(pa.array(self.modelled)),
                          self.days[self.modelled])

    @property
    def model_prices(self) -> np.ndarray:
        return self.prices[self.modelled]


def _np(table: pa.Table, name: str) -> np.ndarray:
    return table[name].to_numpy(zero_copy_only=False).astype(float)


def model_rows(context: pa.Table, days: np.ndarray) -> pa.Table:
    """Daily observation rows (the demand model's input) for items on `days`."""
    n = context.num_rows
    return pa.table({
        "product_id": context["product_id"], "store_id": context["location_id"],
        "region": context["region"], "city": context["city"],
        "category": context["category"], "urban": context["urban"],
        "day": pa.array(days.astype("datetime64[D]"), pa.date32()),
        "price": context["current_price"], "units": pa.array(np.zeros(n)),
        "competitor_min_price": context["competitor_price"],
        "competitor_count": pa.array(np.ones(n, dtype=np.int64)),
        "discount_pct": pa.array(np.zeros(n)),
    }, schema=OBSERVATION_SCHEMA)


def _sorted_unique(prices: np.ndarray) -> np.ndarray:
    """Each row ascending with repeats replaced by NaN, NaNs last."""
    ordered = np.sort(prices, axis=1)
    repeat = np.zeros(ordered.shape, dtype=bool)
    repeat[:, 1:] = np.isclose(ordered[:, 1:], ordered[:, :-1], rtol=0, atol=1e-9)
    return np.sort(np.where(repeat, np.nan, ordered), axis=1)


def _padded(prices: np.ndarray, width: int) -> np.ndarray:
    return np.hstack([prices, np.full((len(prices), width - prices.shape[1]), np.nan)])


def _ending_fits(low: np.ndarray, high: np.ndarray, ending: tuple[float, ...]) -> np.ndarray:
    """[n] whether some price with the ending lies in [low, high] (always, without one)."""
    if not ending:
        return np.ones(len(low), dtype=bool)
    return np.isfinite(ending_candidates(low, high, ending, 1)[:, 0])


def _grid(low: np.ndarray, high: np.ndarray, ending: tuple[float, ...], k: int,
          fits: np.ndarray) -> np.ndarray:
    """[n, k] candidates in [low, high]: prices with the ending where one `fits` (the lowest
    always among them), whole cents (both bounds among them) elsewhere."""
    cents = cent_grid(low, high, k)
    if not ending:
        return cents
    return np.where(fits[:, None], _padded(ending_candidates(low, high, ending, k), k), cents)


def _candidates(rules: list[RuleSet], regular: Bounds, clearance: Bounds,
                current: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate prices per item (the regular range, the clearance range below it, the
    current price) and whether its ending rule is relaxed in the regular / clearance range.

    Both ranges get an allowed candidate: where the ending fits the clearance range, its
    lowest such price is the lowest of the clearance block or (when above the regular low)
    of the regular block."""
    n = len(rules)
    out = np.full((n, GRID + CLEARANCE_GRID), np.nan)
    regular_fits, clearance_fits = np.ones(n, dtype=bool), np.ones(n, dtype=bool)
    below_regular = np.minimum(clearance.high, regular.low)
    endings = [r.price_endings for r in rules]
    for ending in set(endings):
        rows = np.flatnonzero([e == ending for e in endings])
        low, high = regular.low[rows], regular.high[rows]
        floor, top = clearance.low[rows], below_regular[rows]
        regular_fits[rows] = _ending_fits(low, high, ending)
        clearance_fits[rows] = _ending_fits(floor, clearance.high[rows], ending)
        out[rows] = np.hstack([_grid(low, high, ending, GRID, regular_fits[rows]),
                               _grid(floor, top, ending, CLEARANCE_GRID, clearance_fits[rows])])
    prices = _sorted_unique(np.hstack([out, current[:, None]]))
    return prices, ~regular_fits, ~clearance_fits


def plan_prices(context: pa.Table, rules: list[RuleSet], days: np.ndarray,
                objectives: list[Objective], min_history_days: int,
                have_model: bool) -> Plan:
    """Candidates and bounds of every item in `context` (CONTEXT_SCHEMA)."""
    cost, reference = _np(context, "cost"), _np(context, "reference_price")
    competitor, current = _np(context, "competitor_price"), _np(context, "current_price")
    regular = price_bounds(rules, cost, reference, competitor)
    clearance = price_bounds(rules, cost, reference, competitor, clearance=True)
    prices, relaxed, clearance_relaxed = _candidates(rules, regular, clearance, current)
    current_col = np.nanargmin(np.abs(prices - current[:, None]), axis=1)
    history = context["history_days"].to_numpy(zero_copy_only=False)
    reasons: list[str | None] = [
        "no production demand model yet" if not have_model
        else f"only {int(h)} days of history (the model needs {min_history_days})"
        if h < min_history_days else None for h in history]
    return Plan(context, rules, np.asarray(days, dtype="datetime64[D]"), objectives, prices,
                current_col, regular, clearance, relaxed, clearance_relaxed,
                np.array([r is None for r in reasons], dtype=bool), reasons)


def _allowed(plan: Plan, bounds: Bounds, relaxed: np.ndarray) -> np.ndarray:
    """[n, k] candidates obeying `bounds` and the ending rule unless `relaxed` (at least one
    per row, see `_candidates`)."""
    prices = plan.prices
    with np.errstate(invalid="ignore"):
        ok = (prices >= bounds.low[:, None] - EPS) & (prices <= bounds.high[:, None] + EPS)
    endings = [r.price_endings for r in plan.rules]
    for ending in set(endings) - {()}:
        rows = np.array([e == ending for e in endings]) & ~relaxed
        ok[rows] &= has_ending(prices[rows], ending)
    return ok


def _argmax(score: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    return np.argmax(np.where(allowed, score, -np.inf), axis=1)


def _outcomes(prices: np.ndarray, cost: np.ndarray, q: tuple[np.ndarray, ...],
              col: np.ndarray) -> list[dict]:
    """Outcome documents at column `col` of each row."""
    rows = np.arange(len(col))
    price = np.round(prices[rows, col], 2)
    units = [a[rows, col] for a in q]
    cols = {"price": price.tolist()}
    for measure, factor in (("units", 1.0), ("revenue", price), ("margin", price - cost)):
        cols[measure] = [dict(zip(("p10", "p50", "p90"), v, strict=True)) for v in zip(
            *(np.round(u * factor, 4).tolist() for u in units), strict=True)]
    return [dict(zip(cols, v, strict=True)) for v in zip(*cols.values(), strict=True)]


def _elasticities(prices: np.ndarray, p50: np.ndarray, col: np.ndarray) -> np.ndarray:
    """d log units / d log price at `col` per row, from the neighbouring candidates (NaN
    where undefined); valid candidates come first in each row."""
    rows = np.arange(len(col))
    valid = (prices > 0).sum(axis=1)
    lo, hi = np.maximum(col - 1, 0), np.minimum(col + 1, np.maximum(valid - 1, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.log(p50[rows, hi] / p50[rows, lo]) / np.log(prices[rows, hi]
                                                               / prices[rows, lo])
    return np.where(np.isfinite(slope), slope, np.nan)



def decide(plan: Plan, quantiles: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
           versions: Versions) -> list[dict]:
    """The recommendation (a Recommendation document) of every planned item from the
    model's P10/P50/P90 units at each candidate (rows of the modelled items only; None when
    nothing is modelled)."""
    n, k = plan.prices.shape
    if n == 0:
        return []
    q = tuple(np.zeros((n, k)) for _ in range(3))
    if quantiles is not None and plan.modelled.any():
        for full, part in zip(q, quantiles, strict=True):
            full[plan.modelled] = np.asarray(part, dtype=float).reshape(-1, k)
    p50 = q[1]
    prices = np.nan_to_num(plan.prices, nan=0.0)
    cost = _np(plan.context, "cost")
    regular = _allowed(plan, plan.regular, plan.relaxed_ending)
    clearance = _allowed(plan, plan.clearance, plan.clearance_relaxed_ending)
    tie = 1e-9 * prices  # equal scores: the higher price
    best = {"revenue": _argmax(prices * p50 + tie, regular),
            "volume": _argmax(p50 + tie, regular),
            "margin": _argmax((prices - cost[:, None]) * p50 + tie, regular)}
    reference = _np(plan.context, "reference_price")
    nearest_reference = _argmax(-np.abs(prices - reference[:, None]), regular)
    inventory = _np(plan.context, "inventory")
    rows = np.arange(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        days_of_supply = inventory / p50[rows, plan.current_col]
    target = np.array([r.clearance.target_days for r in plan.rules])
    trigger = np.array([r.clearance.days_of_supply for r in plan.rules])
    clears = clearance & (p50 * target[:, None] >= inventory[:, None])
    clearance_col = np.where(clears.any(axis=1), _argmax(prices, clears),
                             _argmax(p50 + tie, clearance))
    high_stock = plan.modelled & np.isfinite(inventory) & (days_of_supply > trigger)
    clear_first = high_stock & np.array([r.clearance.priority == "recommend"
                                         for r in plan.rules])
    by_objective = np.choose(np.array([OBJECTIVES.index(o) for o in plan.objectives]),
                             [best[o] for o in OBJECTIVES])
    col = np.where(~plan.modelled, nearest_reference,
                   np.where(clear_first, clearance_col, by_objective))
    method = np.where(~plan.modelled, "rule-based-fallback",
                      np.where(clear_first, "clearance", "model"))
    price = prices[rows, col]
    elasticity = _elasticities(prices, p50, col)
    alternatives = {kind: _outcomes(prices, cost, q, c) for kind, c in (
        ("revenue-max", best["revenue"]), ("volume-max", best["volume"]),
        ("margin-max", best["margin"]), ("clearance", clearance_col))}
    expected = _outcomes(prices, cost, q, col)
    status_quo = _outcomes(prices, cost, q, plan.current_col)
    return [_document(plan, i, row, float(price[i]), str(method[i]), expected[i],
                      status_quo[i], elasticity[i],
                      {kind: alts[i] for kind, alts in alternatives.items()
                       if kind != "clearance" or high_stock[i]},
                      bool(high_stock[i]), float(days_of_supply[i]), versions)
            for i, row in enumerate(plan.context.to_pylist())]


def _finite(value: float | None) -> float | None:
    return value if value is not None and np.isfinite(value) else None


@cache
def _rules_document(rules: RuleSet) -> dict:
    return rules.model_dump()


def _document(plan: Plan, i: int, row: dict, price: float, method: str, expected: dict,
              status_quo: dict, elasticity: float, alternatives: dict[str, dict],
              high_stock: bool, days_of_supply: float, versions: Versions) -> dict:
    modelled = bool(plan.modelled[i])
    clearing = method == "clearance"
    bounds = plan.clearance if clearing else plan.regular
    relaxed = (plan.clearance_relaxed_ending if clearing else plan.relaxed_ending)[i]
    binding = (bounds.low_set_by[i] if price <= bounds.low[i] + 0.01 else []) + \
        (bounds.high_set_by[i] if price >= bounds.high[i] - 0.01 else [])
    low_seen, high_seen = _finite(row["history_min"]), _finite(row["history_max"])
    seen = None if low_seen is None or high_seen is None else (low_seen, high_seen)
    risk = None
    if seen and modelled and not seen[0] * 0.995 <= price <= seen[1] * 1.005:
        risk = (f"{price:.2f} is outside the price range the model saw "
                f"({seen[0]:.2f}-{seen[1]:.2f}): its demand estimate is an extrapolation")
    inventory = _finite(row["inventory"])
    return {
        "product_id": row["product_id"], "location_id": row["location_id"],
        "target_date": str(plan.days[i]), "objective": plan.objectives[i], "method": method,
        "fallback_reason": plan.fallback_reason[i], "price": round(price, 2),
        "current_price": row["current_price"],
        "expected": expected if modelled else None,
        "status_quo": status_quo if modelled else None,
        "elasticity": round(float(elasticity), 4) if modelled and np.isfinite(elasticity)
        else None,
        "alternatives": [{"kind": kind, **a} for kind, a in alternatives.items()]
        if modelled else [],
        "inventory": {"units": inventory,
                      "days_of_supply": round(days_of_supply, 2) if modelled
                      and inventory is not None and np.isfinite(days_of_supply) else None,
                      "high": high_stock},
        "rules": {"category": row["category"], "rules": _rules_document(plan.rules[i]),
                  "low": round(float(plan.regular.low[i]), 4),
                  "high": round(float(plan.regular.high[i]), 4),
                  "low_set_by": plan.regular.low_set_by[i],
                  "high_set_by": plan.regular.high_set_by[i], "binding": binding,
                  "relaxed": ["price_endings"] if relaxed else [],
                  "clearance_low": round(float(plan.clearance.low[i]), 4),
                  "clearance_high": round(float(plan.clearance.high[i]), 4),
                  "bounds": "clearance" if clearing else "regular"},
        "historical_range": seen, "risk": risk, "model_version": versions.model,
        "feature_version": versions.features,
    }


def recommend(plan: Plan, score: ScoreUnits | None, versions: Versions) -> list[dict]:
    """`decide` with the model called here (one call for every item and candidate)."""
    quantiles = score(plan.rows, plan.model_prices) if score and plan.modelled.any() else None
    return decide(plan, quantiles, versions)
