"""Fit Prophet seasonality per category in parallel Ray tasks and store the components.

    python -m tuning.seasonality [--lake URI] [--horizon-days 90]
    dynaprice submit seasonality -- --horizon-days 120

Daily units per category come from the lake (Ray Data, as for the demand model); each
category's Prophet model is one Ray task; the components land in the lake as a new
seasonality version that names the retail feature version current at fit time.
"""

from __future__ import annotations

from typing import Annotated, Any

import pyarrow as pa
import ray
import typer
from rich.console import Console
from rich.table import Table

from core.lake import Lake
from core.retail.feature_store import FeatureStore
from core.retail.seasonality import (
    MIN_HISTORY_DAYS,
    ProphetSettings,
    SeasonalityStore,
    category_series,
    fit_components,
    labelled,
    split_by_history,
)
from core.settings import Settings

console = Console()


@ray.remote(num_cpus=1)
def fit_category(category: str, series: pa.Table, settings: ProphetSettings) -> pa.Table:
    """One category's Prophet components."""
    return labelled(category, fit_components(series, settings))


def fit_categories(daily_rows: pa.Table, settings: ProphetSettings
                   ) -> tuple[pa.Table | None, dict[str, int]]:
    """Components of every category of daily rows with enough history, fitted in parallel
    (None when none has), and the observed days of the categories left out."""
    series, skipped = split_by_history(category_series(daily_rows))
    fits = [fit_category.remote(category, rows, settings) for category, rows in series.items()]
    return (pa.concat_tables(ray.get(fits)) if fits else None), skipped


def fit_seasonality(lake: Lake, settings: ProphetSettings | None = None,
                    configs_dir: Any = None) -> dict[str, Any]:
    """Fit every category of the lake's history in parallel; store and return the manifest."""
    from tuning.demand import read_daily  # tuning.demand fits through this module

    settings = settings or ProphetSettings()
    components, skipped = fit_categories(read_daily(lake, configs_dir), settings)
    if components is None:
        raise typer.BadParameter(f"no category has {MIN_HISTORY_DAYS} days of history")
    return SeasonalityStore(lake).write(components, FeatureStore(lake).current(), settings,
                                        skipped)


def summary(manifest: dict[str, Any]) -> Table:
    table = Table(title=f"seasonality {manifest['version']} "
                        f"(features {manifest['feature_version']})")
    for column in ("category", "observed days", "first day", "last observed", "through"):
        table.add_column(column)
    for category, facts in manifest["categories"].items():
        table.add_row(category, str(facts["observed_days"]), facts["first_day"],
                      facts["last_observed_day"], facts["last_day"])
    return table


def main(
    lake: Annotated[str | None, typer.Option(help="Lake URI; default LAKE_URI")] = None,
    horizon_days: Annotated[int, typer.Option(min=0, help="Days past the history")] = 90,
) -> None:
    """Fit Prophet per category and store the components as the current seasonality."""
    settings = Settings.from_env()
    target = Lake.open(lake or settings.lake_uri, settings.aws_endpoint_url)
    manifest = fit_seasonality(target, ProphetSettings(horizon_days=horizon_days),
                               settings.configs_dir)
    console.print(summary(manifest))


if __name__ == "__main__":
    typer.run(main)
