"""Hourly audience forecasts per location for the next 7 days with P10/P50/P90.

Input is a long frame: ``location_id``, ``timestamp`` (naive local hour), ``value``, an
optional boolean ``holiday`` and any other numeric columns as exogenous features (weather).

Two forecasters:
- ``seasonal_baseline``: each hour-of-week's empirical quantiles over the previous 8 weeks.
- ``QuantileForecaster``: one LightGBM booster per quantile (alpha 0.1/0.5/0.9) that predicts
  the ratio of the value to its seasonal reference (the median of the same hour-of-week over
  the previous 8 weeks, holidays left out), weighted by the reference so the loss it
  minimises is the pinball loss in counts. Features: hour, day of week, holiday and the days
  to and since one, the 8 week lags and the neighbouring hours' as ratios to the reference,
  their spread, the recent level (the last known 24 h and 168 h against their references,
  and the week before that) and the same hour's latest known ratio. P10 and P90 are
  calibrated cross-conformally: each moves by its quantile of out-of-fold residuals over
  ``calibration_folds`` contiguous time blocks (0 turns it off).

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
REFERENCE_FLOOR = 0.05  # the reference never drops below this share of the location's mean
HOLIDAY_REACH_DAYS = 3  # days before and after a holiday that get their own feature value

DEFAULT_PARAMS: dict[str, Any] = {
    # forecaster knobs
    "holdout_hours": HOURS_PER_WEEK,  # backtest: the final week is held out
    "calibration_folds": 4,  # time blocks for cross-conformal P10/P90 shifts (0: none)
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
FORECASTER_KEYS = ("holdout_hours", "calibration_folds", "train_weeks")


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


def _lags(locations: pd.Series, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Values at t - k weeks for k = 1..LAG_WEEKS, shape (rows, LAG_WEEKS)."""
    by_location = pd.Series(values, index=locations.index).groupby(locations, sort=False)
    return np.column_stack(
        [by_location.shift(week * HOURS_PER_WEEK).to_numpy() for week in range(1, LAG_WEEKS + 1)]
    )


def _holiday_flags(grid: pd.DataFrame) -> npt.NDArray[np.bool_]:
    if "holiday" not in grid:
        return np.zeros(len(grid), dtype=bool)
    return grid["holiday"].astype("boolean").fillna(False).to_numpy(dtype=bool)


def _holiday_distance(grid: pd.DataFrame, holiday: npt.NDArray[np.bool_]) -> dict[str, Any]:
    """Days to the next and since the last holiday, HOLIDAY_REACH_DAYS + 1 when further."""
    day = grid["timestamp"].dt.normalize()
    holidays = day[holiday].unique()
    distance = {}
    for name, direction in (("days_to_holiday", 1), ("days_since_holiday", -1)):
        days = np.full(len(grid), HOLIDAY_REACH_DAYS + 1.0)
        for offset in range(HOLIDAY_REACH_DAYS, 0, -1):  # the nearest holiday wins
            near = (day + pd.Timedelta(days=direction * offset)).isin(holidays).to_numpy()
            days[near] = offset
        distance[name] = days
    return distance


