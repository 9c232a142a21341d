"""Retail price features from observations, as mergeable partial aggregates.

`feature_partials(block, as_of)` turns one block of observations into small per-key tables
of sufficient statistics (counts, sums, sums of squares and cross-products, minima, maxima,
price histograms); `combine_partials` merges any number of them; `finish_features` turns
the merged statistics into the feature tables. No per-row Python anywhere.

Per product-location and season (plus season "all"): price mean, std, min, max and exact
percentiles (from per-price counts: a product-location charges few distinct prices), mean
units, price-volume correlation, competitor differentials (and the mean log competitor
price, the level the demand model measures competitor moves from), and the own-price
elasticity:
OLS of log(1 + units) on log price, log competitor price and a promotion flag, with its
standard error. log(1 + units) flattens the slope by units/(1 + units) at low volumes, so
the slope is scaled back by (1 + mean units)/mean units.
Per product-location: 7/30/90-day rolling averages as of `as_of`, week-over-week price
velocity, holiday impact factor. Geography: per region competition intensity, per store
weekday and month seasonality, per category and urban/rural elasticity and volume.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.retail import calendar
from core.retail.rollup import Rollup, plain

ALL_SEASONS = "all"
PERCENTILES = (5, 25, 50, 75, 95)
PL_KEYS = ("product_id", "store_id")
PL_SEASON_KEYS = ("product_id", "store_id", "region", "city", "category", "urban", "season")
_OLS_X = ("lp", "lc", "promo")  # regressors besides the intercept; lp first
_OLS_SUMS = (*_OLS_X, "y", *(f"{a}*{b}" for i, a in enumerate(_OLS_X + ("y",))
                               for b in (_OLS_X + ("y",))[i:]))
ROLLUPS: dict[str, Rollup] = {
    "pl_season": Rollup(
        PL_SEASON_KEYS,
        sums=("n", "price", "price2", "units", "units2", "price*units", "has_competitor",
              "gap", "gap2", "above_competitor", "competitors", *_OLS_SUMS),
        mins=("price_min", "day_first"), maxs=("price_max", "day_last")),
    "price_counts": Rollup(("product_id", "store_id", "season", "price"), sums=("n",)),
    "pl": Rollup(
        PL_KEYS,
        sums=("n", "n_7d", "price_7d", "units_7d", "n_prev_7d", "price_prev_7d", "n_30d",
              "price_30d", "units_30d", "n_90d", "price_90d", "units_90d", "n_holiday",
              "units_holiday", "n_regular", "units_regular")),
    "store_calendar": Rollup(("store_id", "region", "city", "urban", "weekday", "month"),
                             sums=("n", "units")),
}
WINDOWS = (7, 30, 90)
SEASON_NAMES = pa.array(calendar.SEASONS)


@dataclass(frozen=True)
class FeatureSet:
    """The feature tables of one version."""

    product_locations: pa.Table  # one row per product-location and season (+ "all")
    regions: pa.Table
    stores: pa.Table
    segments: pa.Table  # per category and urban/rural

    def tables(self) -> dict[str, pa.Table]:
        return {"product_locations": self.product_locations, "regions": self.regions,
                "stores": self.stores, "segments": self.segments}


def _derived(obs: pa.Table, as_of: np.datetime64) -> pa.Table:
    """Every column the rollups aggregate, computed column-wise from observations."""
    day = obs["day"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    price = obs["price"].to_numpy(zero_copy_only=False)
    units = obs["units"].to_numpy(zero_copy_only=False)
    comp = obs["competitor_min_price"].to_numpy(zero_copy_only=False).astype(float)
    has_comp = np.isfinite(comp) & (comp > 0)
    safe_comp = np.where(has_comp, comp, 1.0)
    gap = np.where(has_comp, price / safe_comp - 1.0, 0.0)
    x = {"lp": np.log(price), "lc": np.log(safe_comp),
         "promo": (obs["discount_pct"].to_numpy(zero_copy_only=False) > 0).astype(float),
         "y": np.log1p(units)}
    names = list(x)
    cols: dict[str, np.ndarray | pa.Array] = {
        name: obs[name] for name in ("product_id", "store_id", "region", "city", "category",
                                     "urban")}
    day_number = day.astype(np.int64).astype(np.int32)
    age = (as_of.astype("datetime64[D]") - day).astype(np.int64)
    near = calendar.near_holiday(day)
    ones = np.ones(len(price))
    cols |= {
        "season": pa.DictionaryArray.from_arrays(  # the rollups group on the indices
            calendar.season_index(day).astype(np.int8), SEASON_NAMES),
        "weekday": calendar.weekday(day),
        "month": calendar.month(day), "n": ones, "price": price, "price2": price**2,
        "units": units, "units2": units**2, "price*units": price * units,
        "has_competitor": has_comp.astype(float), "gap": gap, "gap2": gap**2,
        "above_competitor": (has_comp & (gap > 0)).astype(float),
        "competitors": obs["competitor_count"].to_numpy(zero_copy_only=False).astype(float),
        "price_min": price, "price_max": price, "day_first": day_number,
        "day_last": day_number, "n_holiday": near.astype(float),
        "units_holiday": units * near, "n_regular": (~near).astype(float),
        "units_regular": units * ~near,
    }
    cols |= {name: x[name] for name in names}
    cols |= {f"{a}*{b}": x[a] * x[b] for i, a in enumerate(names) for b in names[i:]}
    prev = (age >= 7) & (age < 14)
    cols |= {"n_prev_7d": prev.astype(float), "price_prev_7d": price * prev}
    for window in WINDOWS:
        inside = (age >= 0) & (age < window)
        cols |= {f"n_{window}d": inside.astype(float), f"price_{window}d": price * inside}
        cols[f"units_{window}d"] = units * inside
    return pa.table(cols)


def feature_partials(obs: pa.Table, as_of: np.datetime64) -> dict[str, pa.Table]:
    """Sufficient statistics of one block of observations, one small table per rollup."""
    derived = _derived(obs, as_of)
    return {name: rollup.partial(derived) for name, rollup in ROLLUPS.items()}


def combine_partials(parts: Iterable[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """Merge partials of many blocks into one table per rollup."""
    collected: dict[str, list[pa.Table]] = {name: [] for name in ROLLUPS}
    for part in parts:
        for name, table in part.items():
            collected[name].append(table)

    def merged(name: str) -> pa.Table:
        rollup, tables = ROLLUPS[name], collected[name]
        return plain(rollup.combine(tables)) if tables else rollup.partial(
            _empty_derived(rollup))

    with ThreadPoolExecutor(2) as pool:  # pyarrow and numpy release the GIL: two at once
        return dict(zip(ROLLUPS, pool.map(merged, ROLLUPS), strict=True))


def _empty_derived(rollup: Rollup) -> pa.Table:
    string_keys = set(PL_SEASON_KEYS) - {"urban"}
    types = {c: pa.string() if c in string_keys else pa.bool_() if c == "urban"
             else pa.int32() if c.startswith("day_") else pa.int64()
             if c in ("weekday", "month") else pa.float64() for c in rollup.columns}
    return pa.schema(list(types.items())).empty_table()


def _np(table: pa.Table, name: str) -> np.ndarray:
    return table[name].to_numpy(zero_copy_only=False).astype(float)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _inverse_correlations(corr: np.ndarray, rcond: float = 1e-8) -> np.ndarray:
    """Pseudo-inverses of a stack of correlation matrices: a plain inverse where the
    determinant shows no eigenvalue near `rcond` (the same answer, far cheaper), the
    eigen-decomposition only for the nearly singular rest."""
    k = corr.shape[-1]
    # pinv drops eigenvalues under rcond * largest (<= k); the smallest is at least
    # det / k**(k-1), so det > rcond * k**k (x100 for margin) means nothing is dropped
    regular = np.linalg.det(corr) > 100 * rcond * k**k
    inverse = np.empty_like(corr)
    inverse[regular] = np.linalg.inv(corr[regular])
    inverse[~regular] = np.linalg.pinv(corr[~regular], rcond=rcond, hermitian=True)
    return inverse


def elasticities(stats: pa.Table) -> dict[str, np.ndarray]:
    """OLS coefficients of log(1 + units) on (log price, log competitor price, promotion) per
    row of summed statistics: elasticity, its standard error, cross elasticity, promo lift."""
    n = _np(stats, "n")
    k = len(_OLS_X)
    sx = np.stack([_np(stats, a) for a in _OLS_X], axis=1)
    sy = _np(stats, "y")

    def cross(a: str, b: str) -> np.ndarray:
        return _np(stats, f"{a}*{b}") if f"{a}*{b}" in stats.column_names else \
            _np(stats, f"{b}*{a}")

    safe_n = np.maximum(n, 1.0)
    sxx = np.stack([np.stack([cross(a, b) for b in _OLS_X], axis=1) for a in _OLS_X], axis=1)
    sxx = sxx - sx[:, :, None] * sx[:, None, :] / safe_n[:, None, None]
    sxy = np.stack([cross(a, "y") for a in _OLS_X], axis=1) - sx * sy[:, None] / safe_n[:, None]
    syy = cross("y", "y") - sy**2 / safe_n
    scale = np.sqrt(np.clip(np.diagonal(sxx, axis1=1, axis2=2), 0, None))
    scale = np.where(scale > 1e-9 * np.maximum(safe_n, 1)[:, None], scale, np.inf)
    corr = sxx / (scale[:, :, None] * scale[:, None, :])
    corr = np.where(np.isfinite(corr), corr, 0.0)
    inverse = _inverse_correlations(corr)
    beta = np.einsum("gij,gj->gi", inverse, sxy / scale) / scale
    beta = np.where(np.isfinite(beta), beta, 0.0)
    dof = n - (k + 1)
    sigma2 = _ratio(syy - np.einsum("gi,gi->g", beta, sxy), dof)
    variance = sigma2 * np.diagonal(inverse, axis1=1, axis2=2)[:, 0] / scale[:, 0] ** 2
    mean_units = _ratio(_np(stats, "units"), n)
    correction = _ratio(1.0 + mean_units, mean_units)
    identified = (dof > 0) & np.isfinite(scale[:, 0])
    return {
        "elasticity": np.where(identified, beta[:, 0] * correction, np.nan),
        "elasticity_se": np.where(identified, np.sqrt(np.clip(variance, 0, None)) * correction,
                                  np.nan),
        "cross_elasticity": np.where(identified, beta[:, 1] * correction, np.nan),
        "promo_lift": np.where(identified, np.expm1(beta[:, 2]), np.nan),
    }


def _group_codes(table: pa.Table, keys: tuple[str, ...]) -> np.ndarray:
    """One integer per distinct combination of `keys` (dictionary indices in mixed radix)."""
    codes = np.zeros(table.num_rows, dtype=np.int64)
    for k in keys:
        encoded = pc.dictionary_encode(table[k].combine_chunks())
        codes = codes * max(len(encoded.dictionary), 1) + encoded.indices.to_numpy(
            zero_copy_only=False)
    return codes


def price_percentiles(counts: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """Exact (inverse-CDF) price percentiles per key from per-price counts (a price may
    appear in several rows of a key: the cumulative counts add them up)."""
    prices = _np(counts, "price")
    codes = _group_codes(counts, keys)
    by_price = np.argsort(prices, kind="stable")
    order = by_price[np.argsort(codes[by_price], kind="stable")]  # by key, then by price
    codes, prices, n = codes[order], prices[order], _np(counts, "n")[order]
    change = np.r_[True, codes[1:] != codes[:-1]] if len(codes) else np.zeros(0, bool)
    group = np.cumsum(change) - 1
    first = np.flatnonzero(change)
    cumulative = np.cumsum(n)
    totals = np.bincount(group, weights=n)
    starts = np.concatenate([[0.0], np.cumsum(totals)[:-1]])
    position = group + (cumulative - starts[group]) / np.where(totals[group] > 0,
                                                               totals[group], 1)
    out = {k: counts[k].take(pa.array(order[first])) for k in keys}
    for q in PERCENTILES:
        at = np.searchsorted(position, np.arange(len(totals)) + q / 100 - 1e-12, side="left")
        out[f"price_p{q:02d}"] = prices[np.minimum(at, len(prices) - 1)] if len(prices) else \
            prices
    return pa.table(out)


def _season_stats(stats: pa.Table) -> pa.Table:
    """Price, volume, competitor and elasticity features from summed pl-season statistics."""
    n = _np(stats, "n")
    mean_price = _ratio(_np(stats, "price"), n)
    mean_units = _ratio(_np(stats, "units"), n)
    var_price = np.clip(_ratio(_np(stats, "price2"), n) - mean_price**2, 0, None)
    var_units = np.clip(_ratio(_np(stats, "units2"), n) - mean_units**2, 0, None)
    cov = _ratio(_np(stats, "price*units"), n) - mean_price * mean_units
    with_comp = _np(stats, "has_competitor")
    gap_mean = _ratio(_np(stats, "gap"), with_comp)
    day = {c: pc.cast(stats[c], pa.date32()) for c in ("day_first", "day_last")}
    return pa.table({
        **{k: stats[k] for k in PL_SEASON_KEYS},
        "n_obs": n.astype(np.int64),
        "price_mean": mean_price,
        "price_std": np.sqrt(var_price),
        "price_min": stats["price_min"],
        "price_max": stats["price_max"],
        "units_mean": mean_units,
        "price_units_corr": _ratio(cov, np.sqrt(var_price * var_units)),
        "competitor_gap_mean": gap_mean,
        "competitor_log_mean": _ratio(_np(stats, "lc"), with_comp),
        "competitor_gap_std": np.sqrt(np.clip(_ratio(_np(stats, "gap2"), with_comp)
                                              - gap_mean**2, 0, None)),
        "share_above_competitor": _ratio(_np(stats, "above_competitor"), with_comp),
        "competitors_mean": _ratio(_np(stats, "competitors"), n),
        **elasticities(stats),
        "first_day": day["day_first"],
        "last_day": day["day_last"],
    })


def _pl_series(stats: pa.Table) -> pa.Table:
    """Rolling averages, week-over-week price velocity and holiday factor per product-location."""
    out = {k: stats[k] for k in PL_KEYS}
    for window in WINDOWS:
        count = _np(stats, f"n_{window}d")
        out[f"price_avg_{window}d"] = _ratio(_np(stats, f"price_{window}d"), count)
        out[f"units_avg_{window}d"] = _ratio(_np(stats, f"units_{window}d"), count)
    previous = _ratio(_np(stats, "price_prev_7d"), _np(stats, "n_prev_7d"))
    out["price_velocity_wow"] = out["price_avg_7d"] / previous - 1.0
    out["holiday_factor"] = _ratio(
        _ratio(_np(stats, "units_holiday"), _np(stats, "n_holiday")),
        _ratio(_np(stats, "units_regular"), _np(stats, "n_regular")))
    return pa.table(out)


def _store_seasonality(stats: pa.Table) -> pa.Table:
    """Per store: mean units on each weekday and month relative to the store's mean."""
    by = {"weekday": Rollup(("store_id", "region", "city", "urban", "weekday"), ("n", "units")),
          "month": Rollup(("store_id", "region", "city", "urban", "month"), ("n", "units"))}
    total = Rollup(("store_id", "region", "city", "urban"), ("n", "units")).combine([stats])
    stores = total["store_id"].to_pylist()
    index = {s: i for i, s in enumerate(stores)}
    overall = _ratio(_np(total, "units"), _np(total, "n"))
    out: dict[str, object] = {c: total[c] for c in ("store_id", "region", "city", "urban")}
    for field, values in (("weekday", range(7)), ("month", range(1, 13))):
        table = by[field].combine([stats])
        grid = np.full((len(stores), len(values)), np.nan)
        rows = np.array([index[s] for s in table["store_id"].to_pylist()], dtype=np.int64)
        cols = table[field].to_numpy(zero_copy_only=False).astype(np.int64) - values[0]
        grid[rows, cols] = _ratio(_np(table, "units"), _np(table, "n"))
        for j, value in enumerate(values):
            out[f"{field}_factor_{value}"] = _ratio(grid[:, j], overall)
    return pa.table(out)


