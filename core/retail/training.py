"""The demand model's training set: daily observations joined with product-location features.

A row is one product-location and day; the label is units sold. The model is log-linear
with an offset: log E[units] = log(mean units) + elasticity * log(price / mean price)
+ trees(features), where mean units, mean price and the elasticity come from the feature
store (computed on the training window only). The trees may only lower demand as the own
price rises (monotone constraint on `log_price_ratio`).

Competitor prices enter twice: relative to the product-location's mean price, and as the
move from the competitor level it usually faces (`log_competitor_shift`; a product-location's
usual level is already in its mean units). Prophet components of the category's daily units
(core.retail.seasonality, fitted on the training window) give the trees a smooth yearly
shape (`seasonal_yearly`) and the whole calendar factor (`seasonal_factor`) where a
year of `day_of_year` alone would be learnt date by date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.retail import calendar
from core.retail.features import ALL_SEASONS

FEATURES = ("log_price_ratio", "log_competitor_ratio", "log_competitor_shift", "promo",
            "discount_pct", "weekday", "day_of_year", "month", "near_holiday", "urban",
            "category", "region", "log_units_mean", "elasticity", "price_std_ratio",
            "holiday_factor", "seasonal_yearly", "seasonal_factor")
MONOTONE = {"log_price_ratio": -1}
PL_COLUMNS = ("product_id", "store_id", "price_mean", "price_std", "units_mean", "elasticity",
              "holiday_factor", "competitor_log_mean")
SEASONAL_PERIOD_DAYS = 364  # 52 weeks: a day this far away falls on the same weekday
MAX_ELASTICITY = -0.05  # the offset's own-price slope is kept negative


@dataclass(frozen=True)
class Encodings:
    """Category and region codes fixed at training time."""

    categories: tuple[str, ...]
    regions: tuple[str, ...]

    @classmethod
    def of(cls, rows: pa.Table) -> Encodings:
        return cls(tuple(sorted(pc.unique(rows["category"]).to_pylist())),
                   tuple(sorted(pc.unique(rows["region"]).to_pylist())))


@dataclass(frozen=True)
class Design:
    """Model inputs for rows: feature matrix, log offset, labels and weekly group ids."""

    x: np.ndarray  # float32 [rows, len(FEATURES)]
    offset: np.ndarray
    units: np.ndarray
    week_group: np.ndarray  # one id per product-location and Monday week

    def take(self, rows: np.ndarray) -> Design:
        return Design(self.x[rows], self.offset[rows], self.units[rows], self.week_group[rows])


def product_location_features(features: pa.Table) -> pa.Table:
    """The season-"all" feature rows the model joins on."""
    rows = features.filter(pc.equal(features["season"], ALL_SEASONS))
    return rows.select(list(PL_COLUMNS))


def _keys(table: pa.Table) -> pa.Array:
    """"product_id<US>store_id" of each row."""
    keys = pc.binary_join_element_wise(table["product_id"], table["store_id"], "\x1f")
    return keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys


class ProductLocationLookup:
    """The product-location features of `pl` by key, prepared once (a fitted model keeps one):
    global medians stand in for product-locations it does not know."""

    def __init__(self, pl: pa.Table) -> None:
        self.keys = _keys(pl)
        self.values = {name: pl[name].to_numpy(zero_copy_only=False).astype(float)
                       for name in PL_COLUMNS[2:]}
        self.fallback = {name: np.nanmedian(v) if np.isfinite(v).any() else np.nan
                         for name, v in self.values.items()}

    def take(self, rows: pa.Table) -> dict[str, np.ndarray]:
        """Per-row product-location features of `rows`."""
        index = pc.index_in(_keys(rows), value_set=self.keys)
        known = np.asarray(index.is_valid())
        position = index.fill_null(0).to_numpy(zero_copy_only=False)
        out = {}
        for name, values in self.values.items():
            picked = values[position] if len(values) else np.full(len(position), np.nan)
            out[name] = np.where(known & np.isfinite(picked), picked, self.fallback[name])
        return out


def _codes(values: pa.ChunkedArray | pa.Array, known: tuple[str, ...]) -> np.ndarray:
    index = pc.index_in(values, value_set=pa.array(known, pa.string()))
    return index.fill_null(-1).to_numpy(zero_copy_only=False).astype(float)


class SeasonalLookup:
    """Prophet components (category, day, weekly, yearly, holidays) as day-by-category grids,
    prepared once: a day outside the fitted days takes the values of the day a whole number
    of 52-week periods away inside them; unknown categories and days read as missing."""

    def __init__(self, components: pa.Table | None, categories: tuple[str, ...]) -> None:
        days = np.zeros(0, "datetime64[D]") if components is None else \
            components["day"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
        self.first = days.min() if len(days) else np.datetime64("1970-01-01")
        n_days = int((days.max() - self.first).astype(np.int64)) + 1 if len(days) else 0
        self.yearly = np.full((len(categories), n_days), np.nan)
        self.factor = np.full((len(categories), n_days), np.nan)
        if not len(days):
            return
        category = _codes(components["category"], categories).astype(np.int64)
        known = category >= 0
        at = (category[known], (days - self.first).astype(np.int64)[known])

        def part(name: str) -> np.ndarray:
            return components[name].to_numpy(zero_copy_only=False).astype(float)[known]

        self.yearly[at] = 1.0 + part("yearly")
        self.factor[at] = 1.0 + part("weekly") + part("yearly") + part("holidays")

    def take(self, category: np.ndarray, days: np.ndarray) -> dict[str, np.ndarray]:
        """`seasonal_yearly` and `seasonal_factor` of rows (category codes as `_codes`)."""
        n_days = self.yearly.shape[1]
        offset = (days - self.first).astype(np.int64)
        later = np.maximum(offset - n_days + SEASONAL_PERIOD_DAYS, 0) // SEASONAL_PERIOD_DAYS
        earlier = np.maximum(SEASONAL_PERIOD_DAYS - 1 - offset, 0) // SEASONAL_PERIOD_DAYS
        offset = offset + (earlier - later) * SEASONAL_PERIOD_DAYS
        code = category.astype(np.int64)
        inside = (code >= 0) & (offset >= 0) & (offset < n_days)
        out = {}
        for name, grid in (("seasonal_yearly", self.yearly), ("seasonal_factor", self.factor)):
            values = np.full(len(code), np.nan)
            values[inside] = grid[code[inside], offset[inside]]
            out[name] = values
        return out


def week_groups(rows: pa.Table) -> np.ndarray:
    """An id per (product-location, Monday week) of each row."""
    encoded = _keys(rows).dictionary_encode()
    pl_code = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    days = rows["day"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    week = calendar.monday(days).astype(np.int64)
    return np.unique(pl_code * 100_000 + (week - week.min() if len(week) else week),
                     return_inverse=True)[1]


PRICE_COLUMN = FEATURES.index("log_price_ratio")


@dataclass(frozen=True)
class RowInputs:
    """Model inputs of rows but for their price; `at(prices)` completes them, so scoring k
    candidate prices of a row computes its features once."""

    x: np.ndarray  # float32 [rows, len(FEATURES)]; the price column is set by `at`
    mean_price: np.ndarray
    base_offset: np.ndarray  # log(mean units)
    elasticity: np.ndarray

    def at(self, prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x, log offset) of every row at each of its prices ([rows] or [rows, k]): row i's
        k candidates are rows i*k .. i*k+k-1."""
        wide = np.asarray(prices, dtype=float)
        wide = wide[:, None] if wide.ndim == 1 else wide
        k = wide.shape[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.log(wide / self.mean_price[:, None]).reshape(-1)
        x = np.repeat(self.x, k, axis=0)
        x[:, PRICE_COLUMN] = ratio
        offset = np.repeat(self.base_offset, k) + np.repeat(self.elasticity, k) * ratio
        return x, offset


def row_inputs(rows: pa.Table, lookup: ProductLocationLookup, encodings: Encodings,
               seasonal: SeasonalLookup, own_discount: bool = True) -> RowInputs:
    """Every price-independent model input of daily rows; `own_discount=False` scores the
    rows at regular (candidate) prices: no promotion, no discount."""
    looked = lookup.take(rows)
    comp = rows["competitor_min_price"].to_numpy(zero_copy_only=False).astype(float)
    discount = rows["discount_pct"].to_numpy(zero_copy_only=False).astype(float) \
        if own_discount else np.zeros(rows.num_rows)
    days = rows["day"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    category = _codes(rows["category"], encodings.categories)
    mean_price = looked["price_mean"]
    elasticity = np.minimum(np.nan_to_num(looked["elasticity"], nan=-1.0), MAX_ELASTICITY)
    with np.errstate(divide="ignore", invalid="ignore"):
        columns = {
            "log_price_ratio": np.zeros(rows.num_rows),
            "log_competitor_ratio": np.log(comp / mean_price),
            "log_competitor_shift": np.log(comp) - looked["competitor_log_mean"],
            "promo": (discount > 0).astype(float),
            "discount_pct": discount,
            "weekday": calendar.weekday(days),
            "day_of_year": calendar.day_of_year(days),
            "month": calendar.month(days),
            "near_holiday": calendar.near_holiday(days).astype(float),
            "urban": rows["urban"].to_numpy(zero_copy_only=False).astype(float),
            "category": category,
            "region": _codes(rows["region"], encodings.regions),
            "log_units_mean": np.log(looked["units_mean"]),
            "elasticity": elasticity,
            "price_std_ratio": looked["price_std"] / mean_price,
            "holiday_factor": looked["holiday_factor"],
            **seasonal.take(category, days),
        }
    x = np.column_stack([np.asarray(columns[name], dtype=np.float32) for name in FEATURES])
    return RowInputs(x, mean_price, np.log(np.maximum(looked["units_mean"], 1e-3)),
                     elasticity)


def design(rows: pa.Table, pl: pa.Table, encodings: Encodings,
           seasonality: pa.Table | None = None, prices: np.ndarray | None = None) -> Design:
    """Model inputs for daily rows (`seasonality`: Prophet components per category and day,
    none: missing); `prices` (one per row) replaces the rows' own prices."""
    inputs = row_inputs(rows, ProductLocationLookup(pl), encodings,
                        SeasonalLookup(seasonality, encodings.categories),
                        own_discount=prices is None)
    price = rows["price"].to_numpy(zero_copy_only=False) if prices is None else prices
    x, offset = inputs.at(price)
    return Design(x, offset, rows["units"].to_numpy(zero_copy_only=False).astype(float),
                  week_groups(rows))


def chronological_split(rows: pa.Table, shares: tuple[float, float] = (0.70, 0.15)
                        ) -> tuple[np.datetime64, np.datetime64]:
    """The first validation day and the first test day: 70/15/15 of the distinct days."""
    days = np.unique(rows["day"].to_numpy(zero_copy_only=False).astype("datetime64[D]"))
    if len(days) < 3:
        raise ValueError("a chronological split needs at least 3 distinct days")
    train_end = max(1, int(round(len(days) * shares[0])))
    valid_end = max(train_end + 1, int(round(len(days) * (shares[0] + shares[1]))))
    return days[train_end], days[min(valid_end, len(days) - 1)]


def split_masks(rows: pa.Table, valid_start: np.datetime64, test_start: np.datetime64
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    days = rows["day"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    return days < valid_start, (days >= valid_start) & (days < test_start), days >= test_start
