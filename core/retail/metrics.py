"""Accuracy of demand forecasts, measured the way the simulator's noise floor is."""

from __future__ import annotations

import numpy as np


def weekly_totals(week_group: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.bincount(week_group, weights=values)


def weekly_mape(week_group: np.ndarray, actual: np.ndarray, predicted: np.ndarray) -> float:
    """MAPE of weekly units per product-location; weeks that sold nothing are skipped."""
    sold = weekly_totals(week_group, actual)
    forecast = weekly_totals(week_group, predicted)
    keep = sold > 0
    return float(np.mean(np.abs(sold[keep] - forecast[keep]) / sold[keep])) if keep.any() \
        else float("nan")


def bias(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Relative over- (+) or under- (-) forecast of total units."""
    total = float(np.sum(actual))
    return float(np.sum(predicted) - total) / total if total else float("nan")


def seasonal_naive(series_key: np.ndarray, period_index: np.ndarray, actual: np.ndarray,
                   forecast_from: int, season: int) -> np.ndarray:
    """Forecast each period >= `forecast_from` of each series by its value `season` periods
    earlier, or by the last value before `forecast_from` when that is not observed."""
    order = np.lexsort((period_index, series_key))
    key, period, value = series_key[order], period_index[order], actual[order]
    lookup = {(int(k), int(p)): float(v) for k, p, v in zip(key, period, value, strict=True)}
    last: dict[int, float] = {}
    for k, p, v in zip(key.tolist(), period.tolist(), value.tolist(), strict=True):
        if p < forecast_from:
            last[k] = v
    forecast = np.array([
        lookup.get((k, p - season), last.get(k, np.nan)) if p - season < forecast_from
        else last.get(k, np.nan)
        for k, p in zip(key.tolist(), period.tolist(), strict=True)])
    out = np.empty_like(forecast)
    out[order] = forecast
    return out
