"""Hourly audience forecasts per location for the next 7 days with P10/P50/P90.

Input is a long frame: ``location_id``, ``timestamp`` (naive local hour), ``value``, an
optional boolean ``holiday`` and any other numeric columns as exogenous features (weather).

Two forecasters:
- ``seasonal_baseline``: each hour-of-week's empirical quantiles over the previous 8 weeks.
- ``QuantileForecaster``: one LightGBM booster per quantile (alpha 0.1/0.5/0.9) on hour, day
  of week, holiday, exogenous columns and lagged levels. P10 and P90 are calibrated split-
  conformally: boosters fitted without the latest ``calibration_weeks`` give residuals on
  them, each end moves by its residual quantile, and the boosters are refitted on all rows.

Week lags are 168 h or older; the "latest" features look back ``days_ahead`` whole days,
where ``days_ahead`` is the target's distance from the forecast origin, so a forecast up to
7 days ahead never reads a value unknown at the origin (a test perturbs the future to check).
Exogenous columns (weather) are taken as given for the target hours: pass forecasts there.
"""

import warnings
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

QUANTILES = (0.1, 0.5, 0.9)
QUANTILE_COLUMNS = ("p10", "p50", "p90")
HOURS_PER_WEEK = 168
MAX_DAYS_AHEAD = 7
LAG_WEEKS = 8
KEY_COLUMNS = ("location_id", "timestamp", "value", "holiday")

DEFAULT_PARAMS: dict[str, Any] = {
    # forecaster knobs
    "holdout_hours": HOURS_PER_WEEK,  # backtest: the final week is held out
    "calibration_weeks": 3,  # latest weeks before the origin used to calibrate quantiles
    "train_weeks": 104,  # history used for training (older rows are dropped)
    # LightGBM booster parameters (anything not listed above goes to LightGBM)
    "learning_rate": 0.05,
    "num_iterations": 300,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_threads": 1,  # the boosters are small: threads cost more than they save
    "seed": 7,
}
FORECASTER_KEYS = ("holdout_hours", "calibration_weeks", "train_weeks")


def pinball_loss(actual: npt.ArrayLike, predicted: npt.ArrayLike, alpha: float) -> float:
    """Mean quantile (pinball) loss of ``predicted`` as the ``alpha`` quantile."""
    error = np.asarray(actual, dtype=float) - np.asarray(predicted, dtype=float)
    return float(np.mean(np.maximum(alpha * error, (alpha - 1.0) * error)))


def mean_pinball_loss(actual: npt.ArrayLike, quantiles: pd.DataFrame) -> float:
    """Pinball loss averaged over P10, P50 and P90."""
    return float(
        np.mean(
            [
                pinball_loss(actual, quantiles[column], alpha)
                for alpha, column in zip(QUANTILES, QUANTILE_COLUMNS, strict=True)
            ]
        )
    )


def interval_coverage(actual: npt.ArrayLike, lower: npt.ArrayLike, upper: npt.ArrayLike) -> float:
    """Share of actual values inside [lower, upper]."""
    actual = np.asarray(actual, dtype=float)
    return float(np.mean((actual >= np.asarray(lower)) & (actual <= np.asarray(upper))))


def _hourly_grid(frame: pd.DataFrame, until: pd.Timestamp | None = None) -> pd.DataFrame:
    """Every hour per location from its first row to its last (or ``until``); gaps are NaN."""
    pieces = []
    for location, rows in frame.groupby("location_id", sort=True):
        end = max(rows["timestamp"].max(), until) if until is not None else rows["timestamp"].max()
        hours = pd.date_range(rows["timestamp"].min(), end, freq="h")
        piece = rows.set_index("timestamp").reindex(hours).rename_axis("timestamp").reset_index()
        piece["location_id"] = location
        pieces.append(piece)
    return pd.concat(pieces, ignore_index=True)


