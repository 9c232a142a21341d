"""Candidate prices that end in configured cents (e.g. .99), enumerated without Python loops.

The prices ending in `endings` form a ladder: rung i is floor(i / m) + endings[i % m] for
m endings. Every rung inside [low, high] is a candidate; when there are more than
`max_candidates`, an evenly spaced subset is taken (always including both ends).
"""

from __future__ import annotations

import numpy as np

_TOLERANCE = 1e-6


def _rung_at_or_above(price: np.ndarray, endings: np.ndarray) -> np.ndarray:
    whole = np.floor(price)
    within = np.searchsorted(endings, price - whole - _TOLERANCE, side="left")
    return whole.astype(np.int64) * len(endings) + within


def _rung_at_or_below(price: np.ndarray, endings: np.ndarray) -> np.ndarray:
    whole = np.floor(price)
    within = np.searchsorted(endings, price - whole + _TOLERANCE, side="right") - 1
    return whole.astype(np.int64) * len(endings) + within


def rung_price(rung: np.ndarray, endings: np.ndarray) -> np.ndarray:
    m = len(endings)
    return np.round(rung // m + endings[rung % m], 2)


def ending_candidates(low: np.ndarray, high: np.ndarray, endings: tuple[float, ...],
                      max_candidates: int) -> np.ndarray:
    """[n, k] prices ending in `endings` inside [low, high] per row, NaN-padded (a row with
    no such price is all NaN)."""
    ladder = np.asarray(endings, dtype=float)
    first = _rung_at_or_above(low, ladder)
    count = _rung_at_or_below(high, ladder) - first + 1
    k = int(np.clip(count.max(initial=1), 1, max_candidates))
    steps = np.arange(k)[None, :]
    spread = np.round(np.linspace(0.0, 1.0, k)[None, :] * (count - 1)[:, None]).astype(np.int64)
    offsets = np.where((count <= k)[:, None], steps, spread)
    prices = rung_price(first[:, None] + offsets, ladder)
    return np.where(offsets < count[:, None], prices, np.nan)


def has_ending(price: np.ndarray, endings: tuple[float, ...]) -> np.ndarray:
    """Whether each price ends in one of `endings` (any price when there are none)."""
    price = np.asarray(price, dtype=float)
    if not endings:
        return np.ones(price.shape, dtype=bool)
    cents = np.round((price - np.floor(price + _TOLERANCE)) * 100)
    return np.isin(cents, np.round(np.asarray(endings) * 100))


def cent_grid(low: np.ndarray, high: np.ndarray, k: int) -> np.ndarray:
    """[n, k] whole-cent prices spread evenly over [low, high] (whole-cent bounds)."""
    grid = low[:, None] + (high - low)[:, None] * np.linspace(0.0, 1.0, k)[None, :]
    return np.clip(np.round(grid, 2), low[:, None], high[:, None])
