"""Training set, split, metrics, demand models and the registry's promote rule."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from retail_samples import make_observations

from core.lake import Lake
from core.retail.demand_model import (
    DemandModel,
    IncompatibleModel,
    fit_booster,
    fit_dispersion,
    predict_mean,
)
from core.retail.feature_store import FeatureStore, FeatureVersionExists, FeatureWindow
from core.retail.features import compute_features
from core.retail.metrics import bias, seasonal_naive, weekly_mape
from core.retail.registry import ModelRegistry
from core.retail.training import (
    FEATURES,
    Encodings,
    SeasonalLookup,
    chronological_split,
    design,
    product_location_features,
    split_masks,
)

CONFIG = {"learning_rate": 0.1, "max_depth": 4, "min_child_weight": 1.0, "subsample": 1.0,
          "colsample": 1.0, "reg_lambda": 1.0}


def test_chronological_split_is_70_15_15_without_overlap() -> None:
    rows = make_observations(days=100)
    valid_start, test_start = chronological_split(rows)
    train, valid, test = split_masks(rows, valid_start, test_start)
    days = rows["day"].to_numpy().astype("datetime64[D]")
    assert days[train].max() < days[valid].min() <= days[valid].max() < days[test].min()
    assert (len(np.unique(days[train])), len(np.unique(days[valid])),
            len(np.unique(days[test]))) == (70, 15, 15)
    assert (train | valid | test).all() and not (train & valid).any()


def test_weekly_mape_and_bias() -> None:
    group = np.array([0, 0, 1, 1, 2])
    actual = np.array([5.0, 5.0, 2.0, 2.0, 0.0])
    predicted = np.array([6.0, 6.0, 1.0, 1.0, 3.0])
    assert weekly_mape(group, actual, predicted) == pytest.approx((0.2 + 0.5) / 2)
    assert bias(actual, predicted) == pytest.approx((17 - 14) / 14)


def test_seasonal_naive_uses_last_season_then_last_value() -> None:
    key = np.array([0] * 6)
    period = np.arange(6)
    actual = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert seasonal_naive(key, period, actual, forecast_from=4, season=3)[4:].tolist() == [
        2.0, 3.0]  # the periods 1 and 2
    assert seasonal_naive(key, period, actual, forecast_from=4, season=5)[4:].tolist() == [
        4.0, 1.0]  # period -1 was never seen: the last value before 4; then period 0


@pytest.fixture(scope="module")
def fitted() -> dict:
    rows = make_observations(days=160)
    valid_start, test_start = chronological_split(rows)
    train_m, valid_m, test_m = split_masks(rows, valid_start, test_start)
    features = compute_features(rows.filter(pa.array(train_m)), valid_start)
    pl = product_location_features(features.product_locations)
    encodings = Encodings.of(rows)
    seasonality = components(("grocery", "household"), np.datetime64("2025-01-06"), 200)
    full = design(rows, pl, encodings, seasonality)
    return {"rows": rows, "pl": pl, "encodings": encodings, "masks": (train_m, valid_m, test_m),
            "seasonality": seasonality,
            "train": full.take(np.flatnonzero(train_m)),
            "valid": full.take(np.flatnonzero(valid_m))}


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_demand_model_never_rises_with_own_price(fitted: dict, kind: str) -> None:
    booster = fit_booster(kind, CONFIG, fitted["train"], None, rounds=60)
    valid_mean = predict_mean(kind, booster, fitted["valid"])
    model = DemandModel(kind, booster, fitted["pl"], fitted["encodings"],
                        fit_dispersion(fitted["valid"].units, valid_mean),
                        fitted["seasonality"])
    rows = fitted["rows"].slice(0, 40)
    base = rows["price"].to_numpy()
    prices = base[:, None] * np.linspace(0.5, 1.6, 23)[None, :]
    p10, p50, p90 = model.predict_units(rows, prices)
    assert p50.shape == prices.shape
    assert (np.diff(p50, axis=1) <= 1e-9).all()
    assert (p10 <= p50 + 1e-9).all() and (p50 <= p90 + 1).all()
    assert weekly_mape(fitted["valid"].week_group, fitted["valid"].units, valid_mean) < 0.15
    again = DemandModel.from_files(model.files())
    assert again.seasonality.equals(fitted["seasonality"])
    np.testing.assert_allclose(again.mean_units(rows), model.mean_units(rows), rtol=1e-6)


def test_a_model_of_other_features_does_not_load(fitted: dict) -> None:
    booster = fit_booster("lightgbm", CONFIG, fitted["train"], None, rounds=5)
    files = DemandModel("lightgbm", booster, fitted["pl"], fitted["encodings"], 10.0).files()
    meta = json.loads(files["model.json"])
    files["model.json"] = json.dumps({**meta, "features": meta["features"][:-1]}).encode()
    with pytest.raises(IncompatibleModel):
        DemandModel.from_files(files)


def components(categories: tuple[str, ...], first: np.datetime64, days: int) -> pa.Table:
    """Prophet-like components: weekly by weekday, yearly by day index, holidays on day 3."""
    day = first + np.arange(days)
    index = np.tile(np.arange(days), len(categories)).astype(float)
    return pa.table({
        "category": np.repeat(categories, days), "day": np.tile(day, len(categories)),
        "weekly": np.tile(0.01 * ((day.astype(np.int64) + 3) % 7), len(categories)),
        "yearly": index / 1000 + np.repeat(np.arange(len(categories)), days),
        "holidays": np.where(index == 3, 0.5, 0.0)})


def test_seasonal_lookup_repeats_by_52_weeks_outside_the_fitted_days() -> None:
    first = np.datetime64("2025-01-06")
    lookup = SeasonalLookup(components(("a", "b"), first, 400), ("a", "b", "c"))
    days = first + np.array([0, 3, 399, 400, 400 + 364, -1, 10])
    out = lookup.take(np.array([0, 0, 1, 0, 1, 0, -1.0]), days)
    # the days 400, 764 and -1 read the days 36, 36 and 363: same weekday, a year apart
    expected_index = np.array([0, 3, 399, 36, 36, 363])
    np.testing.assert_allclose(out["seasonal_yearly"][:6],
                               1 + expected_index / 1000 + np.array([0, 0, 1, 0, 1, 0]))
    weekly = 0.01 * ((days[:6].astype(np.int64) + 3) % 7)
    holidays = np.where(expected_index == 3, 0.5, 0.0)
    np.testing.assert_allclose(out["seasonal_factor"][:6],
                               out["seasonal_yearly"][:6] + weekly + holidays)
    assert np.isnan(out["seasonal_yearly"][6]) and np.isnan(out["seasonal_factor"][6])
    empty = SeasonalLookup(None, ("a",)).take(np.array([0.0]), days[:1])
    assert np.isnan(empty["seasonal_factor"]).all()


def test_competitor_shift_is_measured_from_the_usual_competitor_level(fitted: dict) -> None:
    rows = fitted["rows"]
    train = rows.filter(pa.array(fitted["masks"][0]))
    x = design(rows, fitted["pl"], fitted["encodings"]).x
    shift = x[:, FEATURES.index("log_competitor_shift")][fitted["masks"][0]]
    keys = np.char.add(train["product_id"].to_numpy(zero_copy_only=False).astype(str),
                       train["store_id"].to_numpy(zero_copy_only=False).astype(str))
    for key in np.unique(keys):
        assert abs(shift[keys == key].mean()) < 1e-5  # centred on the training window
    assert np.isnan(x[:, FEATURES.index("seasonal_factor")]).all()  # no components given


def test_dispersion_recovers_negative_binomial_size() -> None:
    rng = np.random.default_rng(1)
    mean = rng.uniform(5, 50, 20_000)
    draws = rng.negative_binomial(10, 10 / (10 + mean))
    assert fit_dispersion(draws, mean) == pytest.approx(10, rel=0.15)


def test_registry_promotes_only_a_better_version(tmp_path) -> None:
    registry = ModelRegistry(Lake.open(str(tmp_path)), "demand")
    scores = {}
    first = registry.register({"model.bin": b"a"}, {"metrics": {"test_mape": 0.2}})
    scores[first] = 0.2
    assert registry.promote(first, scores.__getitem__).promoted
    worse = registry.register({"model.bin": b"b"}, {"metrics": {"test_mape": 0.3}})
    scores[worse] = 0.3
    decision = registry.promote(worse, scores.__getitem__)
    assert not decision.promoted and registry.production() == first
    assert decision.champion_score == 0.2
    better = registry.register({"model.bin": b"c"}, {"metrics": {"test_mape": 0.1}})
    scores[better] = 0.1
    assert registry.promote(better, scores.__getitem__).promoted
    assert registry.production() == better
    assert registry.versions() == sorted([first, worse, better])
    assert registry.files(worse) == {"model.bin": b"b"}
    assert registry.card(better)["metrics"] == {"test_mape": 0.1}


def test_feature_versions_are_immutable_with_a_current_pointer(tmp_path) -> None:
    store = FeatureStore(Lake.open(str(tmp_path)))
    rows = make_observations(days=30)
    features = compute_features(rows, np.datetime64("2025-02-04"))
    window = FeatureWindow(None, None, np.datetime64("2025-02-04").item(), None, [],
                           rows.num_rows)
    manifest = store.write(features, window, version="v1")
    assert all(check["passed"] for check in manifest["checks"])
    assert manifest["row_counts"]["product_locations"] == features.product_locations.num_rows
    assert manifest["features"]["product_locations"]["elasticity"]["completeness"] == 1.0
    assert store.current() == "v1"
    store.write(features, window, version="v2", make_current=False)
    assert store.current() == "v1" and store.versions() == ["v1", "v2"]
    with pytest.raises(FeatureVersionExists):
        store.write(features, window, version="v1")
    assert store.read("v2").equals(features.product_locations)


def test_manifest_flags_inconsistent_counts(tmp_path) -> None:
    store = FeatureStore(Lake.open(str(tmp_path)))
    rows = make_observations(days=20)
    features = compute_features(rows, np.datetime64("2025-01-25"))
    window = FeatureWindow(None, None, np.datetime64("2025-01-25").item(), None, [],
                           rows.num_rows + 1)
    checks = {c["name"]: c["passed"] for c in store.write(features, window)["checks"]}
    assert not checks["observations_add_up"] and checks["price_quantiles_ordered"]
