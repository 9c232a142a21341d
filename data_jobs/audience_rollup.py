"""Nightly audience rollup: Ray Data reads `raw/audience/` (pruned by date), each block is
reduced to hourly sums with pyarrow inside `map_batches`, the small partials are merged on
the driver and the advertising marts are written to `marts/` (one Parquet file each, DuckDB-
and BI-readable).

    python -m data_jobs.audience_rollup [--lake URI] [--start D --end D]
    dynaprice submit audience_rollup -- --start 2026-10-01
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import ray
import typer
from ray.data.datasource.partitioning import Partitioning
from rich.console import Console
from rich.table import Table

from core.ads.audience_history import (
    SOURCE_COLUMNS,
    build_marts,
    combine_hourly,
    hourly_partial,
    location_timezones,
)
from core.ads.ratecard import load_rate_card
from core.lake import AUDIENCE, AUDIENCE_MARTS, Lake
from core.settings import Settings
from core.vision.cameras import load_fleet

console = Console()
MART_FILE = "data.parquet"


@dataclass(frozen=True)
class RollupResult:
    marts: dict[str, pa.Table]
    source_partitions: int
    seconds: float


def mart_area(name: str) -> str:
    return f"{AUDIENCE_MARTS}/{name}"


def source_paths(lake: Lake, start: date | None, end: date | None) -> list[str]:
    """Audience partitions (location=/date=) whose UTC date is within a day of [start, end]."""
    first = start.isoformat() if start else ""
    last = end.isoformat() if end else "9999"
    return [lake.path(AUDIENCE, f"location={p['location']}", f"date={p['date']}")
            for p in lake.partitions(AUDIENCE) if first <= p["date"] <= last]


def camera_timezones(configs_dir: Path | None) -> dict[str, str]:
    fleet = load_fleet(configs_dir)
    return location_timezones([*fleet.demo, *fleet.cameras])


def run_rollup(lake: Lake, configs_dir: Path | None = None, start: date | None = None,
               end: date | None = None) -> RollupResult:
    """Read the raw audience rows with Ray Data, aggregate per block, write every mart."""
    began = time.perf_counter()
    paths = source_paths(lake, start, end)
    if not paths:
        raise typer.BadParameter("no audience partitions in that window")
    # the v1 reader: v2 provisions footer-reader actors per listing, seconds on small lakes
    ray.data.DataContext.get_current().use_datasource_v2 = False
    dataset = ray.data.read_parquet(
        paths, filesystem=lake.fs, columns=list(SOURCE_COLUMNS),
        partitioning=Partitioning("hive", base_dir=lake.path(AUDIENCE)))
    partials = dataset.map_batches(
        hourly_partial, batch_format="pyarrow", batch_size=None, zero_copy_batch=True,
        fn_kwargs={"zones": camera_timezones(configs_dir)})
    hourly = combine_hourly(ray.get(partials.to_arrow_refs()))
    marts = build_marts(hourly, load_rate_card(
        (configs_dir or Settings().configs_dir) / "ratecard.yaml"))
    for name, table in marts.items():
        lake.write_file(table, mart_area(name), MART_FILE)
    return RollupResult(marts, len(paths), time.perf_counter() - began)


def summary(result: RollupResult) -> Table:
    table = Table(title=f"audience marts ({result.source_partitions} source partitions, "
                        f"{result.seconds:.1f} s)")
    table.add_column("mart")
    table.add_column("rows", justify="right")
    for name, mart in result.marts.items():
        table.add_row(name, f"{mart.num_rows:,}")
    return table


def main(
    lake: Annotated[str | None, typer.Option(help="Lake URI; default LAKE_URI")] = None,
    start: Annotated[str | None, typer.Option(help="First UTC day, YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="Last UTC day, YYYY-MM-DD")] = None,
) -> None:
    """Roll the raw audience history up into the advertising marts."""
    settings = Settings.from_env()
    target = Lake.open(lake or settings.lake_uri, settings.aws_endpoint_url)
    result = run_rollup(target, settings.configs_dir,
                        date.fromisoformat(start) if start else None,
                        date.fromisoformat(end) if end else None)
    console.print(summary(result))


if __name__ == "__main__":
    typer.run(main)
