"""Train the retail demand model: features and Prophet seasonality (per category, one Ray
task each) of the training window, XGBoost and LightGBM searched with Ray Tune (random
search, ASHA early stopping), the best refitted, scored on the test split, registered in
the lake and promoted if it beats production.

    python -m tuning.demand [--lake URI] [--trials 8] [--max-rounds 300]
    dynaprice submit demand -- --trials 16
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import ray
import typer
from ray import tune
from ray.data.datasource.partitioning import Partitioning
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import BasicVariantGenerator
from rich.console import Console
from rich.table import Table

from core.lake import PRICE_POINTS, Lake
from core.retail.demand_model import (
    KINDS,
    DemandModel,
    IncompatibleModel,
    fit_booster,
    fit_dispersion,
    predict_mean,
)
from core.retail.feature_store import FeatureStore, FeatureWindow
from core.retail.features import FeatureSet, compute_features
from core.retail.metrics import bias, weekly_mape
from core.retail.observations import LAKE_COLUMNS, daily, observations, region_timezones
from core.retail.registry import ModelRegistry, Promotion
from core.retail.seasonality import ProphetSettings
from core.retail.training import (
    Design,
    Encodings,
    chronological_split,
    design,
    product_location_features,
    split_masks,
)
from core.settings import Settings
from tuning.seasonality import fit_categories

console = Console()
SEARCH_SPACE = {
    "kind": tune.choice(list(KINDS)),
    "learning_rate": tune.loguniform(0.03, 0.3),
    "max_depth": tune.randint(3, 9),
    "min_child_weight": tune.loguniform(1.0, 50.0),
    "subsample": tune.uniform(0.6, 1.0),
    "colsample": tune.uniform(0.6, 1.0),
    "reg_lambda": tune.loguniform(0.1, 10.0),
}
# Few yearly terms: a training window under two years leaves Prophet's default ten free to
# chase single weeks (promotions, competitor moves) instead of the season's shape.
SEASONALITY = ProphetSettings(yearly_fourier_order=3)
SERVING_DAYS = 365  # seasonality is fitted this far past the data (then repeats by 52 weeks)


@dataclass(frozen=True)
class TrainingOutcome:
    version: str
    promotion: Promotion
    metrics: dict[str, float]
    config: dict[str, Any]
    model: DemandModel
    features: FeatureSet
    feature_version: str
    test_rows: pa.Table


def read_daily(lake: Lake, configs_dir: Any = None) -> pa.Table:
    """Daily product-location observations of the whole lake, via Ray Data."""
    zones = region_timezones(configs_dir)
    # the v1 reader: v2 (Ray 2.60) starts a thread per fragment in each read task, thousands
    # on a lake of many small files
    ray.data.DataContext.get_current().use_datasource_v2 = False
    dataset = ray.data.read_parquet(
        lake.path(PRICE_POINTS), filesystem=lake.fs,
        partitioning=Partitioning("hive", base_dir=lake.path(PRICE_POINTS)),
    ).select_columns(list(LAKE_COLUMNS))
    parts = dataset.map_batches(lambda block: daily(observations(block, zones)),
                                batch_format="pyarrow", batch_size=None)
    return daily(pa.concat_tables(ray.get(parts.to_arrow_refs())))


def _trial(config: dict[str, Any], train: Design, valid: Design, max_rounds: int,
           every: int) -> None:
    def report(rounds: int, mean: np.ndarray) -> bool:
        tune.report({"valid_mape": weekly_mape(valid.week_group, valid.units, mean),
                     "rounds": rounds})
        return False

    fit_booster(config["kind"], config, train, valid, max_rounds, every, report)


def search(train: Design, valid: Design, trials: int, max_rounds: int, every: int,
           seed: int = 0) -> tuple[dict[str, Any], int, float]:
    """Best config, its best number of rounds and validation MAPE, by Ray Tune."""
    storage = tempfile.mkdtemp(prefix="dynaprice-tune-")
    try:
        trainable = tune.with_resources(
            tune.with_parameters(_trial, train=train, valid=valid, max_rounds=max_rounds,
                                 every=every), {"cpu": 1})
        tuner = tune.Tuner(
            trainable, param_space=SEARCH_SPACE,
            tune_config=tune.TuneConfig(
                metric="valid_mape", mode="min", num_samples=trials,
                scheduler=ASHAScheduler(time_attr="rounds", max_t=max_rounds,
                                        grace_period=2 * every, reduction_factor=2),
                search_alg=BasicVariantGenerator(random_state=seed)),
            run_config=tune.RunConfig(storage_path=storage, name="demand", verbose=0))
        best = tuner.fit().get_best_result(metric="valid_mape", mode="min", scope="all")
        history = best.metrics_dataframe
        row = history.loc[history["valid_mape"].idxmin()]
        return dict(best.config), int(row["rounds"]), float(row["valid_mape"])
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def train_demand(lake: Lake, rows: pa.Table, name: str = "demand", trials: int = 8,
                 max_rounds: int = 300, every: int = 25, seed: int = 0,
                 extra_metrics: Callable[[DemandModel, pa.Table], dict[str, float]] | None
                 = None) -> TrainingOutcome:
    """Split `rows` (daily observations) 70/15/15 in time, build features of the training
    window, search, refit, score, register and try to promote."""
    valid_start, test_start = chronological_split(rows)
    train_mask, valid_mask, test_mask = split_masks(rows, valid_start, test_start)
    train_rows, test_rows = rows.filter(pa.array(train_mask)), rows.filter(pa.array(test_mask))
    as_of = valid_start - np.timedelta64(1, "D")
    features = compute_features(train_rows, as_of)
    first_day = rows["day"].to_numpy(zero_copy_only=False).astype("datetime64[D]").min()
    manifest = FeatureStore(lake).write(features, FeatureWindow(
        start=first_day.item(), end=as_of.item(), as_of=as_of.item(), regions=None,
        source_partitions=[], records_read=train_rows.num_rows), make_current=False)
    last_day = rows["day"].to_numpy(zero_copy_only=False).astype("datetime64[D]").max()
    prophet = replace(SEASONALITY, horizon_days=int((last_day - as_of).astype(int))
                      + SERVING_DAYS)
    seasonality, _ = fit_categories(train_rows, prophet)
    pl = product_location_features(features.product_locations)
    encodings = Encodings.of(rows)
    full = design(rows, pl, encodings, seasonality)
    train, valid, test = (full.take(np.flatnonzero(m)) for m in (train_mask, valid_mask,
                                                                    test_mask))
    config, rounds, valid_mape = search(train, valid, trials, max_rounds, every, seed)
    booster = fit_booster(config["kind"], config, train, None, rounds)
    valid_mean = predict_mean(config["kind"], booster, valid)
    model = DemandModel(config["kind"], booster, pl, encodings,
                        fit_dispersion(valid.units, valid_mean), seasonality)
    test_mean = predict_mean(config["kind"], booster, test)
    metrics = {"test_mape": weekly_mape(test.week_group, test.units, test_mean),
               "test_bias": bias(test.units, test_mean), "valid_mape": valid_mape,
               "rounds": rounds, "train_rows": int(train_mask.sum()),
               "test_rows": int(test_mask.sum())}
    if extra_metrics:
        metrics |= extra_metrics(model, test_rows)
    registry = ModelRegistry(lake, name)
    version = registry.register(model.files(), card={
        "metrics": metrics, "feature_version": manifest["version"], "tune_config": config,
        "search": {"trials": trials, "max_rounds": max_rounds, "scheduler": "ASHA",
                   "search_alg": "BasicVariantGenerator"}, "seasonality": asdict(prophet),
        "split": {"valid_start": str(valid_start), "test_start": str(test_start)}})

    def test_mape(candidate: str) -> float:
        try:
            scored = DemandModel.load(registry, candidate).mean_units(test_rows)
        except IncompatibleModel:  # a champion of older features: the challenger replaces it
            return float("inf")
        return weekly_mape(test.week_group, test.units, scored)

    promotion = registry.promote(version, test_mape)
    return TrainingOutcome(version, promotion, metrics, config, model, features,
                           manifest["version"], test_rows)


def summary(outcome: TrainingOutcome) -> Table:
    table = Table(title=f"demand model {outcome.version} ({outcome.config['kind']})")
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in outcome.metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    table.add_row("feature version", outcome.feature_version)
    table.add_row("promoted", str(outcome.promotion.promoted))
    table.add_row("production", str(outcome.promotion.production))
    return table


def main(
    lake: Annotated[str | None, typer.Option(help="Lake URI; default LAKE_URI")] = None,
    name: Annotated[str, typer.Option(help="Registry model name")] = "demand",
    trials: Annotated[int, typer.Option(min=1)] = 8,
    max_rounds: Annotated[int, typer.Option(min=10)] = 300,
) -> None:
    """Train, register and (if better) promote a demand model from the lake's history."""
    settings = Settings.from_env()
    target = Lake.open(lake or settings.lake_uri, settings.aws_endpoint_url)
    rows = read_daily(target, settings.configs_dir)
    console.print(summary(train_demand(target, rows, name, trials, max_rounds)))


if __name__ == "__main__":
    typer.run(main)
