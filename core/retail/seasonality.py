"""Seasonality per category: Prophet components of daily units, stored in the lake.

Each category's daily units (summed over its product-locations) get one multiplicative
Prophet model (trend x (1 + weekly + yearly + holidays), US holidays); its components per
day, through `horizon_days` past the last observed day, are the category's seasonality.
A run is written once under `features/seasonality/version=V/` (components.parquet and a
manifest naming the retail feature version that was current); `current.json` names the
version readers use. `seasonal_factors` joins the components onto feature or daily rows.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.lake import Lake
from core.retail.documents import read_json, write_json
from core.retail.feature_store import new_version

SEASONALITY = "features/seasonality"  # beside features/retail, outside its version folders
COMPONENTS_FILE = "components.parquet"
MANIFEST = "manifest.json"
CURRENT = "current.json"
COMPONENTS = ("weekly", "yearly", "holidays")
COMPONENTS_SCHEMA = pa.schema([
    ("category", pa.string()),
    ("day", pa.date32()),
    ("observed", pa.bool_()),  # False on the forecast horizon and on days without records
    ("trend", pa.float64()),
    ("weekly", pa.float64()),
    ("yearly", pa.float64()),
    ("holidays", pa.float64()),
    ("yhat", pa.float64()),
])
FACTOR_COLUMNS = ("seasonal_factor", *(f"seasonal_factor_{name}" for name in COMPONENTS))
MIN_HISTORY_DAYS = 14  # fewer observed days cannot separate a weekly cycle from noise


@dataclass(frozen=True)
class ProphetSettings:
    """Kept small: no uncertainty sampling; yearly terms only with a year of history."""

    horizon_days: int = 90
    yearly_min_days: int = 365
    yearly_fourier_order: int = 10
    weekly_fourier_order: int = 3
    changepoint_prior_scale: float = 0.05
    seasonality_prior_scale: float = 10.0
    holidays_country: str = "US"


def category_series(daily_rows: pa.Table) -> dict[str, pa.Table]:
    """Daily units per category (columns day, units, sorted by day) from daily rows."""
    grouped = daily_rows.group_by(["category", "day"], use_threads=False).aggregate(
        [("units", "sum")]).rename_columns(["category", "day", "units"])
    out = {}
    for category in sorted(pc.unique(grouped["category"]).to_pylist()):
        rows = grouped.filter(pc.equal(grouped["category"], category))
        out[category] = rows.select(["day", "units"]).sort_by("day")
    return out


def split_by_history(series: dict[str, pa.Table]
                     ) -> tuple[dict[str, pa.Table], dict[str, int]]:
    """Categories with `MIN_HISTORY_DAYS` observed days to fit, and the others' day counts."""
    fit = {c: rows for c, rows in series.items() if rows.num_rows >= MIN_HISTORY_DAYS}
    return fit, {c: rows.num_rows for c, rows in series.items() if c not in fit}


