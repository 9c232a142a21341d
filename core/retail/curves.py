"""Demand and revenue over a grid of prices for one product-location (the elasticity curve
and revenue-vs-price charts), from the model's P10/P50/P90 units at each price."""

from __future__ import annotations

from typing import Any

import numpy as np

GRID_POINTS = 41
GRID_SPAN = 0.5  # the grid runs from (1 - span) to (1 + span) x the reference price


def curve_grid(reference: float, low: float, high: float, current: float,
               points: int = GRID_POINTS) -> np.ndarray:
    """Prices spanning the reference +- GRID_SPAN and the allowed range, with the current
    price; whole cents, ascending, unique."""
    first = max(0.01, min(reference * (1 - GRID_SPAN), low, current))
    last = max(reference * (1 + GRID_SPAN), high, current)
    grid = np.round(np.append(np.linspace(first, last, points), current), 2)
    return np.unique(grid)


def price_curve(grid: np.ndarray, cost: float, p10: np.ndarray, p50: np.ndarray,
                p90: np.ndarray) -> list[dict[str, Any]]:
    """One point per price: units (P10/P50/P90), revenue, margin and the point elasticity
    d log units / d log price (from neighbouring points)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        elasticity = np.gradient(np.log(np.maximum(p50, 1e-9)), np.log(grid))
    return [{"price": float(p), "units_p10": round(float(a), 4),
             "units_p50": round(float(b), 4), "units_p90": round(float(c), 4),
             "revenue": round(float(p * b), 4), "margin": round(float((p - cost) * b), 4),
             "elasticity": round(float(e), 4) if np.isfinite(e) else None}
            for p, a, b, c, e in zip(grid, p10, p50, p90, elasticity, strict=True)]


def curve_document(context: dict[str, Any], chosen: dict[str, Any], model_version: str,
                   grid: np.ndarray, quantiles: tuple[np.ndarray, np.ndarray, np.ndarray]
                   ) -> dict[str, Any]:
    """The chart data of one product-location: its optimiser context (a row of
    CONTEXT_SCHEMA), the chosen price (a Recommendation document) and the model's P10/P50/P90
    units at each price of `grid`."""
    return {"product_id": context["product_id"], "location_id": context["location_id"],
            "category": context["category"], "current_price": context["current_price"],
            "recommended_price": chosen["price"], "method": chosen["method"],
            "low": chosen["rules"]["low"], "high": chosen["rules"]["high"],
            "cost": context["cost"], "competitor_price": context["competitor_price"],
            "model_version": model_version,
            "points": price_curve(grid, context["cost"],
                                  *(np.asarray(q).reshape(-1) for q in quantiles))}