def _exogenous_columns(frame: pd.DataFrame) -> list[str]:
    return [
        column
        for column in frame.columns
        if column not in KEY_COLUMNS and pd.api.types.is_numeric_dtype(frame[column])
    ]


def _row_quantiles(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """QUANTILES of each row ignoring NaN (linear interpolation); NaN for all-NaN rows."""
    ordered = np.sort(matrix, axis=1)  # NaN sort last
    valid = np.sum(~np.isnan(matrix), axis=1)
    rows = np.arange(matrix.shape[0])
    result = []
    for q in QUANTILES:
        position = np.maximum(valid - 1, 0) * q
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(valid - 1, 0))
        weight = position - below
        value = ordered[rows, below] * (1.0 - weight) + ordered[rows, above] * weight
        result.append(np.where(valid > 0, value, np.nan))
    return np.stack(result)


def _lags(grid: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Values at t - k weeks for k = 1..LAG_WEEKS, shape (rows, LAG_WEEKS)."""
    by_location = grid.groupby("location_id", sort=False)["value"]
    return np.column_stack(
        [by_location.shift(week * HOURS_PER_WEEK).to_numpy() for week in range(1, LAG_WEEKS + 1)]
    )


def _latest_known(
    grid: pd.DataFrame, days_ahead: npt.NDArray[np.int64]
) -> dict[str, npt.NDArray[np.float64]]:
    """Same hour and mean of the 24 h ending ``days_ahead`` days before each row."""
    location = grid["location_id"]
    by_location = grid.groupby("location_id", sort=False)["value"]
    day_mean = by_location.transform(lambda values: values.rolling(24, min_periods=1).mean())
    by_location_mean = day_mean.groupby(location, sort=False)
    choices = range(1, MAX_DAYS_AHEAD + 1)
    same_hour = np.column_stack([by_location.shift(24 * days).to_numpy() for days in choices])
    day_level = np.column_stack([by_location_mean.shift(24 * days).to_numpy() for days in choices])
    rows, pick = np.arange(len(grid)), days_ahead - 1
    return {"latest_same_hour": same_hour[rows, pick], "latest_day_level": day_level[rows, pick]}


def _features(
    grid: pd.DataFrame, scale: pd.Series, days_ahead: npt.NDArray[np.int64]
) -> pd.DataFrame:
    """Model features per grid row; levels are divided by the location's scale.

    ``days_ahead`` is how many days past the forecast origin each row is (1-7): the latest
    features read the value that many days back, which the origin already knows.
    """
    location_scale = grid["location_id"].map(scale).to_numpy()
    latest = {
        name: values / location_scale for name, values in _latest_known(grid, days_ahead).items()
    }
    lags = _lags(grid) / location_scale[:, None]
    by_location = grid.groupby("location_id", sort=False)["value"]
    week_ago = by_location.shift(HOURS_PER_WEEK)
    level = {
        f"level_{days}d": week_ago.groupby(grid["location_id"], sort=False)
        .transform(lambda values, hours=days * 24: values.rolling(hours, min_periods=1).mean())
        .to_numpy()
        / location_scale
        for days in (1, 7, 28)
    }
    seasonal = _row_quantiles(lags)
    with warnings.catch_warnings():  # rows whose lags are all missing give NaN: intended
        warnings.simplefilter("ignore", RuntimeWarning)
        seasonal_mean = np.nanmean(lags, axis=1)
    features = pd.DataFrame(
        {
            "hour": grid["timestamp"].dt.hour,
            "day_of_week": grid["timestamp"].dt.day_of_week,
            "holiday": grid["holiday"].astype(float) if "holiday" in grid else 0.0,
            **{f"lag_{week}w": lags[:, week - 1] for week in range(1, LAG_WEEKS + 1)},
            "seasonal_q10": seasonal[0],
            "seasonal_q50": seasonal[1],
            "seasonal_q90": seasonal[2],
            "seasonal_mean": seasonal_mean,
            **level,
            "days_ahead": days_ahead,
            **latest,
            "location_code": grid["location_id"].map({k: i for i, k in enumerate(scale.index)}),
        }
    )
    for column in _exogenous_columns(grid):
        features[column] = grid[column].to_numpy(dtype=float)
    return features


def seasonal_baseline(history: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """P10/P50/P90 per target row from the same hour-of-week over the 8 weeks before it."""
    grid = _hourly_grid(_known(history, targets), until=targets["timestamp"].max())
    quantiles = _row_quantiles(_lags(grid))
    predicted = grid[["location_id", "timestamp"]].assign(
        **{column: quantiles[i] for i, column in enumerate(QUANTILE_COLUMNS)}
    )
    return targets[["location_id", "timestamp"]].merge(predicted, how="left")


def _known(history: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """History plus the target rows with their values blanked (exogenous columns kept)."""
    blank = targets.assign(value=np.nan)
    return pd.concat([history, blank], ignore_index=True).drop_duplicates(
        ["location_id", "timestamp"], keep="first"
    )


def _booster_params(params: dict[str, Any], alpha: float) -> dict[str, Any]:
    booster = {key: value for key, value in params.items() if key not in FORECASTER_KEYS}
    return {**booster, "objective": "quantile", "alpha": alpha, "verbosity": -1}


@dataclass(frozen=True)
class QuantileForecaster:
    """One LightGBM booster per quantile plus calibration shifts in scaled units."""

    boosters: tuple[lgb.Booster, ...]
    shifts: tuple[float, ...]
    scale: pd.Series  # per location: mean value over the training history

    def predict(self, history: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
        """P10/P50/P90 for ``targets`` rows (location_id, timestamp, exogenous columns)."""
        grid = _hourly_grid(_known(history, targets), until=targets["timestamp"].max())
        grid = grid[grid["location_id"].isin(self.scale.index)].reset_index(drop=True)
        origin = history.dropna(subset=["value"]).groupby("location_id")["timestamp"].max()
        hours_ahead = (grid["timestamp"] - grid["location_id"].map(origin)) / pd.Timedelta(hours=1)
        days_ahead = np.ceil(hours_ahead.to_numpy() / 24).clip(1, MAX_DAYS_AHEAD).astype(np.int64)
        features = _features(grid, self.scale, days_ahead)
        location_scale = grid["location_id"].map(self.scale).to_numpy()
        raw = np.column_stack(
            [
                (booster.predict(features) + shift) * location_scale
                for booster, shift in zip(self.boosters, self.shifts, strict=True)
            ]
        )
        predicted = grid[["location_id", "timestamp"]].copy()
        predicted[list(QUANTILE_COLUMNS)] = np.sort(np.clip(raw, 0.0, None), axis=1)
        return targets[["location_id", "timestamp"]].merge(predicted, how="left")


def _training_rows(
    grid: pd.DataFrame, features: pd.DataFrame, scale: pd.Series
) -> tuple[pd.DataFrame, npt.NDArray[np.float64], npt.NDArray[np.datetime64]]:
    """Features, scaled target and timestamps of the grid rows with a known value."""
    known = grid["value"].notna().to_numpy()
    target = (grid["value"] / grid["location_id"].map(scale)).to_numpy()
    return features[known], target[known], grid["timestamp"].to_numpy()[known]


def fit_forecaster(
    history: pd.DataFrame, params: dict[str, Any] | None = None
) -> QuantileForecaster:
    """Train on ``history``; calibrate P10/P90 on its latest weeks, then refit on all of it."""
    params = {**DEFAULT_PARAMS, **(params or {})}
    start = history["timestamp"].max() - pd.Timedelta(weeks=params["train_weeks"])
    # keep older weeks than the training rows so their lags and 28-day levels are filled
    history = history[history["timestamp"] > start - pd.Timedelta(weeks=LAG_WEEKS + 4)]
    scale = history.groupby("location_id")["value"].mean().clip(lower=1e-9)
    grid = _hourly_grid(history)
    # each training row plays a random horizon so the model learns how staleness matters
    days_ahead = np.random.default_rng(params["seed"]).integers(1, MAX_DAYS_AHEAD + 1, len(grid))
    features, target, timestamps = _training_rows(
        grid, _features(grid, scale, days_ahead), scale
    )
    recent = timestamps > start.to_datetime64()
    features, target, timestamps = features[recent], target[recent], timestamps[recent]
    calibration_start = timestamps.max() - np.timedelta64(params["calibration_weeks"], "W")
    fit_part = timestamps <= calibration_start
    shifts = []
    for alpha in QUANTILES:
        booster = lgb.train(
            _booster_params(params, alpha), lgb.Dataset(features[fit_part], target[fit_part])
        )
        residual = target[~fit_part] - booster.predict(features[~fit_part])
        # only the interval ends move: the refit already sees the calibration weeks' level,
        # and shifting the median too double-counts a trend (it did on the car parks)
        shifts.append(float(np.quantile(residual, alpha)) if alpha != 0.5 else 0.0)
    boosters = tuple(
        lgb.train(_booster_params(params, alpha), lgb.Dataset(features, target))
        for alpha in QUANTILES
    )
    return QuantileForecaster(boosters=boosters, shifts=tuple(shifts), scale=scale)


def next_week_targets(history: pd.DataFrame) -> pd.DataFrame:
    """The 168 hours after each location's last timestamp, as rows for ``predict``."""
    last = history.groupby("location_id")["timestamp"].max()
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "location_id": location,
                    "timestamp": pd.date_range(
                        end + pd.Timedelta(hours=1), periods=HOURS_PER_WEEK, freq="h"
                    ),
                }
            )
            for location, end in last.items()
        ],
        ignore_index=True,
    )