def fit_components(series: pa.Table, settings: ProphetSettings = ProphetSettings()
                   ) -> pa.Table:
    """Prophet components (trend, weekly, yearly, holidays, yhat) of one daily series, per
    day from its first day through `horizon_days` after its last; multiplicative, so the
    seasonal components are shares of the trend (0.1 = 10% above it)."""
    import pandas as pd
    from prophet import Prophet  # slow to import; readers of components never need it

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    days = series["day"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    units = series["units"].to_numpy(zero_copy_only=False).astype(float)
    span = int((days.max() - days.min()).astype(int)) + 1 if len(days) else 0
    if len(days) < MIN_HISTORY_DAYS:
        raise ValueError(f"a seasonality fit needs at least {MIN_HISTORY_DAYS} days, "
                         f"got {len(days)}")
    yearly = span >= settings.yearly_min_days
    model = Prophet(
        growth="linear", seasonality_mode="multiplicative", uncertainty_samples=0,
        yearly_seasonality=settings.yearly_fourier_order if yearly else False,
        weekly_seasonality=settings.weekly_fourier_order, daily_seasonality=False,
        changepoint_prior_scale=settings.changepoint_prior_scale,
        seasonality_prior_scale=settings.seasonality_prior_scale)
    model.add_country_holidays(country_name=settings.holidays_country)
    model.fit(pd.DataFrame({"ds": pd.to_datetime(days), "y": units}))
    grid = np.arange(days.min(), days.max() + np.timedelta64(settings.horizon_days + 1, "D"))
    predicted = model.predict(pd.DataFrame({"ds": pd.to_datetime(grid)}))

    def column(name: str) -> np.ndarray:
        if name not in predicted.columns:
            return np.zeros(len(grid))
        return predicted[name].to_numpy(dtype=float)

    return pa.table({
        "day": pa.array(grid, pa.date32()),
        "observed": pa.array(np.isin(grid, days)),
        "trend": column("trend"), "weekly": column("weekly"), "yearly": column("yearly"),
        "holidays": column("holidays"), "yhat": column("yhat"),
    })


def labelled(category: str, components: pa.Table) -> pa.Table:
    """Components of one category as COMPONENTS_SCHEMA rows."""
    return components.add_column(0, "category", pa.array([category] * components.num_rows,
                                                         pa.string())).cast(COMPONENTS_SCHEMA)


def _join_keys(category: pa.ChunkedArray | pa.Array, day: pa.ChunkedArray | pa.Array
               ) -> pa.Array:
    keys = pc.binary_join_element_wise(category, pc.cast(day, pa.string()), "\x1f")
    return keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys


def seasonal_factors(rows: pa.Table, components: pa.Table) -> pa.Table:
    """`rows` (with category and day) in their order plus FACTOR_COLUMNS: the multiplicative
    factor 1 + weekly + yearly + holidays and each part alone; null where no component."""
    index = pc.index_in(_join_keys(rows["category"], rows["day"]),
                        value_set=_join_keys(components["category"], components["day"]))
    parts = {name: pc.take(components[name], index) for name in COMPONENTS}
    total = parts["weekly"]
    for name in COMPONENTS[1:]:
        total = pc.add(total, parts[name])
    out = rows.append_column(FACTOR_COLUMNS[0], pc.add(total, 1.0))
    for name in COMPONENTS:
        out = out.append_column(f"seasonal_factor_{name}", pc.add(parts[name], 1.0))
    return out


class SeasonalityStore:
    """Immutable seasonality versions in one lake, and the pointer to the current one."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def _folder(self, version: str) -> str:
        return f"{SEASONALITY}/version={version}"

    def write(self, components: pa.Table, feature_version: str | None,
              settings: ProphetSettings, skipped: dict[str, int] | None = None,
              make_current: bool = True) -> dict[str, Any]:
        """Store `components` as a new version with its manifest (`skipped`: categories left
        out, with their observed days); returns the manifest."""
        version = new_version()
        folder = self._folder(version)
        components = components.cast(COMPONENTS_SCHEMA)
        path = self.lake.write_file(components, folder, COMPONENTS_FILE)
        categories = {}
        for category in sorted(pc.unique(components["category"]).to_pylist()):
            rows = components.filter(pc.equal(components["category"], category))
            observed = rows.filter(rows["observed"])
            categories[category] = {
                "rows": rows.num_rows, "observed_days": observed.num_rows,
                "first_day": str(pc.min(rows["day"]).as_py()),
                "last_observed_day": str(pc.max(observed["day"]).as_py()),
                "last_day": str(pc.max(rows["day"]).as_py())}
        manifest = {"version": version, "created_at": datetime.now(UTC).isoformat(),
                    "feature_version": feature_version, "path": path,
                    "model": "prophet", "settings": asdict(settings), "categories": categories,
                    "skipped_short_history": skipped or {}}
        write_json(self.lake, f"{folder}/{MANIFEST}", manifest)
        if make_current:
            write_json(self.lake, f"{SEASONALITY}/{CURRENT}",
                       {"version": version, "set_at": datetime.now(UTC).isoformat()})
        return manifest

    def current(self) -> str | None:
        pointer = read_json(self.lake, f"{SEASONALITY}/{CURRENT}")
        return pointer["version"] if pointer else None

    def manifest(self, version: str) -> dict[str, Any] | None:
        return read_json(self.lake, f"{self._folder(version)}/{MANIFEST}")

    def read(self, version: str | None = None) -> pa.Table:
        """Every category's components of `version` (default: the current one)."""
        version = version or self.current()
        if version is None:
            raise LookupError("no seasonality has been fitted in this lake")
        path = self.lake.path(self._folder(version), COMPONENTS_FILE)
        return pq.read_table(path, filesystem=self.lake.fs)


def read_components(lake: Lake, category: str | None = None,
                    version: str | None = None) -> pa.Table:
    """The current (or `version`'s) components of one category, sorted by day (all
    categories when `category` is None); an unknown category reads as no rows."""
    table = SeasonalityStore(lake).read(version)
    if category is not None:
        table = table.filter(pc.equal(table["category"], category))
    return table.sort_by([("category", "ascending"), ("day", "ascending")])
