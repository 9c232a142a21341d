"""Prophet seasonality per category: components recovered, stored, read back and joined."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from core.lake import Lake
from core.retail.seasonality import (
    FACTOR_COLUMNS,
    ProphetSettings,
    SeasonalityStore,
    category_series,
    fit_components,
    labelled,
    read_components,
    seasonal_factors,
    split_by_history,
)

WEEKLY_AMPLITUDE = 0.20  # units swing +-20% around the trend over a week
YEARLY_AMPLITUDE = 0.30
START = np.datetime64("2023-01-02")  # a Monday
DAYS = 2 * 365


def synthetic_series(seed: int = 0) -> pa.Table:
    """Daily units = 200 * (1 + weekly) * (1 + yearly) with 3% noise, two years."""
    days = START + np.arange(DAYS)
    t = np.arange(DAYS)
    weekly = WEEKLY_AMPLITUDE * np.sin(2 * np.pi * t / 7)
    yearly = YEARLY_AMPLITUDE * np.sin(2 * np.pi * t / 365.25)
    noise = np.random.default_rng(seed).normal(0.0, 0.03, DAYS)
    return pa.table({"day": pa.array(days, pa.date32()),
                     "units": 200.0 * (1 + weekly) * (1 + yearly) * (1 + noise)})


@pytest.fixture(scope="module")
def components() -> pa.Table:
    return fit_components(synthetic_series(), ProphetSettings(horizon_days=14))


def test_weekly_and_yearly_amplitudes_are_recovered(components: pa.Table) -> None:
    observed = components.filter(components["observed"])
    weekly = observed["weekly"].to_numpy()[:7]
    # (1 + w)(1 + y) = 1 + w + y + wy: the cross term leaks into "weekly" a little
    assert (weekly.max() - weekly.min()) / 2 == pytest.approx(WEEKLY_AMPLITUDE, rel=0.15)
    assert int(np.argmax(weekly)) in (1, 2)  # sin(2 pi t / 7) peaks at t = 1.75
    yearly = observed["yearly"].to_numpy()
    assert (yearly.max() - yearly.min()) / 2 == pytest.approx(YEARLY_AMPLITUDE, rel=0.2)
    fitted = observed["yhat"].to_numpy()
    truth = synthetic_series()["units"].to_numpy()
    assert np.median(np.abs(fitted / truth - 1)) < 0.05


def test_components_cover_the_horizon_and_mark_observed_days(components: pa.Table) -> None:
    assert components.num_rows == DAYS + 14
    assert pc.sum(components["observed"]).as_py() == DAYS
    assert components["day"][-1].as_py() == (START + DAYS - 1 + 14).item()
    assert not components["observed"][-1].as_py()


def test_short_series_have_no_yearly_term_and_too_short_ones_are_refused() -> None:
    short = synthetic_series().slice(0, 60)
    fitted = fit_components(short, ProphetSettings(horizon_days=0))
    assert np.all(fitted["yearly"].to_numpy() == 0.0)
    assert np.ptp(fitted["weekly"].to_numpy()) > 0.2
    with pytest.raises(ValueError, match="at least 14 days"):
        fit_components(short.slice(0, 10))


def test_category_series_sums_units_per_category_and_day() -> None:
    day = np.datetime64("2025-01-06")
    rows = pa.table({
        "category": ["grocery", "grocery", "health", "grocery"],
        "day": pa.array(np.array([day + 1, day, day, day + 1]), pa.date32()),
        "units": [3.0, 1.0, 5.0, 4.0]})
    series = category_series(rows)
    assert list(series) == ["grocery", "health"]
    assert series["grocery"].to_pydict() == {"day": [day.item(), (day + 1).item()],
                                             "units": [1.0, 7.0]}


def test_categories_without_two_weeks_of_history_are_left_out() -> None:
    series = synthetic_series()
    fit, skipped = split_by_history({"grocery": series.slice(0, 14),
                                     "health": series.slice(0, 13)})
    assert list(fit) == ["grocery"] and skipped == {"health": 13}


def _components(category: str, weekly: float, yearly: float, holidays: float) -> pa.Table:
    days = np.datetime64("2025-01-06") + np.arange(3)
    return labelled(category, pa.table({
        "day": pa.array(days, pa.date32()), "observed": [True] * 3, "trend": [10.0] * 3,
        "weekly": [weekly] * 3, "yearly": [yearly] * 3, "holidays": [holidays] * 3,
        "yhat": [10.0] * 3}))


def test_seasonal_factors_join_by_category_and_day_keeping_row_order() -> None:
    components = pa.concat_tables([_components("grocery", 0.1, -0.2, 0.0),
                                   _components("health", -0.05, 0.0, 0.3)])
    day = np.datetime64("2025-01-07")
    rows = pa.table({"product_id": ["a", "b", "c"],
                     "category": ["health", "toys", "grocery"],
                     "day": pa.array(np.array([day, day, day + 30]), pa.date32())})
    out = seasonal_factors(rows, components)
    assert out["product_id"].to_pylist() == ["a", "b", "c"]
    assert out["seasonal_factor"].to_pylist() == [pytest.approx(1.25), None, None]
    assert out["seasonal_factor_holidays"][0].as_py() == pytest.approx(1.3)
    assert set(FACTOR_COLUMNS) <= set(out.column_names)


def test_store_writes_immutable_versions_and_reads_the_current_one(tmp_path) -> None:
    lake = Lake.open(str(tmp_path))
    store = SeasonalityStore(lake)
    first = store.write(_components("grocery", 0.1, 0.0, 0.0), "fv1", ProphetSettings())
    both = pa.concat_tables([_components("grocery", 0.2, 0.0, 0.0),
                             _components("health", 0.3, 0.0, 0.0)])
    second = store.write(both, "fv2", ProphetSettings())
    assert first["version"] != second["version"] and store.current() == second["version"]
    assert second["feature_version"] == "fv2"
    assert second["categories"]["health"]["observed_days"] == 3
    health = read_components(lake, "health")
    assert health["weekly"].to_pylist() == [0.3] * 3
    assert read_components(lake, "toys").num_rows == 0
    old = read_components(lake, "grocery", version=first["version"])
    assert old["weekly"].to_pylist() == [0.1] * 3