def split_holdout(frame: pd.DataFrame, holdout_hours: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History and the final ``holdout_hours`` of each location (the rows present in them)."""
    last = frame.groupby("location_id")["timestamp"].transform("max")
    in_holdout = frame["timestamp"] > last - pd.Timedelta(hours=holdout_hours)
    return frame[~in_holdout], frame[in_holdout]


def fit_and_backtest(frame: pd.DataFrame, params: dict[str, Any] | None = None) -> dict:
    """Fit on all but the held-out final week; pinball loss and coverage vs the baseline.

    Only held-out rows the baseline can forecast are scored (their location has 8 weeks of
    history before the holdout and the hour-of-week was seen in them); every location still
    helps train the model.
    """
    params = {**DEFAULT_PARAMS, **(params or {})}
    history, holdout = split_holdout(frame, params["holdout_hours"])
    first_seen = history.groupby("location_id")["timestamp"].min()
    holdout_start = holdout.groupby("location_id")["timestamp"].min()
    long_enough = (holdout_start - first_seen) >= pd.Timedelta(weeks=LAG_WEEKS)
    scored = holdout[holdout["location_id"].map(long_enough).fillna(False).astype(bool)]
    baseline = seasonal_baseline(history, scored.drop(columns="value"))
    defined = baseline["p50"].notna().to_numpy()
    scored, baseline = scored[defined], baseline[defined]
    forecaster = fit_forecaster(history, params)
    model = forecaster.predict(history, scored.drop(columns="value"))
    actual = scored["value"].to_numpy()
    model_loss = mean_pinball_loss(actual, model)
    baseline_loss = mean_pinball_loss(actual, baseline)
    return {
        "pinball_loss": model_loss,
        "coverage": interval_coverage(actual, model["p10"], model["p90"]),
        "baseline_pinball_loss": baseline_loss,
        "baseline_coverage": interval_coverage(actual, baseline["p10"], baseline["p90"]),
        "pinball_vs_baseline": model_loss / baseline_loss,
        "scored_points": int(actual.size),
        "scored_locations": int(scored["location_id"].nunique()),
    }
