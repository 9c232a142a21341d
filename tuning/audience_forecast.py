"""Nightly audience forecast: LightGBM quantile parameters searched with Ray Tune (ASHA over
rolling-backtest folds, each fold one `fit_and_backtest` call), Prophet as the second model,
the per-location winner of a rolling backtest kept, everything registered in the model
registry (`models/audience_forecast/`) and the next 7 days hour by hour written to
`forecasts/audience/`.

    python -m tuning.audience_forecast [--lake URI] [--trials 4] [--folds 2] [--quick]
    dynaprice submit audience_forecast -- --trials 8
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import pyarrow as pa
import typer
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from rich.console import Console
from rich.table import Table

from core.ads.audience_forecast import fit_and_backtest
from core.ads.forecast_selection import (
    forecast_next_week,
    rolling_backtest,
    series,
    truncate_weeks,
    winners,
)
from core.lake import AUDIENCE_FORECASTS, AUDIENCE_MARTS, Lake
from core.retail.registry import ModelRegistry
from core.settings import Settings

console = Console()
MODEL_NAME = "audience_forecast"
FORECAST_FILE = "latest.parquet"
SEARCH_SPACE = {
    "learning_rate": tune.loguniform(0.03, 0.2),
    "num_leaves": tune.choice([7, 15, 31]),
    "min_data_in_leaf": tune.choice([10, 20, 40]),
    "feature_fraction": tune.uniform(0.7, 1.0),
}  # calibration stays on (DEFAULT_PARAMS): a pinball-only score would trade coverage away
TUNE_RESULTS = str(Path(tempfile.gettempdir()) / "dynaprice-tune")
QUICK = {"num_iterations": 80, "learning_rate": 0.12}


@dataclass(frozen=True)
class ForecastOutcome:
    version: str
    forecast: pa.Table
    winners: dict[str, str]
    losses: pd.DataFrame
    config: dict[str, Any]


def read_metrics(lake: Lake) -> pd.DataFrame:
    """The hourly advertising mart (written by data_jobs.audience_rollup)."""
    table = lake.read(f"{AUDIENCE_MARTS}/advertising_metrics")
    if table.num_rows == 0:
        raise typer.BadParameter("no advertising_metrics mart: run data_jobs.audience_rollup")
    return table.to_pandas()


def _trainable(config: dict[str, Any], frame: pd.DataFrame, folds: int,
               base: dict[str, Any]) -> None:
    """One parameter set scored fold by fold (newest first) so ASHA can stop it early."""
    losses = []
    for fold in range(folds):
        metrics = fit_and_backtest(truncate_weeks(frame, fold), {**base, **config})
        losses.append(metrics["pinball_vs_baseline"])
        tune.report({"pinball_vs_baseline": sum(losses) / len(losses),
                     "coverage": metrics["coverage"]})


def search_params(frame: pd.DataFrame, trials: int, folds: int,
                  base: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """Best LightGBM parameters by mean pinball loss relative to the seasonal baseline."""
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(_trainable, frame=frame, folds=folds,
                                                 base=base), {"cpu": 1}),
        param_space=SEARCH_SPACE,
        tune_config=tune.TuneConfig(
            metric="pinball_vs_baseline", mode="min", num_samples=trials,
            scheduler=ASHAScheduler(max_t=folds, grace_period=1, reduction_factor=2)),
        run_config=tune.RunConfig(name=f"audience-forecast-{datetime.now(UTC):%Y%m%d%H%M%S}",
                                  storage_path=TUNE_RESULTS, verbose=0),
    )
    best = tuner.fit().get_best_result()
    return {**base, **best.config}, float(best.metrics["pinball_vs_baseline"])


def run_forecast(lake: Lake, configs_dir: Path | None = None, trials: int = 4, folds: int = 2,
                 quick: bool = False, country: str = "US") -> ForecastOutcome:
    """Search, pick a model per location, register, write next week's forecast."""
    metrics = read_metrics(lake)
    crowd = series(metrics, "crowd", country)
    base = QUICK if quick else {}
    config, relative_loss = search_params(crowd, trials, folds, base)
    losses = rolling_backtest(crowd, config, folds, country)
    chosen = winners(losses)
    forecast = forecast_next_week(metrics, config, chosen, country)
    registry = ModelRegistry(lake, MODEL_NAME)
    files = {f"crowd_{q}.txt": booster.model_to_string().encode()
             for q, booster in zip(("p10", "p50", "p90"), forecast.crowd_model.boosters,
                                   strict=True)}
    files |= {f"attention_rate_{q}.txt": booster.model_to_string().encode()
              for q, booster in zip(("p10", "p50", "p90"), forecast.rate_model.boosters,
                                    strict=True)}
    files["selection.json"] = json.dumps({"winners": chosen,
                                          "losses": losses.round(6).to_dict("index")}).encode()
    backtest = float(losses.min(axis=1).mean())
    version = registry.register(files, card={
        "metrics": {"backtest_pinball": backtest, "pinball_vs_baseline": relative_loss},
        "config": config, "winners": chosen, "folds": folds, "trials": trials})
    registry.promote(version, score=lambda v: registry.card(v)["metrics"]["backtest_pinball"])
    table = forecast.table.append_column("model_version", pa.array(
        [version] * forecast.table.num_rows))
    lake.write_file(table, AUDIENCE_FORECASTS, FORECAST_FILE)
    return ForecastOutcome(version, table, chosen, losses, config)


def fit_demo_forecast(settings: Settings, console: Console = console) -> ForecastOutcome:
    """`dynaprice up --demo`'s short fit (after data_jobs.seed_audience.prepare_ads_demo)."""
    lake = Lake.open(settings.lake_uri, settings.aws_endpoint_url)
    outcome = run_forecast(lake, settings.configs_dir, trials=2, folds=1, quick=True)
    console.print(f"audience forecast {outcome.version}: {outcome.forecast.num_rows:,} hourly "
                  f"rows for {len(outcome.winners)} locations")
    return outcome


def summary(outcome: ForecastOutcome) -> Table:
    table = Table(title=f"audience forecast {outcome.version}")
    for column in ("location", "lightgbm pinball", "prophet pinball", "kept"):
        table.add_column(column, justify="right")
    for location, row in outcome.losses.iterrows():
        table.add_row(str(location), f"{row['lightgbm']:.2f}", f"{row['prophet']:.2f}",
                      outcome.winners[location])
    return table


def main(
    lake: Annotated[str | None, typer.Option(help="Lake URI; default LAKE_URI")] = None,
    trials: Annotated[int, typer.Option(help="Ray Tune trials")] = 4,
    folds: Annotated[int, typer.Option(help="Rolling-backtest weeks")] = 2,
    quick: Annotated[bool, typer.Option(help="Lighter boosters")] = False,
    country: Annotated[str, typer.Option(help="Holiday calendar (ISO country)")] = "US",
) -> None:
    """Fit, select and register the audience forecaster; write next week's forecast."""
    settings = Settings.from_env()
    target = Lake.open(lake or settings.lake_uri, settings.aws_endpoint_url)
    console.print(summary(run_forecast(target, settings.configs_dir, trials, folds, quick,
                                       country)))


if __name__ == "__main__":
    typer.run(main)