def _at_origin(
    locations: pd.Series, values: npt.ArrayLike, days_ahead: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Each row's ``values`` taken ``days_ahead`` days earlier (known at the origin)."""
    by_location = pd.Series(values, index=locations.index).groupby(locations, sort=False)
    earlier = np.column_stack(
        [by_location.shift(24 * days).to_numpy() for days in range(1, MAX_DAYS_AHEAD + 1)]
    )
    return earlier[np.arange(len(locations)), days_ahead - 1]


def _rolling_sum(locations: pd.Series, values: npt.NDArray[np.float64], hours: int) -> npt.NDArray:
    by_location = pd.Series(values, index=locations.index).groupby(locations, sort=False)
    return by_location.transform(lambda v: v.rolling(hours, min_periods=1).sum()).to_numpy()


def _recent_level(
    locations: pd.Series,
    values: npt.NDArray[np.float64],
    reference: npt.NDArray[np.float64],
    days_ahead: npt.NDArray[np.int64],
) -> dict[str, npt.NDArray[np.float64]]:
    """Known values over their references in the 24 h and 168 h ending at the origin, and in
    the 168 h a week before that: how far the level runs above or below the season."""
    known = ~np.isnan(values) & ~np.isnan(reference)
    level = {}
    for hours in (24, HOURS_PER_WEEK):
        total = _rolling_sum(locations, np.where(known, values, 0.0), hours)
        expected = _rolling_sum(locations, np.where(known, reference, 0.0), hours)
        ratio = np.divide(total, expected, out=np.full(len(total), np.nan), where=expected > 0)
        level[f"level_{hours}h"] = _at_origin(locations, ratio, days_ahead)
        if hours == HOURS_PER_WEEK:
            by_location = pd.Series(ratio, index=locations.index).groupby(locations, sort=False)
            week_before = by_location.shift(hours).to_numpy()
            level["level_168h_week_before"] = _at_origin(locations, week_before, days_ahead)
    return level


def _neighbour_hours_mean(
    locations: pd.Series, lags: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Mean of the lag weeks' values at the hour before, the hour and the hour after."""
    by_location = pd.DataFrame(lags, index=locations.index).groupby(locations, sort=False)
    after = by_location.shift(-1).to_numpy().copy()
    after[:, 0] = np.nan  # the hour after last week's can be past the forecast origin
    return np.nanmean(np.hstack([by_location.shift(1).to_numpy(), lags, after]), axis=1)


def _features(
    grid: pd.DataFrame, scale: pd.Series, days_ahead: npt.NDArray[np.int64]
) -> tuple[pd.DataFrame, npt.NDArray[np.float64]]:
    """Model features per grid row and its seasonal reference (NaN without any lag).

    ``days_ahead`` is how many days past the forecast origin each row is (1-7): the latest
    features read the value that many days back, which the origin already knows.
    """
    locations = grid["location_id"]
    location_scale = locations.map(scale).to_numpy()
    holiday = _holiday_flags(grid)
    values = np.where(holiday, np.nan, grid["value"].to_numpy(dtype=float))
    lags = _lags(locations, values)
    with warnings.catch_warnings():  # rows whose lags are all missing give NaN: intended
        warnings.simplefilter("ignore", RuntimeWarning)
        low, median, high = _row_quantiles(lags)
        reference = np.fmax(median, REFERENCE_FLOOR * location_scale)
        reference[np.isnan(median)] = np.nan
        features = pd.DataFrame(
            {
                "hour": grid["timestamp"].dt.hour,
                "day_of_week": grid["timestamp"].dt.day_of_week,
                "holiday": holiday.astype(float),
                **_holiday_distance(grid, holiday),
                **{f"lag_{week}w": lags[:, week - 1] / reference
                   for week in range(1, LAG_WEEKS + 1)},
                "lag_mean": np.nanmean(lags, axis=1) / reference,
                "neighbour_hours_mean": _neighbour_hours_mean(locations, lags) / reference,
                "spread": (high - low) / reference,
                "lags_known": np.sum(~np.isnan(lags), axis=1),
                "reference": reference / location_scale,
                **_recent_level(locations, values, reference, days_ahead),
                "latest_same_hour": _at_origin(locations, values / reference, days_ahead),
                "days_ahead": days_ahead,
                "location_code": locations.map({k: i for i, k in enumerate(scale.index)}),
            }
        )
    for column in _exogenous_columns(grid):
        features[column] = grid[column].to_numpy(dtype=float)
    return features, reference


def seasonal_baseline(history: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """P10/P50/P90 per target row from the same hour-of-week over the 8 weeks before it."""
    grid = _hourly_grid(_known(history, targets), until=targets["timestamp"].max())
    quantiles = _row_quantiles(_lags(grid["location_id"], grid["value"]))
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


def _hour_of_day_mean(grid: pd.DataFrame, scale: pd.Series) -> npt.NDArray[np.float64]:
    """Reference for rows without any lag: the known mean at that hour, else the location's."""
    hour = grid["timestamp"].dt.hour
    mean = grid.groupby([grid["location_id"], hour])["value"].transform("mean")
    return mean.fillna(grid["location_id"].map(scale)).clip(lower=1e-9).to_numpy()


@dataclass(frozen=True)
class QuantileForecaster:
    """One LightGBM booster per quantile of the value/reference ratio, plus P10/P90 shifts."""

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
        features, reference = _features(grid, self.scale, days_ahead)
        reference = np.where(np.isnan(reference), _hour_of_day_mean(grid, self.scale), reference)
        raw = np.column_stack(
            [
                (booster.predict(features) + shift) * reference
                for booster, shift in zip(self.boosters, self.shifts, strict=True)
            ]
        )
        predicted = grid[["location_id", "timestamp"]].copy()
        predicted[list(QUANTILE_COLUMNS)] = np.sort(np.clip(raw, 0.0, None), axis=1)
        return targets[["location_id", "timestamp"]].merge(predicted, how="left")


def _out_of_fold_residuals(
    params: dict[str, Any],
    alpha: float,
    features: pd.DataFrame,
    target: npt.NDArray[np.float64],
    weight: npt.NDArray[np.float64],
    block: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Residuals of each time block's rows under a booster fitted on the other blocks."""
    residuals = []
    for held_out in np.unique(block):
        fit = block != held_out
        booster = lgb.train(
            _booster_params(params, alpha),
            lgb.Dataset(features[fit], target[fit], weight=weight[fit]),
        )
        scored = ~fit & (features["holiday"].to_numpy() == 0)  # holidays say little of the rest
        residuals.append(target[scored] - booster.predict(features[scored]))
    return np.concatenate(residuals)


def fit_forecaster(
    history: pd.DataFrame, params: dict[str, Any] | None = None
) -> QuantileForecaster:
    """Train on ``history`` (rows with at least one week-old lag); with ``calibration_folds``
    > 1, P10 and P90 move by the matching quantile of their out-of-fold residuals over that
    many contiguous time blocks (cross-conformal), which widens boosters that overfit."""
    params = {**DEFAULT_PARAMS, **(params or {})}
    start = history["timestamp"].max() - pd.Timedelta(weeks=params["train_weeks"])
    # keep older weeks than the training rows so their lags and levels are filled
    history = history[history["timestamp"] > start - pd.Timedelta(weeks=LAG_WEEKS + 2)]
    scale = history.groupby("location_id")["value"].mean().clip(lower=1e-9)
    grid = _hourly_grid(history)
    # each training row plays a random horizon so the model learns how staleness matters
    days_ahead = np.random.default_rng(params["seed"]).integers(1, MAX_DAYS_AHEAD + 1, len(grid))
    features, reference = _features(grid, scale, days_ahead)
    target = grid["value"].to_numpy(dtype=float) / reference
    timestamps = grid["timestamp"].to_numpy()
    usable = ~np.isnan(target) & (timestamps > start.to_datetime64())
    if not usable.any():
        raise ValueError("no row has a value and a week-old lag: need more than a week of data")
    features, target, weight = features[usable], target[usable], reference[usable]
    shifts = [0.0] * len(QUANTILES)
    if params["calibration_folds"] > 1:
        elapsed = (timestamps[usable] - timestamps[usable].min()).astype(np.float64)
        block = np.minimum(
            (elapsed / (elapsed.max() + 1.0) * params["calibration_folds"]).astype(np.int64),
            params["calibration_folds"] - 1,
        )
        for i, alpha in enumerate(QUANTILES):
            if alpha != 0.5:  # only the interval ends move
                residual = _out_of_fold_residuals(params, alpha, features, target, weight, block)
                shifts[i] = float(np.quantile(residual, alpha))
    boosters = tuple(
        lgb.train(_booster_params(params, alpha), lgb.Dataset(features, target, weight=weight))
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
