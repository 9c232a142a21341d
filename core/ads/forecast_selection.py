"""Per-location choice between the LightGBM quantile forecaster and Prophet, and the 7-day
audience forecast table the pricing service reads.

Input is the `marts/advertising_metrics` mart. Crowd goes to whichever model wins a rolling
backtest at that location (mean pinball loss over P10/P50/P90 across the last `folds` weeks,
each week forecast from the data before it); attention rate always to LightGBM (one model
for every location); the demographic mix is each hour-of-week's P10/P50/P90 share over the
previous 8 weeks (the seasonal baseline), P50 shares renormalised to sum to 1.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import holidays
import numpy as np
import pandas as pd
import pyarrow as pa
from prophet import Prophet

from core.ads.audience_forecast import (
    DEFAULT_PARAMS,
    HOURS_PER_WEEK,
    QUANTILE_COLUMNS,
    QuantileForecaster,
    fit_forecaster,
    mean_pinball_loss,
    next_week_targets,
    seasonal_baseline,
    split_holdout,
)
from core.ads.audience_history import AGE_BANDS, GENDERS, SHARE_COLUMNS, band_column

MODELS = ("lightgbm", "prophet")
logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
logging.getLogger("prophet").setLevel(logging.WARNING)


def series(metrics: pd.DataFrame, column: str, country: str = "US") -> pd.DataFrame:
    """One metric of the advertising mart in the forecaster's long format (with holidays)."""
    frame = pd.DataFrame({
        "location_id": metrics["location"].astype(str),
        "timestamp": pd.to_datetime(metrics["slot_start"]),
        "value": metrics[column].astype(float),
    }).dropna(subset=["value"]).sort_values(["location_id", "timestamp"], ignore_index=True)
    years = range(frame["timestamp"].dt.year.min(), frame["timestamp"].dt.year.max() + 2)
    calendar = holidays.country_holidays(country, years=years)
    frame["holiday"] = frame["timestamp"].dt.date.map(lambda day: day in calendar).astype(bool)
    return frame


def prophet_forecast(history: pd.DataFrame, targets: pd.DataFrame,
                     country: str = "US") -> pd.DataFrame:
    """P10/P50/P90 per target row from one Prophet model per location (80% interval)."""
    pieces = []
    for location, rows in targets.groupby("location_id", sort=False):
        past = history[history["location_id"] == location]
        model = Prophet(interval_width=0.8, daily_seasonality=True, weekly_seasonality=True,
                        yearly_seasonality=False, uncertainty_samples=200)
        model.add_country_holidays(country)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(pd.DataFrame({"ds": past["timestamp"], "y": past["value"]}))
            predicted = model.predict(pd.DataFrame({"ds": rows["timestamp"]}))
        quantiles = np.sort(np.clip(predicted[["yhat_lower", "yhat", "yhat_upper"]].to_numpy(),
                                    0.0, None), axis=1)
        pieces.append(pd.DataFrame({"location_id": location, "timestamp": rows["timestamp"]
                                    .to_numpy(), **dict(zip(QUANTILE_COLUMNS, quantiles.T,
                                                            strict=True))}))
    return targets[["location_id", "timestamp"]].merge(pd.concat(pieces), how="left")


def _per_location_loss(actual: pd.DataFrame, predicted: pd.DataFrame) -> pd.Series:
    joined = actual.merge(predicted, on=["location_id", "timestamp"]).dropna()
    return joined.groupby("location_id").apply(
        lambda rows: mean_pinball_loss(rows["value"], rows), include_groups=False)


def truncate_weeks(frame: pd.DataFrame, weeks: int) -> pd.DataFrame:
    """The frame without each location's final `weeks` weeks (a backtest fold's data)."""
    if weeks == 0:
        return frame
    history, _ = split_holdout(frame, weeks * HOURS_PER_WEEK)
    return history