def _regions(season_stats: pa.Table) -> pa.Table:
    """Competition intensity per region."""
    stats = Rollup(("region",), ("n", "has_competitor", "gap", "gap2", "above_competitor",
                                 "competitors")).combine([season_stats])
    with_comp = _np(stats, "has_competitor")
    return pa.table({
        "region": stats["region"],
        "n_obs": _np(stats, "n").astype(np.int64),
        "competitors_mean": _ratio(_np(stats, "competitors"), _np(stats, "n")),
        "competitor_gap_mean": _ratio(_np(stats, "gap"), with_comp),
        "share_above_competitor": _ratio(_np(stats, "above_competitor"), with_comp),
        "competitor_coverage": _ratio(with_comp, _np(stats, "n")),
    })


def _segments(product_locations: pa.Table) -> pa.Table:
    """Urban/rural patterns: per category and urban flag, volume, price and elasticity."""
    rows = product_locations.filter(pc.equal(product_locations["season"], ALL_SEASONS))
    grouped = rows.group_by(["category", "urban"], use_threads=False).aggregate([
        ("units_mean", "mean"), ("price_mean", "mean"), ("elasticity", "approximate_median"),
        ("product_id", "count")])
    return grouped.rename_columns([
        {"units_mean_mean": "units_mean", "price_mean_mean": "price_mean",
         "elasticity_approximate_median": "elasticity_median",
         "product_id_count": "product_locations"}.get(c, c) for c in grouped.column_names])


