"""Seed a lake with simulated price-point history, through the real ingestion validation.

    python -m data_jobs.seed_history [--lake URI] [--days 90] [--seed 7] [--products 40]

Records come from `core.market.PriceFeed` (a few bad ones mixed in), go through one
`IngestPipeline` in order, and land in raw/price_points/region=/date=/; rejects go to the DLQ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import track

from core.ingest.dead_letters import write_dead_letters
from core.ingest.pipeline import IngestConfig, IngestPipeline
from core.ingest.records import PARTITION_COLUMNS
from core.ingest.reference import Reference
from core.lake import PRICE_POINTS, Lake
from core.market.feed import PriceFeed
from core.market.simulator import Market, MarketSpec
from core.settings import Settings

console = Console()


@dataclass(frozen=True)
class SeedResult:
    accepted: int
    rejected: int
    partitions: int


def seed_history(lake: Lake, market: Market, days: int, start: date | None = None,
                 bad_fraction: float = 0.0, batch_size: int = 20_000,
                 progress: bool = False) -> SeedResult:
    """Feed `days` simulated days of `market` through validation into `lake`."""
    feed = PriceFeed(market, bad_fraction=bad_fraction,
                     run_id=f"seed{market.spec.seed}-{(start or market.spec.start)}")
    pipeline = IngestPipeline(Reference.load(), IngestConfig())
    batches = feed.history(days=days, start=start, batch_size=batch_size)
    total = -(-days * market.n_product_locations // batch_size)
    accepted = rejected = 0
    written: set[str] = set()
    for batch in track(batches, total=total, description="seeding", disable=not progress):
        received_at = datetime.now(UTC)
        result = pipeline.process(batch.records, received_at)
        for path in lake.write_partitioned(result.valid, PRICE_POINTS, PARTITION_COLUMNS):
            written.add(path.rsplit("/", 1)[0])
        if result.rejections:
            write_dead_letters(lake, result.rejections, "seed", received_at)
        accepted += result.valid.num_rows
        rejected += len(result.rejections)
    return SeedResult(accepted, rejected, len(written))


def main(
    lake: Annotated[str | None, typer.Option(help="Lake URI; default LAKE_URI")] = None,
    days: Annotated[int, typer.Option(min=1)] = 90,
    seed: Annotated[int, typer.Option()] = 7,
    products: Annotated[int, typer.Option(min=1)] = 40,
    stores_per_city: Annotated[int, typer.Option(min=1)] = 2,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD")] = None,
    bad_fraction: Annotated[float, typer.Option(min=0.0, max=0.5)] = 0.02,
) -> None:
    """Write `days` of simulated history into the lake."""
    settings = Settings.from_env()
    target = Lake.open(lake or settings.lake_uri, settings.aws_endpoint_url)
    market = Market(MarketSpec(seed=seed, products=products, stores_per_city=stores_per_city),
                    settings.configs_dir)
    result = seed_history(target, market, days, date.fromisoformat(start) if start else None,
                          bad_fraction, progress=True)
    console.print(f"{result.accepted} records in {result.partitions} partitions of "
                  f"{target.uri}; {result.rejected} dead-lettered")


if __name__ == "__main__":
    typer.run(main)
