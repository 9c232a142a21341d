"""Features: block partials merge exactly, and the statistics are the right ones."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from retail_samples import TRUE_ELASTICITY

from core.retail.features import (
    ALL_SEASONS,
    combine_partials,
    compute_features,
    feature_partials,
    finish_features,
)
from core.retail.observations import local_days, observations
from core.retail.rollup import Rollup

AS_OF = np.datetime64("2025-07-24")


def _all_rows(table: pa.Table) -> pa.Table:
    return table.filter(pc.equal(table["season"], ALL_SEASONS)).sort_by(
        [("product_id", "ascending"), ("store_id", "ascending")])


def test_rollup_of_blocks_equals_rollup_of_the_whole() -> None:
    table = pa.table({"k": ["a", "b", "a", "c", "b"], "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    rollup = Rollup(("k",), sums=("x",))
    whole = rollup.partial(table).sort_by("k")
    merged = rollup.combine([rollup.partial(table.slice(0, 2)),
                             rollup.partial(table.slice(2))]).sort_by("k")
    assert merged.equals(whole)


def test_features_from_merged_block_partials_equal_one_pass(observations_table: pa.Table
                                                            ) -> None:
    one = compute_features(observations_table, AS_OF).product_locations
    blocks = [observations_table.slice(i, 97) for i in range(0, len(observations_table), 97)]
    merged = finish_features(combine_partials(
        feature_partials(b, AS_OF) for b in blocks)).product_locations
    assert one.column_names == merged.column_names
    for name in ("n_obs", "price_mean", "price_median", "price_p95", "elasticity",
                 "price_avg_7d", "holiday_factor"):
        np.testing.assert_allclose(merged[name].to_numpy(), one[name].to_numpy(), rtol=1e-9)


def test_price_statistics_match_numpy(observations_table: pa.Table) -> None:
    rows = _all_rows(compute_features(observations_table, AS_OF).product_locations)
    first = observations_table.filter(pc.and_(pc.equal(observations_table["product_id"], "P1"),
                                              pc.equal(observations_table["store_id"], "S1")))
    price = first["price"].to_numpy()
    units = first["units"].to_numpy()
    got = rows.slice(0, 1).to_pylist()[0]
    assert got["n_obs"] == len(price)
    assert got["price_mean"] == pytest.approx(price.mean())
    assert got["price_std"] == pytest.approx(price.std())
    assert got["price_median"] == np.quantile(price, 0.5, method="inverted_cdf")
    assert got["price_p05"] == np.quantile(price, 0.05, method="inverted_cdf")
    assert got["price_p95"] == np.quantile(price, 0.95, method="inverted_cdf")
    assert got["price_units_corr"] == pytest.approx(np.corrcoef(price, units)[0, 1])
    assert got["price_avg_7d"] == pytest.approx(price[-7:].mean())


def test_elasticity_recovers_the_true_curve_with_its_standard_error(
        observations_table: pa.Table) -> None:
    rows = _all_rows(compute_features(observations_table, AS_OF).product_locations)
    truth = np.array([TRUE_ELASTICITY[p] for p in rows["product_id"].to_pylist()])
    estimate = rows["elasticity"].to_numpy()
    se = rows["elasticity_se"].to_numpy()
    assert (np.abs(estimate - truth) < 0.3).all()
    assert ((se > 0) & (se < 0.3)).all()
    assert (np.abs(estimate - truth) < 4 * se + 0.1).all()


def test_seasons_partition_the_observations(observations_table: pa.Table) -> None:
    table = compute_features(observations_table, AS_OF).product_locations
    seasons = table.filter(pc.not_equal(table["season"], ALL_SEASONS))
    assert set(seasons["season"].to_pylist()) == {"winter", "spring", "summer"}
    assert pc.sum(seasons["n_obs"]).as_py() == observations_table.num_rows


def test_geography_tables_cover_regions_and_stores(observations_table: pa.Table) -> None:
    features = compute_features(observations_table, AS_OF)
    assert sorted(features.regions["region"].to_pylist()) == ["south", "west"]
    assert features.regions["competitors_mean"].to_pylist() == [2.0, 2.0]
    weekday = np.array([features.stores[f"weekday_factor_{d}"].to_numpy() for d in range(7)])
    assert np.allclose(weekday.mean(axis=0), 1.0, atol=0.1)
    assert set(zip(features.segments["category"].to_pylist(),
                   features.segments["urban"].to_pylist(), strict=True)) == {
        ("grocery", True), ("grocery", False), ("household", True), ("household", False)}


def test_local_day_follows_the_region_time_zone() -> None:
    ts = pa.array(["2025-03-04T05:30:00Z", "2025-03-04T05:30:00Z"]).cast(
        pa.timestamp("us", tz="UTC"))
    days = local_days(ts, pa.array(["west", "northeast"]),
                      {"west": "America/Los_Angeles", "northeast": "America/New_York"})
    assert [str(d) for d in days.to_pylist()] == ["2025-03-03", "2025-03-04"]


def test_observations_count_competitors() -> None:
    maps = pa.MapArray.from_arrays([0, 2, 2, 3], pa.array(["a", "b", "c"]),
                                   pa.array([1.0, 2.0, 3.0]))
    block = pa.table({
        "product_id": ["p"] * 3, "store_id": ["s"] * 3, "city": ["c"] * 3,
        "category": ["grocery"] * 3, "urban": [True] * 3,
        "ts": pa.array([0, 0, 0], pa.timestamp("us", tz="UTC")), "price": [1.0] * 3,
        "units_sold": [1, 2, 3], "discount_pct": [0.0] * 3, "competitor_prices": maps,
        "competitor_min_price": [1.0, None, 3.0], "region": ["west"] * 3})
    assert observations(block, {})["competitor_count"].to_pylist() == [2, 0, 1]