def _all_seasons(table: pa.Table) -> pa.Table:
    """The same rows with season set to "all" (aggregating them merges the seasons)."""
    return table.set_column(table.schema.get_field_index("season"), "season",
                            pa.array([ALL_SEASONS] * table.num_rows, pa.string()))


def finish_features(combined: dict[str, pa.Table]) -> FeatureSet:
    """The feature tables from merged partials."""
    keys = ["product_id", "store_id", "season"]
    counts = combined["price_counts"]
    with ThreadPoolExecutor(2) as pool:  # the percentiles beside the statistics (no GIL held)
        percentiles = [pool.submit(price_percentiles, table, tuple(keys))
                       for table in (counts, _all_seasons(counts))]
        season_sums = combined["pl_season"]
        all_sums = ROLLUPS["pl_season"].combine([_all_seasons(season_sums)])
        stats = pa.concat_tables([_season_stats(season_sums), _season_stats(all_sums)])
        by_key = pa.concat_tables([future.result() for future in percentiles])
    product_locations = stats.join(by_key, keys).join(_pl_series(combined["pl"]), list(PL_KEYS))
    product_locations = product_locations.sort_by(
        [("product_id", "ascending"), ("store_id", "ascending"), ("season", "ascending")])
    product_locations = product_locations.rename_columns(
        ["price_median" if c == "price_p50" else c for c in product_locations.column_names])
    return FeatureSet(
        product_locations=product_locations,
        regions=_regions(season_sums).sort_by("region"),  # not in the order blocks came
        stores=_store_seasonality(combined["store_calendar"]).sort_by("store_id"),
        segments=_segments(product_locations),
    )


def compute_features(observations: pa.Table, as_of: np.datetime64) -> FeatureSet:
    """All features of an in-memory table of observations (one block)."""
    return finish_features(combine_partials([feature_partials(observations, as_of)]))
