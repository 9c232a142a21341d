import numpy as np
import pandas as pd
import pytest

from core.ads.audience_forecast import (
    MAX_DAYS_AHEAD,
    QUANTILES,
    _features,
    _hourly_grid,
    _row_quantiles,
    fit_and_backtest,
    fit_forecaster,
    interval_coverage,
    next_week_targets,
    pinball_loss,
    seasonal_baseline,
    split_holdout,
)
from core.ads.public_series import read_parking, read_traffic

SMALL_MODEL = {"num_iterations": 80, "learning_rate": 0.1, "train_weeks": 12}


def synthetic_series(weeks=14, growth_per_week=0.06, seed=0, locations=("a", "b")):
    """Hourly counts with a daily and weekly shape, a steady upward trend and noise."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range("2024-01-01", periods=weeks * 168, freq="h")
    frames = []
    for size, location in enumerate(locations, start=1):
        daily = 1 + 0.8 * np.sin((hours.hour - 6) / 24 * 2 * np.pi)
        weekend = np.where(hours.day_of_week >= 5, 0.6, 1.0)
        trend = (1 + growth_per_week) ** (np.arange(hours.size) / 168)
        level = 100 * size * daily * weekend * trend
        frames.append(pd.DataFrame({
            "location_id": location,
            "timestamp": hours,
            "value": rng.gamma(20, level / 20),
            "holiday": False,
        }))
    return pd.concat(frames, ignore_index=True)


def test_pinball_loss_by_hand():
    actual, predicted = [10.0, 0.0], [8.0, 4.0]
    # under-forecast by 2 costs 0.9 * 2; over-forecast by 4 costs 0.1 * 4
    assert pinball_loss(actual, predicted, 0.9) == pytest.approx((1.8 + 0.4) / 2)
    assert pinball_loss(actual, predicted, 0.5) == pytest.approx((1.0 + 2.0) / 2)


def test_interval_coverage_counts_the_ends_as_inside():
    assert interval_coverage([1, 2, 3, 4], [1, 3, 0, 5], [1, 4, 2, 6]) == 0.25


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")
def test_row_quantiles_match_numpy_and_ignore_missing():
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(300, 8))
    matrix[rng.random(matrix.shape) < 0.3] = np.nan
    matrix[0] = np.nan
    expected = np.nanquantile(matrix, QUANTILES, axis=1)
    np.testing.assert_allclose(_row_quantiles(matrix), expected, equal_nan=True)


def test_seasonal_baseline_uses_the_same_hour_of_the_previous_eight_weeks():
    frame = synthetic_series(weeks=10, locations=("a",))
    history, holdout = split_holdout(frame, 168)
    target = holdout.iloc[[5]]
    baseline = seasonal_baseline(history, target.drop(columns="value"))
    when = target["timestamp"].iloc[0]
    same_hour = history.set_index("timestamp").loc[
        [when - pd.Timedelta(weeks=k) for k in range(1, 9)], "value"
    ]
    assert baseline["p10"].iloc[0] == pytest.approx(np.quantile(same_hour, 0.1))
    assert baseline["p50"].iloc[0] == pytest.approx(np.quantile(same_hour, 0.5))
    assert baseline["p90"].iloc[0] == pytest.approx(np.quantile(same_hour, 0.9))


def test_features_never_read_values_after_the_forecast_origin():
    frame = synthetic_series(weeks=11)
    grid = _hourly_grid(frame)
    origin = grid["timestamp"].max() - pd.Timedelta(hours=168)
    hours_ahead = (grid["timestamp"] - origin) / pd.Timedelta(hours=1)
    days_ahead = np.ceil(hours_ahead / 24).clip(1, MAX_DAYS_AHEAD).astype(np.int64).to_numpy()
    scale = frame.groupby("location_id")["value"].mean()
    future = (grid["timestamp"] > origin).to_numpy()
    tampered = grid.copy()
    tampered.loc[future, "value"] *= 7.0
    before, reference_before = _features(grid, scale, days_ahead)
    after, reference_after = _features(tampered, scale, days_ahead)
    pd.testing.assert_frame_equal(before[future], after[future])
    np.testing.assert_array_equal(reference_before[future], reference_after[future])


def test_reference_is_the_eight_week_median_without_holidays():
    frame = synthetic_series(weeks=10, locations=("a",))
    grid = _hourly_grid(frame)
    row = len(grid) - 1
    lags = grid["value"].to_numpy()[[row - week * 168 for week in range(1, 9)]]
    holiday_day = grid["timestamp"].iloc[row - 2 * 168].normalize()
    days_ahead = np.full(len(grid), 1)
    scale = frame.groupby("location_id")["value"].mean()
    _, reference = _features(grid, scale, days_ahead)
    assert reference[row] == pytest.approx(np.median(lags))
    grid["holiday"] = grid["timestamp"].dt.normalize() == holiday_day
    features, reference = _features(grid, scale, days_ahead)
    assert reference[row] == pytest.approx(np.median(np.delete(lags, 1)))
    assert np.isnan(features["lag_2w"].iloc[row])
    after = grid.index[grid["timestamp"] == holiday_day + pd.Timedelta(days=1, hours=5)][0]
    assert features["days_since_holiday"].iloc[after] == 1
    assert features["days_to_holiday"].iloc[after] == 4  # none within 3 days


def test_forecaster_beats_the_baseline_on_a_trending_series():
    metrics = fit_and_backtest(synthetic_series(), SMALL_MODEL)
    assert metrics["scored_points"] == 2 * 168
    assert metrics["pinball_vs_baseline"] < 0.9  # the baseline lags the trend
    assert 0.65 <= metrics["coverage"] <= 0.95


def test_cross_conformal_shifts_widen_an_overfitting_model():
    overfit = {**SMALL_MODEL, "num_leaves": 63, "min_data_in_leaf": 2}
    history, holdout = split_holdout(synthetic_series(weeks=12), 168)
    raw = fit_forecaster(history, {**overfit, "calibration_folds": 0})
    calibrated = fit_forecaster(history, {**overfit, "calibration_folds": 4})
    assert raw.shifts == (0.0, 0.0, 0.0)
    low, median, high = calibrated.shifts
    assert low < 0.0 < high and median == 0.0
    targets = holdout.drop(columns="value")
    coverage = [
        interval_coverage(holdout["value"], predicted["p10"], predicted["p90"])
        for predicted in (raw.predict(history, targets), calibrated.predict(history, targets))
    ]
    assert coverage[0] < coverage[1]


def test_forecast_quantiles_are_ordered_and_cover_each_target():
    frame = synthetic_series(weeks=12)
    history, holdout = split_holdout(frame, 168)
    forecaster = fit_forecaster(history, SMALL_MODEL)
    predicted = forecaster.predict(history, holdout.drop(columns="value"))
    assert len(predicted) == len(holdout)
    assert predicted[["p10", "p50", "p90"]].notna().all().all()
    assert (predicted["p10"] <= predicted["p50"]).all()
    assert (predicted["p50"] <= predicted["p90"]).all()


def test_next_week_forecast_starts_after_the_history_of_each_location():
    history = synthetic_series(weeks=11)
    forecaster = fit_forecaster(history, SMALL_MODEL)
    targets = next_week_targets(history)
    predicted = forecaster.predict(history, targets)
    assert len(predicted) == 2 * 168
    assert predicted["timestamp"].min() == history["timestamp"].max() + pd.Timedelta(hours=1)
    assert predicted[["p10", "p50", "p90"]].notna().all().all()


def test_traffic_reader_cleans_duplicate_hours_and_bad_readings():
    traffic = read_traffic()
    assert traffic["timestamp"].is_unique
    assert traffic["temp"].min() > 200  # kelvin; the file has 0 K sensor gaps
    assert traffic.loc[traffic["timestamp"].dt.date == pd.Timestamp("2017-12-25").date(),
                       "holiday"].all()


def test_parking_reader_gives_hourly_means_inside_opening_hours():
    parking = read_parking()
    assert parking["location_id"].nunique() == 30
    assert not parking.duplicated(["location_id", "timestamp"]).any()
    hours = parking["timestamp"].dt.hour
    assert set(hours) <= set(range(7, 17))  # a few readings come early, at 07:4x
    assert (hours == 7).mean() < 0.005


def test_real_car_parks_beat_the_baseline_with_calibrated_intervals():
    parking = read_parking()
    every_fourth = sorted(parking["location_id"].unique())[::4]
    metrics = fit_and_backtest(parking[parking["location_id"].isin(every_fourth)], SMALL_MODEL)
    assert metrics["scored_locations"] == len(every_fourth) - 1  # one opened in the last week
    assert metrics["pinball_vs_baseline"] < 1.0  # 0.90 when written
    assert 0.65 <= metrics["coverage"] <= 0.95
