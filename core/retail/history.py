"""Daily price history of one product-location from the lake, against its lowest competitor,
with 7-day rolling means (the "price vs competitors" chart)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from core.ingest.records import LAKE_SCHEMA
from core.lake import PRICE_POINTS, Lake

ROLLING_DAYS = 7


def _rolling(values: np.ndarray, window: int = ROLLING_DAYS) -> np.ndarray:
    """Trailing mean over up to `window` values, ignoring NaN."""
    out = np.full(len(values), np.nan)
    for i in range(len(values)):
        chunk = values[max(0, i - window + 1):i + 1]
        if np.isfinite(chunk).any():
            out[i] = np.nanmean(chunk)
    return out


def _rounded(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def price_history(lake: Lake, product_id: str, location_id: str, days: int,
                  until: date) -> list[dict[str, Any]]:
    """One entry per day with records in the `days` up to `until` (UTC dates)."""
    first = until - timedelta(days=days - 1)
    where = ((ds.field("product_id") == product_id) & (ds.field("store_id") == location_id)
             & (ds.field("date") >= first.isoformat())
             & (ds.field("date") <= (until + timedelta(days=1)).isoformat()))
    rows = lake.read(PRICE_POINTS, ["ts", "price", "units_sold", "competitor_min_price"],
                     where, LAKE_SCHEMA)
    day = pc.cast(rows["ts"], pa.date32())
    daily = (rows.append_column("day", day)
             .filter(pc.and_(pc.greater_equal(day, pa.scalar(first, pa.date32())),
                             pc.less_equal(day, pa.scalar(until, pa.date32()))))
             .group_by("day", use_threads=False)
             .aggregate([("price", "mean"), ("competitor_min_price", "mean"),
                         ("units_sold", "sum")])
             .sort_by("day"))
    price = daily["price_mean"].to_numpy(zero_copy_only=False).astype(float)
    competitor = daily["competitor_min_price_mean"].to_numpy(zero_copy_only=False).astype(float)
    price_7d, competitor_7d = _rolling(price), _rolling(competitor)
    return [{"day": d.isoformat(), "price": _rounded(p), "competitor_min_price": _rounded(c),
             "units": int(u), "price_7d": _rounded(p7), "competitor_7d": _rounded(c7)}
            for d, p, c, u, p7, c7 in zip(daily["day"].to_pylist(), price, competitor,
                                          daily["units_sold_sum"].to_pylist(), price_7d,
                                          competitor_7d, strict=True)]