def rolling_backtest(frame: pd.DataFrame, params: dict[str, Any], folds: int,
                     country: str = "US") -> pd.DataFrame:
    """Mean pinball loss per location and model over the last `folds` held-out weeks."""
    losses = []
    for fold in range(folds):
        data = truncate_weeks(frame, fold)
        history, holdout = split_holdout(data, HOURS_PER_WEEK)
        targets = holdout.drop(columns="value")
        lgbm = fit_forecaster(history, params).predict(history, targets)
        prophet = prophet_forecast(history, targets, country)
        losses.append(pd.DataFrame({"lightgbm": _per_location_loss(holdout, lgbm),
                                    "prophet": _per_location_loss(holdout, prophet)}))
    return pd.concat(losses).groupby(level=0).mean().rename_axis("location_id")


def winners(losses: pd.DataFrame) -> dict[str, str]:
    """The model with the lower backtest loss per location (LightGBM on a tie)."""
    return {location: "prophet" if row["prophet"] < row["lightgbm"] else "lightgbm"
            for location, row in losses.iterrows()}


@dataclass(frozen=True)
class AudienceForecast:
    """The next week per location, plus what made it."""

    table: pa.Table
    crowd_model: QuantileForecaster
    rate_model: QuantileForecaster


def _quantile_columns(prefix: str, predicted: pd.DataFrame) -> dict[str, np.ndarray]:
    return {f"{prefix}_{q}": predicted[q].to_numpy(dtype=float) for q in QUANTILE_COLUMNS}


def forecast_next_week(metrics: pd.DataFrame, params: dict[str, Any],
                       chosen: dict[str, str], country: str = "US") -> AudienceForecast:
    """Hourly P10/P50/P90 crowd, attention rate, attentive count and mix for 7 days."""
    params = {**DEFAULT_PARAMS, **params}
    crowd = series(metrics, "crowd", country)
    targets = next_week_targets(crowd)
    crowd_model = fit_forecaster(crowd, params)
    crowd_pred = crowd_model.predict(crowd, targets)
    prophet_locations = [loc for loc, model in chosen.items() if model == "prophet"]
    if prophet_locations:
        in_prophet = targets["location_id"].isin(prophet_locations)
        prophet = prophet_forecast(crowd, targets[in_prophet], country)
        crowd_pred.loc[in_prophet.to_numpy(), list(QUANTILE_COLUMNS)] = \
            prophet[list(QUANTILE_COLUMNS)].to_numpy()
    rate = series(metrics, "attention_rate", country)
    rate_model = fit_forecaster(rate, params)
    rate_pred = rate_model.predict(rate, targets)
    rate_pred[list(QUANTILE_COLUMNS)] = rate_pred[list(QUANTILE_COLUMNS)].clip(0.0, 1.0)
    columns: dict[str, Any] = {
        "location": targets["location_id"].to_numpy(),
        "slot_start": targets["timestamp"].to_numpy(),
        "crowd_model": targets["location_id"].map(lambda loc: chosen.get(loc, "lightgbm"))
        .to_numpy(),
        **_quantile_columns("crowd", crowd_pred),
        **_quantile_columns("attention_rate", rate_pred),
    }
    for q in QUANTILE_COLUMNS:  # attentive interval: crowd's interval at the median rate
        columns[f"attentive_{q}"] = columns[f"crowd_{q}"] * columns["attention_rate_p50"]
    for share in SHARE_COLUMNS:
        predicted = seasonal_baseline(series(metrics, share, country),
                                      targets).fillna(0.0)
        columns.update(_quantile_columns(share, predicted))
    for group in (AGE_BANDS, GENDERS):
        names = [f"{band_column(b)}_share_p50" for b in group]
        total = np.sum([columns[n] for n in names], axis=0)
        for name in names:
            columns[name] = np.where(total > 0, columns[name] / np.where(total > 0, total, 1), 0)
    kinds = metrics.groupby("location")["location_type"].first()
    columns["location_type"] = targets["location_id"].map(kinds).to_numpy()
    return AudienceForecast(pa.table(columns), crowd_model, rate_model)

