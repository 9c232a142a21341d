"""Nightly recommendations over the whole catalogue into the review queue.

Ray Data spreads the catalogue's product-locations over workers; each worker loads the
production demand model once and runs the vectorised optimiser (core.retail.pricing: one
model call per batch scores every candidate price of every item). Moves of at least
`min_change_pct` (configs/review.yaml) enter the review queue; re-running the job for the same
day and model adds nothing (item ids are derived from them). Alerts with a suggested price
that no `retail` replica has queued yet are queued too (the same consumer group).

    python -m data_jobs.recommend_catalog [--lake URI] [--target-date D] [--objective revenue]
    dynaprice submit recommend_catalog -- --target-date 2025-03-10
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import ray
import redis
import typer
from rich.console import Console
from rich.table import Table

from core.alerts import AlertsConfig
from core.config_files import load_config
from core.lake import Lake
from core.retail.alert_intake import AlertIntake, AlertValuation
from core.retail.demand_model import DemandModel
from core.retail.pricing import Objective, Versions, plan_prices, recommend
from core.retail.production_catalog import load_catalog
from core.retail.registry import ModelRegistry
from core.retail.review import (
    ReviewConfig,
    ReviewQueue,
    item_from_recommendation,
    worth_reviewing,
)
from core.retail.rules import PricingRulesConfig
from core.settings import Settings

console = Console()
BATCH_ROWS = 256


class CatalogRecommender:
    """A Ray Data worker: the production model, loaded once; contexts in, documents out."""

    def __init__(self, settings: Settings, version: str, feature_version: str | None,
                 day: date, objective: Objective) -> None:
        lake = Lake.open(settings.lake_uri, settings.aws_endpoint_url)
        self.model = DemandModel.load(ModelRegistry(lake, "demand"), version)
        self.rules = PricingRulesConfig.load(settings.configs_dir)
        self.versions = Versions(version, feature_version)
        self.day, self.objective = np.datetime64(day, "D"), objective

    def __call__(self, contexts: pa.Table) -> pa.Table:
        rules = [self.rules.for_category(c) for c in contexts["category"].to_pylist()]
        n = contexts.num_rows
        plan = plan_prices(contexts, rules, np.full(n, self.day), [self.objective] * n,
                           self.rules.min_history_days, have_model=True)
        docs = recommend(plan, self.model.predict_units, self.versions)
        return pa.table({"doc": [json.dumps(d) for d in docs],
                         "region": contexts["region"]})


@dataclass(frozen=True)
class CatalogRun:
    recommended: int
    queued: int
    alerts_taken: int
    alerts_queued: int
    model_version: str | None


def recommend_catalog(settings: Settings, day: date, objective: Objective = "revenue",
                      consumer: str = "recommend_catalog") -> CatalogRun:
    """Recommend every product-location, queue the moves worth a review, take the alerts."""
    catalog = load_catalog(Lake.open(settings.lake_uri, settings.aws_endpoint_url),
                           PricingRulesConfig.load(settings.configs_dir))
    versions = catalog.versions
    config = ReviewConfig.load(settings.configs_dir)
    client = redis.Redis.from_url(settings.redis_url)
    queue = ReviewQueue(client, config.queue_prefix)
    now = datetime.now(UTC)
    docs: list[dict[str, Any]] = []
    if versions.model is not None and catalog.contexts.num_rows:
        rows = (ray.data.from_arrow(catalog.contexts)
                .map_batches(CatalogRecommender, batch_size=BATCH_ROWS, batch_format="pyarrow",
                             compute=ray.data.ActorPoolStrategy(min_size=1, max_size=2),
                             fn_constructor_kwargs={
                                 "settings": settings, "version": versions.model,
                                 "feature_version": versions.features, "day": day,
                                 "objective": objective})
                .take_all())
        docs = [json.loads(row["doc"]) | {"region": row["region"]} for row in rows]
    worth = [d for d in docs if worth_reviewing(d, config.min_change_pct)]
    queued = queue.add(item_from_recommendation(d, d["region"], now) for d in worth)
    alert_stream = load_config("alerts", AlertsConfig, settings.configs_dir).redis_stream.key
    intake = AlertIntake(client, alert_stream, config.alert_group, consumer)
    taken = intake.take()
    valuation = AlertValuation.of([a for _, a in taken], catalog)
    units = None
    if versions.model is not None and valuation.alerts:
        model = DemandModel.load(ModelRegistry(Lake.open(settings.lake_uri,
                                                         settings.aws_endpoint_url), "demand"),
                                 versions.model)
        units = model.predict_units(valuation.rows, valuation.prices.reshape(-1))[1]
    alerts_queued = queue.add(valuation.items(units, now))
    intake.ack([entry for entry, _ in taken])
    return CatalogRun(len(docs), queued, len(taken), alerts_queued, versions.model)


def main(
    lake: Annotated[str | None, typer.Option(help="Lake URI; default LAKE_URI")] = None,
    target_date: Annotated[str | None, typer.Option(help="Day priced, default today")] = None,
    objective: Annotated[str, typer.Option(help="revenue, volume or margin")] = "revenue",
) -> None:
    """Recommend prices for the whole catalogue and queue them for review."""
    settings = Settings.from_env()
    if lake:
        settings = dataclasses.replace(settings, lake_uri=lake)
    if not settings.redis_url:
        raise typer.BadParameter("the review queue needs REDIS_URL")
    if objective not in ("revenue", "volume", "margin"):
        raise typer.BadParameter("objective is revenue, volume or margin")
    day = date.fromisoformat(target_date) if target_date else datetime.now(UTC).date()
    run = recommend_catalog(settings, day, objective)  # type: ignore[arg-type]
    table = Table(title=f"catalogue recommendations for {day}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, value in (("model version", run.model_version or "none (nothing to do)"),
                        ("recommended", run.recommended), ("queued for review", run.queued),
                        ("alerts taken", run.alerts_taken),
                        ("alert items queued", run.alerts_queued)):
        table.add_row(name, str(value))
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
